"""Emulator throughput: FCM v1 sends accepted and delivered over MCS to 100 devices.

Run: ``python bench/emulator.py [--devices 100] [--messages 10000] [--concurrency 64]``.
The emulator runs in a child process pinned to one core.  This process (the other
core) registers the devices through the emulator's real endpoints, keeps one MCS
connection per device open with the bare codec (counting and acknowledging data
messages, no decryption: the receiving side must not be the bottleneck), and POSTs
FCM v1 messages round-robin to the devices' tokens over keep-alive HTTPS.  Prints one
JSON object: sends accepted/s and deliveries/s (target >= 2,000/s), the emulator's CPU
per send, how busy each process was (which one bounded the rate), and a floor
measured in the same run: the same aiohttp + TLS server in the same pinned process
answering a canned v1 success, with the same client — the most any aiohttp-based
emulator could accept on that core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import jwt
from _util import emit, pin, split_cores
from aiohttp import web

from pullkin.core import PullkinCore
from pullkin.emulator import Emulator
from pullkin.endpoints import Endpoints
from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role
from pullkin.models import AppCredentials, FirebaseConfig


async def _floor_server(emu: Emulator) -> tuple[web.AppRunner, str]:
    """The same TLS + aiohttp stack answering a canned v1 success: the per-core floor."""
    body = b'{"name": "projects/p/messages/0:1700000000000000%0123456789abcdef"}'

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/floor", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=emu._ca.server_context())  # type: ignore[union-attr]
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"https://127.0.0.1:{port}/floor"


async def _serve() -> None:
    async with Emulator() as emu:
        floor, floor_url = await _floor_server(emu)
        config = {**emu.config(), "service_account": emu.service_account_info}
        print(json.dumps({**config, "floor_url": floor_url}))
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.read)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime}))
        await floor.cleanup()


class _Device:
    """One MCS connection: counts data messages, acknowledges in batches."""

    def __init__(self, credentials: AppCredentials) -> None:
        self.credentials = credentials
        self.conn = McsConnection(Role.CLIENT)
        self.received = 0

    async def run(self, endpoints: Endpoints, counter: list[int], done: asyncio.Event) -> None:
        gcm = self.credentials.gcm
        reader, writer = await asyncio.open_connection(
            endpoints.mcs_host, endpoints.mcs_port, ssl=endpoints.ssl_context
        )
        writer.write(self.conn.send(ev.LoginRequest(gcm.android_id, gcm.security_token)))
        try:
            while not done.is_set():
                data = await reader.read(65536)
                if not data:
                    return
                self.conn.receive_data(data)
                while (event := self.conn.next_event()) is not ev.NEED_DATA:
                    if isinstance(event, ev.DataMessage):
                        self.conn.message_done(event.stream_index)
                        counter[0] += 1
                if self.conn.ack_due:  # Chrome's cadence: every 10 messages
                    writer.write(self.conn.send(ev.StreamAck()))
                if counter[0] >= counter[1]:
                    done.set()
        finally:
            writer.close()


async def _access_token(session: aiohttp.ClientSession, account: dict[str, str]) -> str:
    now = int(time.time())
    claims = {
        "iss": account["client_email"],
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "aud": account["token_uri"],
        "iat": now,
        "exp": now + 3600,
    }
    assertion = jwt.encode(claims, account["private_key"], algorithm="RS256")
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    async with session.post(account["token_uri"], data=form) as response:
        return str((await response.json())["access_token"])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process *pid* so far (0.0 where /proc is absent)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Phase:
    """Wall time and both processes' CPU over one phase: who was the bottleneck."""

    def __init__(self, child: int) -> None:
        self.child = child
        self.wall = time.perf_counter()
        self.emulator = _cpu_seconds(child)
        self.client = time.process_time()

    def end(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        return {
            "s": wall,
            "emulator_cpu_s": _cpu_seconds(self.child) - self.emulator,
            "client_cpu_s": time.process_time() - self.client,
        }


async def _load(
    config: dict[str, Any], args: argparse.Namespace, child: int
) -> dict[str, dict[str, float]]:
    endpoints = Endpoints.from_dict(config["endpoints"], ca_path=config["ca_path"])
    firebase = FirebaseConfig.from_dict(config["firebase_config"])
    async with PullkinCore(endpoints) as core:
        devices = [_Device(await core.register_app(firebase)) for _ in range(args.devices)]
    counter, done = [0, args.messages], asyncio.Event()
    tasks = [asyncio.create_task(d.run(endpoints, counter, done)) for d in devices]
    await asyncio.sleep(1.0)  # every login done
    connector = aiohttp.TCPConnector(ssl=endpoints.ssl_context, limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        token = await _access_token(session, config["service_account"])
        url = endpoints.fcm_send_url(firebase.project_id)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = [
            json.dumps(
                {"message": {"token": d.credentials.fcm.token, "data": {"n": "1", "k": "v" * 40}}}
            ).encode()
            for d in devices
        ]
        phase = _Phase(child)
        await _post_all(session, config["floor_url"], [b"{}"], headers, args)
        floor = phase.end()
        phase = _Phase(child)
        await _post_all(session, url, bodies, headers, args)
        accepted = phase.end()
        await asyncio.wait_for(done.wait(), 120)
        delivered = phase.end()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"accepted": accepted, "delivered": delivered, "floor": floor}


async def _post_all(
    session: aiohttp.ClientSession,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    args: argparse.Namespace,
) -> float:
    """Seconds to POST ``args.messages`` requests with ``args.concurrency`` workers."""
    queue = list(range(args.messages))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            async with session.post(url, data=bodies[n % len(bodies)], headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pin(args.core)
        asyncio.run(_serve())
        return
    mine, emulator_core = split_cores()
    serve = [*os.environ.get("BENCH_WRAP", "").split(), sys.executable, __file__, "--serve"]
    child = subprocess.Popen(
        serve if emulator_core is None else [*serve, "--core", str(emulator_core)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    pinned = pin(mine) and emulator_core is not None
    assert child.stdin is not None
    assert child.stdout is not None
    config = json.loads(child.stdout.readline())
    phases = asyncio.run(_load(config, args, child.pid))
    child.stdin.close()
    child_cpu = json.loads(child.stdout.readline())["cpu"]
    child.wait(timeout=30)
    floor, delivered = phases["floor"], phases["delivered"]
    n = args.messages
    emit(
        "emulator",
        {
            "devices": args.devices,
            "messages": args.messages,
            "concurrency": args.concurrency,
            "accepted_per_s": round(n / phases["accepted"]["s"]),
            "delivered_per_s": round(n / delivered["s"]),
            "floor_canned_https_answers_per_s": round(n / floor["s"]),
            "delivered_ratio_to_floor": round(floor["s"] / delivered["s"], 3),
            "emulator_cpu_us_per_send": round(delivered["emulator_cpu_s"] / n * 1e6),
            "emulator_cpu_us_per_floor_answer": round(floor["emulator_cpu_s"] / n * 1e6),
            "emulator_busy_sending": round(delivered["emulator_cpu_s"] / delivered["s"], 2),
            "emulator_busy_at_floor": round(floor["emulator_cpu_s"] / floor["s"], 2),
            "client_busy_sending": round(delivered["client_cpu_s"] / delivered["s"], 2),
            "client_busy_at_floor": round(floor["client_cpu_s"] / floor["s"], 2),
            "emulator_cpu_s_total": round(child_cpu, 2),
            "emulator_pinned_to_one_core": pinned,
            "target_delivered_per_s": 2000,
        },
    )


if __name__ == "__main__":
    main()
