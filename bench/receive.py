"""Receive throughput: socket → decrypt → dispatch → ack, against raw ECDH/s.

Run: ``python bench/receive.py [--messages N]``.  A child process runs the emulator
with N messages pre-queued for one device (aesgcm-encrypted JSON, as FCM sends them
to web registrations); this process (pinned to another core) logs in with ``Pullkin``
and a no-op async handler, acknowledgements on, and times login → last message
handled.  The same run measures raw ECDH/s (a new sender key decoded per message,
and the bare exchange) and prints one JSON object with the ratios.  Target: >= 0.45
of the raw ECDH rate.  ``--store`` gives the receiver a credentials file: each handled
id is made durable in its journal (group commit) before it is acknowledged, and the
time runs to the last mark on disk.  (Quoted peer figures, same method on this machine: old
Pullkin 0.002, firebase-messaging 0.18, push-receiver 0.27, a lean loop without
acks 0.43-0.46.)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import emit, pin, rate, split_cores
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pullkin import crypto
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.emulator.state import Device
from pullkin.endpoints import Endpoints
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm, AppCredentialsKeys
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig, SessionState

ANDROID_ID, TOKEN = 5678901234567890123, 1234567890123456789
SUBTYPE = "wp:bench#00000000-0000-0000-0000-000000000000"


def _plain_stanza(n: int) -> DataMessageStanza:
    stanza = DataMessageStanza(category="org.chromium.linux", ttl=240)
    setattr(stanza, "from", "424242424242")
    for key, value in {"gcm.n.title": "bench", "gcm.n.body": f"message {n}", "n": str(n),
                       "subtype": SUBTYPE}.items():  # fmt: skip
        stanza.app_data.add(key=key, value=value)
    return stanza


def _stanza(keys: AppCredentialsKeys, n: int) -> DataMessageStanza:
    document = {
        "notification": {"title": "bench", "body": f"message {n}"},
        "data": {"n": str(n)},
        "from": "424242424242",
        "fcmMessageId": f"{n:08x}-0000-4000-8000-000000000000",
        "priority": "normal",
    }
    payload = crypto.encrypt(
        json.dumps(document).encode(), keys.public_key, keys.auth_secret, encoding="aesgcm"
    )
    stanza = DataMessageStanza(category="org.chromium.linux", raw_data=payload.body, ttl=240)
    setattr(stanza, "from", "424242424242")
    for key, value in {**payload.app_data(), "subtype": SUBTYPE}.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


async def _serve(spec: dict[str, Any]) -> None:
    keys = AppCredentialsKeys.from_dict(spec["keys"])
    async with Emulator() as emu:
        emu.state.devices[ANDROID_ID] = Device(ANDROID_ID, TOKEN)
        for n in range(spec["messages"]):
            stanza = _plain_stanza(n) if spec["plain"] else _stanza(keys, n)
            emu.mailboxes.enqueue(ANDROID_ID, stanza, ttl=None)
        print(json.dumps({"endpoints": emu.endpoints.to_dict(), "ca": str(emu.ca_path)}))
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.read)


def _raw_ecdh(seconds: float) -> tuple[float, float]:
    private = ec.generate_private_key(ec.SECP256R1())
    curve, algorithm = ec.SECP256R1(), ec.ECDH()
    peers = [ec.generate_private_key(curve).public_key() for _ in range(256)]
    encoded = itertools.cycle(
        [p.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) for p in peers]
    )
    per_message = rate(
        lambda: private.exchange(
            algorithm, ec.EllipticCurvePublicKey.from_encoded_point(curve, next(encoded))
        ),
        seconds=seconds,
    )
    exchange_only = rate(lambda: private.exchange(algorithm, peers[0]), seconds=seconds)
    return per_message, exchange_only


async def _receive(
    config: dict[str, Any], keys: AppCredentialsKeys, count: int, store: Path | None
) -> float:
    endpoints = Endpoints.from_dict(config["endpoints"], ca_path=config["ca"])
    credentials = AppCredentials(
        gcm=AppCredentialsGcm(ANDROID_ID, TOKEN, token="bench", app_id=SUBTYPE),
        fcm=AppCredentialsFcm(token="bench"),
        keys=keys,
    )
    handled = 0
    finished = asyncio.Event()
    started: list[float] = []

    async with Pullkin(endpoints, session_config=SessionConfig(), credentials_path=store) as client:

        @client.on_notification()
        async def count_it(message: object, stanza: object) -> None:
            nonlocal handled
            if not started:
                started.append(time.perf_counter())
            handled += 1
            if handled == count:
                finished.set()

        await client.add_app("424242424242", credentials)
        login, cpu = time.perf_counter(), time.process_time()
        client._start(None)
        await asyncio.wait_for(finished.wait(), timeout=600)
        await client._persist()  # to the last mark made durable (--store: in the journal)
        elapsed = time.perf_counter() - login
        print(
            "cpu", round(time.process_time() - cpu, 3), "wall", round(elapsed, 3),
            "first message after", round(started[0] - login, 3), file=sys.stderr,
        )  # fmt: skip
        session = client.sessions[0]
        assert session.state is SessionState.CONNECTED
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per ECDH figure")
    parser.add_argument(
        "--plain", action="store_true",
        help="unencrypted (Android-app style) messages: the framework's cost without crypto",
    )  # fmt: skip
    parser.add_argument(
        "--store", action="store_true",
        help="receive with a credentials file: handled ids made durable in its journal",
    )  # fmt: skip
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pin(args.core)
        asyncio.run(_serve(json.loads(sys.stdin.readline())))
        return
    mine, server_core = split_cores()
    keys = AppCredentialsKeys.generate()
    serve = [sys.executable, __file__, "--serve"]
    child = subprocess.Popen(
        serve if server_core is None else [*serve, "--core", str(server_core)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pinned = pin({min(mine)} if mine else None)
    assert child.stdin is not None
    assert child.stdout is not None
    spec = {"keys": keys.to_dict(), "messages": args.messages, "plain": args.plain}
    child.stdin.write(json.dumps(spec) + "\n")
    child.stdin.flush()
    config = json.loads(child.stdout.readline())
    per_message, exchange_only = _raw_ecdh(args.seconds)
    with tempfile.TemporaryDirectory(prefix="pullkin-bench-") as workdir:
        store = Path(workdir) / "creds.json" if args.store else None
        elapsed = asyncio.run(_receive(config, keys, args.messages, store))
    child.stdin.close()
    child.wait(timeout=30)
    throughput = args.messages / elapsed
    emit(
        "receive",
        {
            "messages": args.messages,
            "encoding": "none (plain app_data)" if args.plain else "aesgcm",
            "acks": True,
            "durable_marks": "journal (SQLite WAL, fsync per batch)" if args.store else "none",
            "seconds": round(elapsed, 3),
            "messages_per_s": round(throughput),
            "raw_ecdh_per_s": round(per_message),
            "raw_exchange_only_per_s": round(exchange_only),
            "ratio_to_raw_ecdh": round(throughput / per_message, 3),
            "ratio_to_exchange_only": round(throughput / exchange_only, 3),
            "target_ratio": 0.45,
            "server_process_pinned_apart": pinned and server_core is not None,
        },
    )


if __name__ == "__main__":
    main()
