"""Sender throughput against a same-run floor: a bare aiohttp POST loop.

Run: ``python bench/senders.py [--seconds S] [--concurrency C] [--rounds R]``.

A local aiohttp server in another process (pinned to another core where there is
one) answers every POST at once with a plausible vendor body; the client runs on one
core.  Each figure is messages per second at the same concurrency, and its ``ratio``
to the ``floor`` (bare ``session.post`` of pre-encoded bytes, reading the body)
measured in the same run; the best of ``--rounds`` interleaved rounds counts.  Each
figure also has ``cpu_us_per_send``, this process's CPU time per message (the least
over the rounds), which other load on a shared machine disturbs less than the rate.

Figures: ``fcm_sender`` (``FcmSender.send`` with a cached token, building a
``Message`` per send), ``fcm_send_each``, ``firebase_admin_send_each_async`` (the
peer, bench-only), ``webpush_sender`` (``WebPushSender.send``: encryption + cached
VAPID JWT), ``pywebpush_async`` (``webpush_async`` with a shared session) and
``webpush_vs_pywebpush`` (best against best, per interleaved round, and by CPU per
send); ``hms_sender``, ``baidu_sender``, ``umeng_sender`` (one
typed, authenticated or signed message per request).
Targets: fcm_sender >= 0.6 of the floor; webpush >= 2x
pywebpush.

Adding a vendor (helper B): write ``async def <name>(bench: Bench) -> float`` that
opens the sender against ``bench.url + "/<prefix>"`` and returns
``await bench.rate(send_one)``, add the canned answer to ``ANSWERS`` and the
function to ``FIGURES``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from _util import emit, pin_one_core
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pullkin import crypto
from pullkin._b64 import b64url_encode

# Path prefix → (status, headers, body) the server answers at once.
ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/token": (200, {}, b'{"access_token":"ya29.bench","expires_in":3600,"token_type":"Bearer"}'),
    "/v1/": (200, {}, b'{"name":"projects/bench/messages/0:1500415314455276%31bd1c9631bd1c96"}'),
    "/floor": (200, {}, b'{"name":"projects/bench/messages/0:1500415314455276%31bd1c9631bd1c96"}'),
    "/push/": (201, {"Location": "https://push.example/m/0:1500415314455276"}, b""),
    "/hms/oauth": (200, {}, b'{"access_token":"CF3Xl2XV6jMK+bench/token==","expires_in":3600}'),
    "/hms/": (200, {}, b'{"code":"80000000","msg":"Success","requestId":"1574663049040"}'),
    "/baidu/": (200, {}, b'{"request_id":1,"response_params":{"msg_id":"1","send_time":1}}'),
    "/umeng/": (200, {}, b'{"ret":"SUCCESS","data":{"msg_id":"uu07343141897754408310"}}'),
}


# --- the server (child process) ------------------------------------------------------
#
# A canned-answer HTTP/1.1 keep-alive responder on a bare asyncio Protocol: it parses
# only the request line and Content-Length, so it costs far less per request than any
# client and the client's core is what the figures measure.

_REASONS = {200: "OK", 201: "Created", 404: "Not Found"}


def _canned(status: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_CANNED = [(prefix.encode(), _canned(*answer)) for prefix, answer in ANSWERS.items()]
_MISSING = _canned(404, {}, b"")


class _Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            path = head.split(b" ", 2)[1]
            self.buffer = self.buffer[end:]
            answer = next((a for prefix, a in _CANNED if path.startswith(prefix)), _MISSING)
            self.transport.write(answer)


def serve() -> None:
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})  # away from the client's core when possible

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Responder, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Bench:
    url: str
    concurrency: int
    seconds: float
    cpu_us: float = 0.0  # this process's CPU time per message of the last figure

    async def rate(self, send_one: Callable[[int], Awaitable[Any]], warmup: int = 200) -> float:
        """Messages/s of *send_one* with ``concurrency`` workers for ``seconds``."""
        await asyncio.gather(*(send_one(i) for i in range(min(warmup, self.concurrency * 4))))
        done = 0
        deadline = time.perf_counter() + self.seconds
        cpu = time.process_time()

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < deadline:
                await send_one(i)
                done += 1
                i += self.concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(self.concurrency)))
        elapsed = time.perf_counter() - started
        self.cpu_us = (time.process_time() - cpu) / done * 1e6
        return done / elapsed

    async def batches(self, send_batch: Callable[[int], Awaitable[int]]) -> float:
        """Messages/s of an API that sends whole batches (returns the batch size)."""
        await send_batch(0)
        done = 0
        started, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - started < self.seconds:
            done += await send_batch(done)
        elapsed = time.perf_counter() - started
        self.cpu_us = (time.process_time() - cpu) / done * 1e6
        return done / elapsed


def service_account(url: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "bench",
        "private_key_id": "bench-key",
        "private_key": pem,
        "client_email": "bench@bench.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{url}/token",
    }


TOKEN = "bench-token:APA91b" + "x" * 140
NOTE = {"title": "Hello", "body": "A bench message"}
DATA = {"kind": "bench", "n": "1"}


# --- figures -----------------------------------------------------------------------------------


async def floor(bench: Bench) -> float:
    body = json.dumps({"message": {"token": TOKEN, "notification": NOTE, "data": DATA}}).encode()
    headers = {"Authorization": "Bearer ya29.bench", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def send_one(_: int) -> None:
            async with session.post(f"{bench.url}/floor", data=body, headers=headers) as response:
                await response.read()

        return await bench.rate(send_one)


def _fcm(bench: Bench) -> Any:
    from pullkin.endpoints import Endpoints
    from pullkin.senders.fcm import FcmSender

    endpoints = Endpoints(
        oauth_token=f"{bench.url}/token",
        fcm_send=f"{bench.url}/v1/projects/{{project_id}}/messages:send",
        iid=bench.url,
    )
    return FcmSender(service_account(bench.url), endpoints=endpoints)


async def fcm_sender(bench: Bench) -> float:
    from pullkin.senders.fcm import Message, Notification

    async with _fcm(bench) as fcm:
        return await bench.rate(
            lambda i: fcm.send(Message(token=TOKEN, notification=Notification(**NOTE), data=DATA))
        )


async def fcm_send_each(bench: Bench) -> float:
    from pullkin.senders.fcm import Message, Notification

    async with _fcm(bench) as fcm:

        async def batch(_: int) -> int:
            messages = [
                Message(token=TOKEN, notification=Notification(**NOTE), data=DATA)
                for _ in range(500)
            ]
            result = await fcm.send_each(messages, concurrency=bench.concurrency)
            assert result.success_count == 500
            return 500

        return await bench.batches(batch)


async def firebase_admin_send_each_async(bench: Bench) -> float:
    import firebase_admin
    from firebase_admin import credentials, messaging

    app = firebase_admin.initialize_app(
        credentials.Certificate(service_account(bench.url)), name=f"bench-{time.time_ns()}"
    )
    try:
        service = messaging._get_messaging_service(app)
        service._fcm_url = f"{bench.url}/v1/projects/bench/messages:send"  # no public knob

        async def batch(_: int) -> int:
            note = messaging.Notification(**NOTE)
            with warnings.catch_warnings():  # 7.x deprecates token= for fid=; FCM still uses it
                warnings.simplefilter("ignore", DeprecationWarning)
                messages = [
                    messaging.Message(token=TOKEN, notification=note, data=DATA) for _ in range(500)
                ]
            result = await messaging.send_each_async(messages, app=app)
            failed = [r.exception for r in result.responses if r.exception is not None]
            assert not failed, f"{len(failed)} failed: {failed[0]!r} ({failed[0].cause!r})"
            return 500

        return await bench.batches(batch)
    finally:
        # delete_app() closes the httpx client with asyncio.run(): not from a running loop.
        await service._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, app)


def _subscription(bench: Bench) -> dict[str, Any]:
    keys = crypto.generate_keys()
    return {
        "endpoint": f"{bench.url}/push/{TOKEN}",
        "keys": {"p256dh": keys.public_key, "auth": keys.auth_secret},
    }


def _vapid_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


PAYLOAD = json.dumps({"notification": NOTE, "data": DATA})


async def webpush_sender(bench: Bench) -> float:
    from pullkin.senders.webpush import WebPushSender

    subscription = _subscription(bench)
    async with WebPushSender(_vapid_pem(), "mailto:bench@example.com") as push:
        return await bench.rate(lambda i: push.send(subscription, PAYLOAD, ttl=60))


async def pywebpush_async(bench: Bench) -> float:
    from py_vapid import Vapid
    from pywebpush import webpush_async

    subscription = _subscription(bench)
    key = ec.generate_private_key(ec.SECP256R1())
    raw = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    vapid = Vapid.from_string(private_key=raw)  # parsed once, as a careful user would
    claims = {"sub": "mailto:bench@example.com"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def send_one(_: int) -> None:
            response = await webpush_async(
                subscription, PAYLOAD, vapid_private_key=vapid, vapid_claims=dict(claims),
                ttl=60, aiohttp_session=session,
            )  # fmt: skip
            assert not isinstance(response, str)
            assert response.status == 201

        return await bench.rate(send_one)


async def hms_sender(bench: Bench) -> float:
    """``HmsSender.send``: a typed notification to one token, OAuth token cached."""
    from pullkin.senders import hms_models as m
    from pullkin.senders.hms import HmsSender

    android = m.AndroidConfig(
        notification=m.AndroidNotification(click_action=m.ClickAction(type=3))
    )
    url = f"{bench.url}/hms"

    def message() -> m.Message:
        notification = m.Notification(**NOTE)
        return m.Message(notification=notification, data=DATA, android=android, token=[TOKEN])

    async with HmsSender("100123457", "bench-secret", token_url=f"{url}/oauth", api_url=url) as hms:
        return await bench.rate(lambda i: hms.send(message()))


async def baidu_sender(bench: Bench) -> float:
    """``BaiduSender.push_single_device``: PHP-urlencode MD5 signature per request."""
    from pullkin.senders.baidu import BaiduAndroidNotification, BaiduSender

    msg = BaiduAndroidNotification(title=NOTE["title"], description=NOTE["body"])
    base = f"{bench.url}/baidu/rest/3.0/"
    async with BaiduSender("Ljc8jEN2TpLmGDqmjvqS7xGX", "9pnWcMfkbeIGmbbqOI1vfK4iKrLCCRwH",
                           device_type=3, base_url=base) as baidu:  # fmt: skip
        return await bench.rate(lambda i: baidu.push_single_device("3812345678901234567", msg))


async def umeng_sender(bench: Bench) -> float:
    """``UmengSender.unicast``: one serialisation, MD5 over the exact body bytes."""
    from pullkin.senders.umeng import AndroidBody, AndroidPayload, UmengSender

    payload = AndroidPayload(body=AndroidBody(ticker="Hi", title=NOTE["title"], text=NOTE["body"]))
    async with UmengSender("5a77fca0b27b0a5f3f000001", "abcdefghijklmnopqrstuvwxyz012345",
                           base_url=f"{bench.url}/umeng") as umeng:  # fmt: skip
        return await bench.rate(lambda i: umeng.unicast("A" * 44, payload))


FIGURES: dict[str, Callable[[Bench], Awaitable[float]]] = {
    "floor": floor,
    "fcm_sender": fcm_sender,
    "fcm_send_each": fcm_send_each,
    "firebase_admin_send_each_async": firebase_admin_send_each_async,
    "webpush_sender": webpush_sender,
    "pywebpush_async": pywebpush_async,
    "hms_sender": hms_sender,
    "baidu_sender": baidu_sender,
    "umeng_sender": umeng_sender,
}


@dataclass
class Figure:
    """One figure over the rounds: messages/s and CPU µs per message of each round."""

    rates: list[float]
    cpu_us: list[float]

    @property
    def best(self) -> float:
        return max(self.rates)


async def measure(bench: Bench, rounds: int, only: list[str] | None) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    names = ["floor", *[n for n in FIGURES if n != "floor" and (not only or n in only)]]
    for _ in range(rounds):
        for name in names:
            value = await FIGURES[name](bench)
            figure = figures.setdefault(name, Figure([], []))
            figure.rates.append(value)
            figure.cpu_us.append(bench.cpu_us)
    return figures


def _versus(ours: Figure, peer: Figure) -> dict[str, Any]:
    """Ours ÷ the peer: best against best, each interleaved round, and by CPU per send."""
    per_round = [a / b for a, b in zip(ours.rates, peer.rates, strict=True)]
    return {
        "best_vs_best": round(ours.best / peer.best, 2),
        "per_round": [round(r, 2) for r in per_round],
        "median_of_rounds": round(statistics.median(per_round), 2),
        "by_cpu_per_send": round(min(peer.cpu_us) / min(ours.cpu_us), 2),
    }


def report(figures: dict[str, Figure], args: argparse.Namespace) -> dict[str, Any]:
    floor_rate = figures["floor"].best
    out: dict[str, Any] = {
        "concurrency": args.concurrency,
        "seconds_per_figure": args.seconds,
        "rounds": args.rounds,
        "floor_per_s": round(floor_rate),
        "floor_cpu_us_per_send": round(min(figures["floor"].cpu_us), 1),
    }
    for name, figure in figures.items():
        if name != "floor":
            out[name] = {
                "per_s": round(figure.best),
                "ratio": round(figure.best / floor_rate, 3),
                "cpu_us_per_send": round(min(figure.cpu_us), 1),
            }
    if "webpush_sender" in figures and "pywebpush_async" in figures:
        out["webpush_vs_pywebpush"] = _versus(figures["webpush_sender"], figures["pywebpush_async"])
    if "fcm_sender" in figures and "firebase_admin_send_each_async" in figures:
        out["fcm_vs_firebase_admin"] = round(
            figures["fcm_sender"].best / figures["firebase_admin_send_each_async"].best, 2
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per figure")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best counts")
    parser.add_argument("--only", nargs="*", help="figure names to run (the floor always runs)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        pin_one_core()
        bench = Bench(f"http://127.0.0.1:{port}", args.concurrency, args.seconds)
        figures = asyncio.run(measure(bench, args.rounds, args.only))
        emit("senders", report(figures, args))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
