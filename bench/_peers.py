"""The peers' receive loops, run by ``bench/receive.py`` in the bench's own venv.

Not part of pullkin and never imported by it: the peers live in their own venv,
``bench/.peers-venv`` (``bench/peers-requirements.txt``, pinned versions), which
``receive.py`` creates on first use, so push-receiver's dependencies (``oscrypto``,
which cannot load with OpenSSL 3) never enter pullkin's environment.  This script
imports only the standard library and the peer packages.  It reads one JSON spec on
stdin, receives ``count`` messages from the emulator with the chosen peer's own loop,
and prints one JSON result line (the same fields as pullkin's receivers in
``receive.py``).

Pointing the peers at the emulator changes only where they connect: the MCS host and
port (module constants in both) and the check-in URL (push-receiver checks in before
its login); ``SSL_CERT_FILE`` (set by the parent) makes their default TLS contexts
trust the emulator's CA.  Two shims let push-receiver 0.1.1 import at all, neither on
its receive path: its 2019 generated ``*_pb2`` modules cannot load on protobuf >= 4
(upb), so it gets the same Chromium protos compiled by a current protoc
(firebase-messaging's copies: same messages, same upb parser); and ``oscrypto``, which
it imports only to generate keys at registration, cannot find OpenSSL 3 and is
replaced by a module that refuses to be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import sys
import time
import types
from typing import Any

_TENTHS = 10


class Progress:
    """Counts handled messages; notes time and RSS at every tenth of the run."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.handled = 0
        self.marks: list[tuple[int, float, int]] = []
        self.step = max(count // _TENTHS, 1)
        self.started = 0.0
        self.cpu = 0.0
        self.waited = 0.0
        self.rss_before = rss_kib()

    def start(self) -> None:
        self.started, self.cpu = time.perf_counter(), time.process_time()
        self.waited = runqueue_wait()

    def tick(self) -> bool:
        """One more message handled; True when it was the last."""
        self.handled += 1
        if self.handled % self.step == 0 or self.handled == self.count:
            self.marks.append((self.handled, time.perf_counter() - self.started, rss_kib()))
        return self.handled >= self.count

    def result(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        return {
            "seconds": elapsed,
            "cpu_seconds": time.process_time() - self.cpu,
            # Runnable but not running (another process had the core): a loaded machine.
            "runqueue_wait_seconds": runqueue_wait() - self.waited,
            "marks": self.marks,
            "rss_kib_before": self.rss_before,
        }


def runqueue_wait() -> float:
    """Seconds this process's threads have waited for a CPU so far (Linux schedstat)."""
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/schedstat") as schedstat:
                total += int(schedstat.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return total / 1e9


def rss_kib() -> int:
    """This process's resident set size now, in KiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


# --- firebase-messaging 0.4.5 ----------------------------------------------------------


async def firebase_messaging(spec: dict[str, Any]) -> dict[str, Any]:
    import firebase_messaging.fcmpushclient as fcm_client
    from firebase_messaging import FcmPushClient, FcmRegisterConfig

    fcm_client.MCS_HOST, fcm_client.MCS_PORT = spec["mcs_host"], spec["mcs_port"]
    progress = Progress(spec["count"])
    finished = asyncio.Event()

    def on_message(notification: dict[str, Any], persistent_id: str, context: Any) -> None:
        if progress.tick():
            finished.set()

    config = FcmRegisterConfig("bench", "1:424242424242:web:0", "bench-key", "424242424242")
    credentials = {
        "gcm": {
            "android_id": str(spec["android_id"]),
            "security_token": str(spec["security_token"]),
            "app_id": spec["app_id"],
            "token": "bench",
        },
        "keys": {"private": spec["private_der"], "secret": spec["auth_secret"]},
        "fcm": {"registration": {"token": "bench"}},
    }
    client = FcmPushClient(on_message, config, credentials)
    progress.start()
    await client.start()
    await asyncio.wait_for(finished.wait(), timeout=spec["timeout"])
    result = progress.result()
    await client.stop()
    return result


# --- push-receiver 0.1.1 ----------------------------------------------------------------


class _Done(Exception):
    """Raised from the callback to leave push-receiver's endless loop."""


def _shim_push_receiver() -> Any:
    import firebase_messaging.proto.android_checkin_pb2 as android_checkin_pb2
    import firebase_messaging.proto.checkin_pb2 as checkin_pb2
    import firebase_messaging.proto.mcs_pb2 as mcs_pb2

    sys.modules["push_receiver.mcs_pb2"] = mcs_pb2
    sys.modules["push_receiver.checkin_pb2"] = checkin_pb2
    sys.modules["push_receiver.android_checkin_pb2"] = android_checkin_pb2

    def generate_pair(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("oscrypto is shimmed: registration is not benchmarked")

    asymmetric = types.ModuleType("oscrypto.asymmetric")
    asymmetric.generate_pair = generate_pair  # type: ignore[attr-defined]
    sys.modules["oscrypto"] = types.ModuleType("oscrypto")
    sys.modules["oscrypto.asymmetric"] = asymmetric
    import push_receiver.push_receiver as module

    return module


def push_receiver(spec: dict[str, Any]) -> dict[str, Any]:
    module = _shim_push_receiver()
    module.CHECKIN_URL = spec["checkin_url"]
    listen = getattr(module, "__listen")  # what listen() runs once it has connected
    progress = Progress(spec["count"])

    def on_message(obj: Any, notification: Any, data_message: Any) -> None:
        if progress.tick():
            raise _Done

    credentials = {
        "gcm": {
            "androidId": str(spec["android_id"]),
            "securityToken": str(spec["security_token"]),
        },
        "keys": {"private": spec["private_der"], "secret": spec["auth_secret"]},
    }
    progress.start()
    # listen() itself, with the emulator's address instead of mtalk.google.com:5228.
    host = spec["mcs_host"]
    context = ssl.create_default_context()
    sock = socket.create_connection((host, spec["mcs_port"]))
    with context.wrap_socket(sock, server_hostname=host) as tls, contextlib.suppress(_Done):
        listen(tls, credentials, on_message, [], None)
    return progress.result()


def main() -> None:
    spec = json.loads(sys.stdin.readline())
    if spec["kind"] == "firebase_messaging":
        result = asyncio.run(firebase_messaging(spec))
    elif spec["kind"] == "push_receiver":
        result = push_receiver(spec)
    else:
        raise SystemExit(f"unknown peer {spec['kind']!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
