"""Emulator throughput: FCM v1 sends accepted and delivered over MCS to 100 devices.

Run: ``python bench/emulator.py [--devices 100] [--messages 10000] [--concurrency 64]``.
The emulator runs in a child process pinned to one core.  This process (the other
core) registers the devices through the emulator's real endpoints, keeps one MCS
connection per device open with the bare codec (counting and acknowledging data
messages, no decryption: the receiving side must not be the bottleneck), and POSTs
FCM v1 messages round-robin to the devices' tokens over keep-alive HTTPS (HTTP/1.1;
then the same sends over HTTP/2, ``--http2-messages`` of them, a few connections with
many streams each, reported as ``http2_*``).  Prints one
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
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import jwt
from _h2load import connect as h2_connect
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


class _Progress:
    """Data messages received by every device, and the count that ends a phase."""

    def __init__(self) -> None:
        self.received = 0
        self.target = 0
        self.reached = asyncio.Event()

    def expect(self, more: int) -> asyncio.Event:
        self.target = self.received + more
        self.reached = asyncio.Event()
        return self.reached


class _Device:
    """One MCS connection: counts data messages, acknowledges in batches."""

    def __init__(self, credentials: AppCredentials) -> None:
        self.credentials = credentials
        self.conn = McsConnection(Role.CLIENT)
        self.received = 0

    async def run(self, endpoints: Endpoints, progress: _Progress) -> None:
        gcm = self.credentials.gcm
        reader, writer = await asyncio.open_connection(
            endpoints.mcs_host, endpoints.mcs_port, ssl=endpoints.ssl_context
        )
        writer.write(self.conn.send(ev.LoginRequest(gcm.android_id, gcm.security_token)))
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                self.conn.receive_data(data)
                while (event := self.conn.next_event()) is not ev.NEED_DATA:
                    if isinstance(event, ev.DataMessage):
                        self.conn.message_done(event.stream_index)
                        progress.received += 1
                if self.conn.ack_due:  # Chrome's cadence: every 10 messages
                    writer.write(self.conn.send(ev.StreamAck()))
                if progress.received >= progress.target:
                    progress.reached.set()
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
    progress = _Progress()
    done = progress.expect(args.messages)
    tasks = [asyncio.create_task(d.run(endpoints, progress)) for d in devices]
    await asyncio.sleep(1.0)  # every login done
    connector = aiohttp.TCPConnector(ssl=endpoints.ssl_context)
    async with aiohttp.ClientSession(connector=connector) as session:
        token = await _access_token(session, config["service_account"])
    url = endpoints.fcm_send_url(firebase.project_id)
    bodies = [
        json.dumps(
            {"message": {"token": d.credentials.fcm.token, "data": {"n": "1", "k": "v" * 40}}}
        ).encode()
        for d in devices
    ]
    _, floor = await _post_all(endpoints, config["floor_url"], [b"{}"], token, args, child)
    phase, accepted = await _post_all(endpoints, url, bodies, token, args, child)
    await asyncio.wait_for(done.wait(), 120)
    delivered = phase.end()
    done = progress.expect(args.http2_messages)
    phase, h2_accepted = await _post_all_h2(endpoints, url, bodies, token, args, child)
    await asyncio.wait_for(done.wait(), 120)
    h2_delivered = phase.end()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"accepted": accepted, "delivered": delivered, "floor": floor,
            "h2_accepted": h2_accepted, "h2_delivered": h2_delivered}  # fmt: skip


class _Load:
    """Requests still to send and answers still due, shared by every connection."""

    def __init__(self, requests: list[bytes], count: int) -> None:
        self.requests = requests
        self.unsent = count
        self.unanswered = count
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def fail(self, error: BaseException) -> None:
        if not self.finished.done():
            self.finished.set_exception(error)


class _Poster(asyncio.Protocol):
    """One keep-alive HTTPS connection POSTing pre-built requests back to back.

    The load generator must not be what limits the figure: an HTTP client library
    costs about as much CPU per request as the server under test, so this one only
    writes ready bytes and reads the status line and Content-Length of each answer.
    """

    def __init__(self, load: _Load) -> None:
        self._load = load
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def _next(self) -> None:
        load = self._load
        assert self._transport is not None
        if load.unsent <= 0:
            self._transport.close()
            return
        load.unsent -= 1
        self._transport.write(load.requests[load.unsent % len(load.requests)])

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end]
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(self._buffer) < end + 4 + length:
                return
            if head[9:12] != b"200":
                self._load.fail(AssertionError(self._buffer[: end + 4 + length]))
            self._buffer = self._buffer[end + 4 + length :]
            self._load.unanswered -= 1
            if self._load.unanswered == 0 and not self._load.finished.done():
                self._load.finished.set_result(None)
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._load.unanswered > 0 and self._load.unsent > 0:
            self._load.fail(exc or ConnectionError("the server closed a connection"))


async def _post_all(
    endpoints: Endpoints,
    url: str,
    bodies: list[bytes],
    token: str,
    args: argparse.Namespace,
    child: int,
) -> tuple[_Phase, dict[str, float]]:
    """POST ``args.messages`` requests over ``args.concurrency`` keep-alive connections,
    timed from when every connection is up to the last answer."""
    parts = urlsplit(url)
    requests = [
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        for body in bodies
    ]
    load = _Load(requests, args.messages)
    loop = asyncio.get_running_loop()
    connections = [
        await loop.create_connection(
            lambda: _Poster(load), parts.hostname, parts.port, ssl=endpoints.ssl_context
        )
        for _ in range(args.concurrency)
    ]
    phase = _Phase(child)
    for _, poster in connections:
        poster._next()
    try:
        await asyncio.wait_for(load.finished, 300)
        return phase, phase.end()
    finally:
        for transport, _ in connections:
            transport.close()


async def _post_all_h2(
    endpoints: Endpoints,
    url: str,
    bodies: list[bytes],
    token: str,
    args: argparse.Namespace,
    child: int,
) -> tuple[_Phase, dict[str, float]]:
    """The same sends over HTTP/2: ``args.concurrency`` streams in flight, spread over
    ``args.http2_connections`` connections."""
    load = _Load(bodies, args.http2_messages)
    assert endpoints.ssl_context is not None
    per_connection = max(1, args.concurrency // args.http2_connections)
    connections = await h2_connect(
        url, token, load, args.http2_connections, per_connection, endpoints.ssl_context
    )
    phase = _Phase(child)
    for _, poster in connections:
        poster.start()
    try:
        await asyncio.wait_for(load.finished, 300)
        return phase, phase.end()
    finally:
        for transport, _ in connections:
            transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--http2-messages", type=int, default=5_000)
    parser.add_argument("--http2-connections", type=int, default=4)
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
            "http2_messages": args.http2_messages,
            "http2_connections": args.http2_connections,
            "http2_accepted_per_s": round(args.http2_messages / phases["h2_accepted"]["s"]),
            "http2_delivered_per_s": round(args.http2_messages / phases["h2_delivered"]["s"]),
            "http2_emulator_cpu_us_per_send": round(
                phases["h2_delivered"]["emulator_cpu_s"] / args.http2_messages * 1e6
            ),
            "http2_client_busy_sending": round(
                phases["h2_delivered"]["client_cpu_s"] / phases["h2_delivered"]["s"], 2
            ),
        },
    )


if __name__ == "__main__":
    main()
