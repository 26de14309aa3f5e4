"""Send a Web Push message (RFC 8030/8291, VAPID); prints the push service's answer.

--subscription takes the browser's PushSubscription.toJSON() (inline JSON or @FILE).
The VAPID key: --vapid-key FILE (PEM or base64url), else $PULLKIN_VAPID_PRIVATE_KEY,
else the emulator's key (--emulator CONFIG.json).  The contact: --subject, else
$PULLKIN_VAPID_SUBJECT (a mailto: or https: URI).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from pullkin.commands._common import emulator_ssl, load_emulator_config
from pullkin.commands._send_vendors import print_json
from pullkin.commands.send import json_argument, read_text
from pullkin.errors import ConfigError

__all__ = ["configure", "run"]

_EMULATOR_SUBJECT = "mailto:pullkin-emulator@localhost"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscription", required=True, metavar="JSON", help="PushSubscription JSON, or @FILE"
    )
    payload = parser.add_mutually_exclusive_group()
    payload.add_argument("--data", help="payload text (sent as UTF-8)")
    payload.add_argument("--json", metavar="JSON", help="payload as JSON (inline or @FILE)")
    parser.add_argument("--ttl", type=int, default=86400, help="seconds to keep (default 1 day)")
    parser.add_argument("--urgency", choices=("very-low", "low", "normal", "high"))
    parser.add_argument("--topic", help="replacement key (<= 32 base64url characters)")
    parser.add_argument("--encoding", choices=("aes128gcm", "aesgcm"), default="aes128gcm")
    parser.add_argument("--vapid-key", type=Path, metavar="FILE", help="VAPID private key file")
    parser.add_argument("--subject", help="VAPID contact, e.g. mailto:ops@example.com")
    parser.add_argument("--emulator", type=Path, metavar="CONFIG.json", help="target an emulator")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_send(args))


def _vapid(args: argparse.Namespace, emulator: dict[str, Any] | None) -> tuple[str, str]:
    key = read_text(args.vapid_key, "VAPID key file") if args.vapid_key else None
    key = key or os.environ.get("PULLKIN_VAPID_PRIVATE_KEY")
    if not key and emulator is not None:
        key = (emulator.get("vapid_keys") or {}).get("private_key")
    if not key:
        raise ConfigError(
            "no VAPID private key: pass --vapid-key FILE or set PULLKIN_VAPID_PRIVATE_KEY"
        )
    subject = args.subject or os.environ.get("PULLKIN_VAPID_SUBJECT")
    if not subject and emulator is not None:
        subject = _EMULATOR_SUBJECT
    if not subject:
        raise ConfigError(
            "no VAPID subject: pass --subject mailto:you@example.com or set PULLKIN_VAPID_SUBJECT"
        )
    return key.strip(), subject


async def _send(args: argparse.Namespace) -> int:
    from pullkin.senders.webpush import WebPushSender

    emulator: dict[str, Any] | None = None
    context = None
    if args.emulator is not None:
        endpoints, emulator = load_emulator_config(args.emulator)
        context = emulator_ssl(endpoints, args.emulator)
    key, subject = _vapid(args, emulator)
    subscription = json_argument(args.subscription, "--subscription")
    data: Any = args.data
    if args.json is not None:
        data = json_argument(args.json, "--json")
    async with WebPushSender(key, subject, ssl_context=context) as push:
        result = await push.send(
            subscription, data, ttl=args.ttl, urgency=args.urgency, topic=args.topic,
            encoding=args.encoding,
        )  # fmt: skip
    print_json(result)
    return 0
