"""Send a Web Push message (RFC 8030/8291, VAPID); prints the push service's answer.

--subscription is the target: the browser's PushSubscription.toJSON() (inline JSON,
a file, or @FILE), or the credentials file `pullkin register` wrote (--sender-id
picks the app when it holds several).  The VAPID key must be the one the
subscription was made with: --vapid-key FILE (PEM or base64url), else
$PULLKIN_VAPID_PRIVATE_KEY, else the emulator's key (--emulator CONFIG.json; what
`pullkin register --emulator` registers with).  The contact: --subject, else
$PULLKIN_VAPID_SUBJECT (a mailto: or https: URI).

examples:
  pullkin register --emulator emu.json --credentials creds.json
  pullkin send webpush --emulator emu.json --subscription creds.json --data hello
  pullkin send webpush --subscription sub.json --json '{"title": "Hi"}' \\
      --vapid-key vapid.pem --subject mailto:ops@example.com
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from pullkin.commands._common import emulator_ssl, load_emulator_config
from pullkin.commands._send_vendors import print_json
from pullkin.commands.register import subscription as registered_subscription
from pullkin.commands.send import json_argument, read_text
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError
from pullkin.store import CredentialStore

__all__ = ["configure", "run"]

_EMULATOR_SUBJECT = "mailto:pullkin-emulator@localhost"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscription",
        required=True,
        metavar="SUBSCRIPTION",
        help="PushSubscription JSON (inline, FILE or @FILE), or a `pullkin register` "
        "credentials FILE",
    )
    parser.add_argument(
        "--sender-id", help="the app to push to, when the credentials file holds several"
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


def _subscription(args: argparse.Namespace, endpoints: Endpoints) -> Any:
    document = json_argument(args.subscription, "--subscription")
    if not (isinstance(document, dict) and "apps" in document and "version" in document):
        if args.sender_id:
            raise ConfigError("--sender-id picks an app of a credentials file, not a subscription")
        return document
    store = CredentialStore.open(args.subscription.lstrip("@"))
    senders = [args.sender_id] if args.sender_id else store.sender_ids()
    if len(senders) != 1:
        raise ConfigError(
            f"{args.subscription} holds apps of sender ids {', '.join(senders) or '(none)'}: "
            "pick one with --sender-id"
        )
    credentials = store.get(senders[0])
    if credentials is None:
        raise ConfigError(f"{args.subscription} holds no app of sender id {senders[0]}")
    return registered_subscription(credentials, endpoints)


async def _send(args: argparse.Namespace) -> int:
    from pullkin.senders.webpush import WebPushSender

    emulator: dict[str, Any] | None = None
    context = None
    endpoints = Endpoints()
    if args.emulator is not None:
        endpoints, emulator = load_emulator_config(args.emulator)
        context = emulator_ssl(endpoints, args.emulator)
    key, subject = _vapid(args, emulator)
    subscription = _subscription(args, endpoints)
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
