"""The whole push path on your machine, offline, in a few seconds.

Starts the emulated Google side in-process (TLS, check-in, register3, Firebase
Installations, FCM registrations, OAuth, FCM HTTP v1, Web Push, MCS), registers a
receiver like Chrome does (credentials in a temporary directory), then sends three
pushes and prints each as the receiver gets it, with its latency:

  1. a notification through FCM HTTP v1 (service-account OAuth, as firebase-admin),
  2. a Web Push message (RFC 8291 aes128gcm, RFC 8292 VAPID) to the subscription,
  3. a data message through FCM HTTP v1.

Exit code 0 when all three arrived, 1 otherwise.  Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.models import AppCredentials, Message
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.senders import FcmSender, WebPushSender
from pullkin.senders import fcm as fcm_models

__all__ = ["configure", "run"]

_PUSHES = 3


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        help="seconds to wait for the connection, and then for all pushes (default 30)",
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args.timeout))


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _demo(timeout: float) -> int:
    async with Emulator() as emu:
        _say(f"emulator   HTTPS {emu.url}, MCS {emu.endpoints.mcs_host}:{emu.endpoints.mcs_port}")
        with tempfile.TemporaryDirectory(prefix="pullkin-demo-") as tmp:
            return await _receive_and_send(emu, Path(tmp) / "credentials.json", timeout)


async def _receive_and_send(emu: Emulator, path: Path, timeout: float) -> int:
    arrived: asyncio.Queue[tuple[Message, float]] = asyncio.Queue()
    async with Pullkin(emu.endpoints, credentials_path=path) as client:

        @client.on_notification()
        async def show(message: Message, stanza: DataMessageStanza) -> None:
            arrived.put_nowait((message, time.perf_counter()))

        # The VAPID key of the emulator's application server, so Web Push works too.
        config = dataclasses.replace(emu.firebase_config, vapid_key=emu.vapid_keys.public_key)
        credentials = await client.register_app(config)
        _say(
            f"registered web app (android_id {credentials.gcm.android_id}); "
            f"FCM token {credentials.fcm.token[:18]}…"
        )
        runner = asyncio.create_task(client.run())
        received: list[Message] = []
        try:
            await asyncio.wait_for(client.wait_connected(), timeout)
            _say("listening  MCS connected\n")
            await asyncio.wait_for(_send_all(emu, credentials, arrived, received), timeout)
        except asyncio.TimeoutError:
            _say(f"\ntimed out after {timeout:g} s (--timeout)")
        finally:
            await client.stop()
            await runner
        ok = len(received) == _PUSHES
        _say(
            f"\n{len(received)} of {_PUSHES} pushes received; {client.stats.reconnects} reconnects."
        )
        return 0 if ok else 1


async def _send_all(
    emu: Emulator,
    credentials: AppCredentials,
    arrived: asyncio.Queue[tuple[Message, float]],
    received: list[Message],
) -> None:
    token = credentials.fcm.token
    keys = credentials.keys
    assert keys is not None
    subscription = {
        "endpoint": emu.endpoints.webpush_url(credentials.gcm.token),
        "keys": {"p256dh": keys.public_key, "auth": keys.auth_secret},
    }
    async with (
        FcmSender(emu.service_account_info, endpoints=emu.endpoints) as fcm,
        WebPushSender(
            emu.vapid_keys.private_key, "mailto:demo@example.com",
            ssl_context=emu.endpoints.ssl_context,
        ) as webpush,
    ):  # fmt: skip
        hello = fcm_models.Notification(title="Hello from pullkin", body="sent through FCM HTTP v1")
        pushes: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("FCM v1 notification",
             lambda: fcm.send(fcm_models.Message(token=token, notification=hello))),
            ("Web Push aes128gcm+VAPID",
             lambda: webpush.send(subscription, {"text": "hello over RFC 8030"})),
            ("FCM v1 data message",
             lambda: fcm.send(fcm_models.Message(token=token, data={"answer": "42"}))),
        ]  # fmt: skip
        for label, send in pushes:
            sent_at = time.perf_counter()
            await send()
            message, received_at = await arrived.get()
            received.append(message)
            _say(f"→ sent     {label}")
            _say(f"← received {_describe(message)}   {1000 * (received_at - sent_at):.1f} ms")


def _describe(message: Message) -> str:
    if message.notification is not None and message.notification.title:
        return f"notification {message.notification.title!r} / {message.notification.body!r}"
    if message.data:
        return f"data {json.dumps(message.data)}"
    return f"payload {message.payload!r}"
