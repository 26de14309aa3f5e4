"""Fleet sizing: idle devices per worker process and RSS per device, messages/s into
each sink, failover time.  Needs PostgreSQL, Redis and NATS on loopback.

Run: ``python bench/fleet.py [--devices 10000] [--messages 2000]``.  This process runs
the emulator (devices registered straight into its state: Android-app flow, no HTTP)
and a webhook endpoint; workers are ``pullkin fleet run`` processes.  Figures:

* ``rss_per_device_kib``: (RSS of a worker holding N idle connections - RSS of a worker
  holding none) / N, both measured once every device is logged in;
* ``msgs_per_s``: messages sent through the emulator (FCM v1 path) to 100 devices held
  by one worker until the sink holds them all, per sink;
* ``failover_s``: two workers share 100 devices; one is SIGKILLed; time until all its
  devices are logged in again (TTL 3 s: the floor is the TTL).

One JSON line.  A device costs one TLS connection on each side; 100,000 on one host
need more than one loopback source address (28,232 ephemeral ports per destination
here) and ``ulimit -n`` above 100,000 — see the README for what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from pullkin.emulator import Emulator
from pullkin.emulator.state import Device, GcmRegistration
from pullkin.fleet import PgStore, app_key
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm

PG = os.environ.get("PULLKIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SENDER = "424242424242"


def register(emu: Emulator) -> AppCredentials:
    android_id, token = secrets.randbelow(1 << 62) + 1, secrets.randbelow(1 << 63) + 1
    emu.state.devices[android_id] = Device(android_id, token)
    gcm_token = f"{secrets.token_urlsafe(8)}:APA91b{secrets.token_urlsafe(40)}"
    package = emu.android_config.android_package or "com.example"
    emu.state.gcm[gcm_token] = GcmRegistration(
        gcm_token, android_id, package, SENDER, SENDER, kind="android"
    )
    gcm = AppCredentialsGcm(android_id, token, token=gcm_token, app_id=SENDER,
                            app_name=package, sender=SENDER)  # fmt: skip
    return AppCredentials(gcm=gcm, fcm=AppCredentialsFcm(token=gcm_token))


class Fleet:
    def __init__(self, emu: Emulator, tmp: Path, sink: str, ttl: float = 15.0) -> None:
        self.emu, self.sink, self.ttl = emu, sink, ttl
        self.schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = f"{PG}?schema={self.schema}"
        self.config = tmp / "emulator.json"
        self.config.write_text(json.dumps(emu.config()))
        self.workers: list[asyncio.subprocess.Process] = []
        self.devices: list[AppCredentials] = []

    async def add(self, n: int) -> None:
        store = await PgStore.open(self.url, max_size=8)
        try:
            fresh = [register(self.emu) for _ in range(n)]
            await asyncio.gather(*(
                store.put_credentials(app_key(SENDER, c.gcm.android_id), c) for c in fresh
            ))  # fmt: skip
            self.devices += fresh
        finally:
            await store.aclose()

    async def spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pullkin", "fleet", "run", "--store", self.url,
            "--sink", self.sink, "--ttl", str(self.ttl), "--emulator", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert process.stdout is not None
        await process.stdout.readline()
        self.workers.append(process)
        return process

    async def connected(self, devices: list[AppCredentials], within: float = 600) -> float:
        started = time.monotonic()
        while not all(self.emu.mcs.connected(c.gcm.android_id) for c in devices):
            if time.monotonic() - started > within:
                raise TimeoutError("devices did not connect")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def aclose(self) -> None:
        for process in self.workers:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
        store = await PgStore.open(self.url)
        await store.pool.execute(f"DROP SCHEMA {self.schema} CASCADE")
        await store.aclose()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle(emu: Emulator, tmp: Path, n: int) -> dict[str, Any]:
    fleet = Fleet(emu, tmp, f"redis://127.0.0.1:6379/bench_idle_{os.getpid()}")
    try:
        empty = await fleet.spawn()
        await asyncio.sleep(2)  # settled: imported, schema checked, first rounds run
        base = rss_kib(empty.pid)
        await fleet.add(n)
        connect_s = await fleet.connected(fleet.devices)
        await asyncio.sleep(2)
        full = rss_kib(empty.pid)
        return {"devices": n, "worker_rss_mib": round(full / 1024, 1),
                "rss_per_device_kib": round((full - base) / n, 1),
                "connect_all_s": round(connect_s, 1)}  # fmt: skip
    finally:
        await fleet.aclose()


async def throughput(emu: Emulator, tmp: Path, sink: str, count: Any, messages: int) -> float:
    fleet = Fleet(emu, tmp, sink)
    try:
        await fleet.add(100)
        await fleet.spawn()
        await fleet.connected(fleet.devices)
        started = time.monotonic()
        for n in range(messages):
            await emu.send(fleet.devices[n % 100].fcm.token, data={"n": str(n)})
            if n % 100 == 0:
                await asyncio.sleep(0)
        while await count() < messages:  # noqa: ASYNC110 - polling the sink is the measure
            await asyncio.sleep(0.01)
        return messages / (time.monotonic() - started)
    finally:
        await fleet.aclose()


async def failover(emu: Emulator, tmp: Path) -> float:
    fleet = Fleet(emu, tmp, f"redis://127.0.0.1:6379/bench_fo_{os.getpid()}", ttl=3.0)
    try:
        await fleet.add(100)
        victim, _ = await fleet.spawn(), await fleet.spawn()
        await fleet.connected(fleet.devices)
        await asyncio.sleep(3)  # spread settled
        mine = [c for c in fleet.devices if emu.mcs.sessions.get(c.gcm.android_id)]
        victim.kill()
        killed = time.monotonic()
        await victim.wait()
        await asyncio.sleep(0.2)
        await fleet.connected(mine)
        return time.monotonic() - killed
    finally:
        await fleet.aclose()


async def main(args: argparse.Namespace) -> None:
    import nats
    import redis.asyncio as redis_asyncio

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"pullkin-bench-fleet-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    received = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    redis = redis_asyncio.from_url("redis://127.0.0.1:6379")
    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    tag = f"{os.getpid()}"
    figures: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    async with Emulator() as emu:
        figures["idle"] = await idle(emu, tmp, args.devices)

        async def redis_count() -> int:
            return int(await redis.xlen(f"bench_tp_{tag}"))

        async def nats_count() -> int:
            try:
                return int((await js.stream_info(f"PULLKIN_bench_tp_{tag}")).state.messages)
            except nats.js.errors.NotFoundError:
                return 0

        async def hook_count() -> int:
            return received

        sinks = {
            "redis": (f"redis://127.0.0.1:6379/bench_tp_{tag}", redis_count),
            "jetstream": (f"nats://127.0.0.1:4222/bench_tp_{tag}", nats_count),
            "webhook": (f"http://127.0.0.1:{port}/hook", hook_count),
        }
        figures["msgs_per_s"] = {
            name: round(await throughput(emu, tmp, url, count, args.messages))
            for name, (url, count) in sinks.items()
        }
        figures["failover_s"] = round(await failover(emu, tmp), 2)
        figures["failover_ttl_s"] = 3.0
    await redis.delete(f"bench_tp_{tag}", f"bench_idle_{tag}", f"bench_fo_{tag}")
    await redis.aclose()
    await js.delete_stream(f"PULLKIN_bench_tp_{tag}")
    await nc.close()
    await runner.cleanup()
    figures["load_after"] = os.getloadavg()[0]
    record = {"benchmark": "fleet", "python": platform.python_version(), **figures}
    print(json.dumps(record))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=2_000)
    asyncio.run(main(parser.parse_args()))
