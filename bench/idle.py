"""Idle cost: 1,000 receivers connected to one emulator, from one process.

Run: ``python bench/idle.py [--devices 1000] [--idle 10]``.  A child process runs the
emulator with N checked-in devices (made directly in its state, so setup is quick);
this process adds one app per device to a single ``Pullkin`` (one MCS session each,
TLS, heartbeats armed), waits until every session is logged in, then measures the
resident memory per connection (RSS growth ÷ N) and the CPU it uses while idle.
Target: < 150 KB RSS per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import emit

from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.emulator.state import Device
from pullkin.endpoints import Endpoints
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm
from pullkin.receiver import SessionState


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _serve(devices: int) -> None:
    async with Emulator() as emu:
        pairs = []
        for n in range(devices):
            android_id, token = 10_000 + n, 7_000_000 + n
            emu.state.devices[android_id] = Device(android_id, token)
            pairs.append((android_id, token))
        print(json.dumps({"endpoints": emu.endpoints.to_dict(), "ca": str(emu.ca_path),
                          "devices": pairs}))  # fmt: skip
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.read)


async def _connect(config: dict[str, Any], idle: float) -> dict[str, float]:
    endpoints = Endpoints.from_dict(config["endpoints"], ca_path=config["ca"])
    baseline = _rss_kib()
    client = Pullkin(endpoints)
    for android_id, token in config["devices"]:
        gcm = AppCredentialsGcm(android_id, token, token="t", app_id=f"wp:idle#{android_id}")
        credentials = AppCredentials(gcm=gcm, fcm=AppCredentialsFcm(token=f"t{android_id}"))
        await client.add_app(str(android_id), credentials)
    started = time.perf_counter()
    await asyncio.wait_for(client.wait_connected(), 300)
    connect_s = time.perf_counter() - started
    await asyncio.sleep(2)  # let allocations settle
    connected = _rss_kib()
    cpu = time.process_time()
    await asyncio.sleep(idle)
    idle_cpu = time.process_time() - cpu
    assert all(s.state is SessionState.CONNECTED for s in client.sessions)
    await client.stop()
    await client.aclose()
    return {
        "rss_baseline_kib": baseline,
        "rss_connected_kib": connected,
        "connect_s": connect_s,
        "idle_cpu_s": idle_cpu,
    }


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    _raise_fd_limit()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds measured idle")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.devices)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    config = json.loads(child.stdout.readline())
    figures = asyncio.run(_connect(config, args.idle))
    child.stdin.close()
    child.wait(timeout=60)
    per_connection = (figures["rss_connected_kib"] - figures["rss_baseline_kib"]) / args.devices
    emit(
        "idle",
        {
            "connections": args.devices,
            "connect_all_s": round(figures["connect_s"], 2),
            "rss_per_connection_kib": round(per_connection, 1),
            "idle_seconds": args.idle,
            "idle_cpu_percent": round(100 * figures["idle_cpu_s"] / args.idle, 2),
            "target_rss_per_connection_kib": 150,
        },
    )


if __name__ == "__main__":
    main()
