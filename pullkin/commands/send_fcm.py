"""Send through FCM HTTP v1 as a service account; prints {"name": …}.

Credentials: --service-account FILE, else $GOOGLE_APPLICATION_CREDENTIALS, else the
emulator's service_account_path (--emulator CONFIG.json).  Exactly one target:
--token, --topic or --condition.  --message takes a whole v1 message as JSON
(inline or @file) for the fields without a flag.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from pullkin.commands._common import load_emulator_config
from pullkin.commands._send_vendors import print_json
from pullkin.commands.send import json_argument
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--token", help="registration token of one device")
    target.add_argument("--topic", help="topic name (with or without /topics/)")
    target.add_argument("--condition", help="e.g. \"'news' in topics && 'en' in topics\"")
    parser.add_argument("--title", help="notification title")
    parser.add_argument("--body", help="notification body")
    parser.add_argument("--image", help="notification image URL")
    parser.add_argument(
        "--data", action="append", default=[], metavar="KEY=VALUE", help="data entry (repeatable)"
    )
    parser.add_argument("--message", metavar="JSON", help="a v1 message as JSON, or @FILE")
    parser.add_argument("--validate-only", action="store_true", help="validate, do not deliver")
    parser.add_argument("--service-account", type=Path, metavar="FILE", help="service account JSON")
    parser.add_argument("--project-id", help="default: the service account's project")
    parser.add_argument("--emulator", type=Path, metavar="CONFIG.json", help="target an emulator")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_send(args))


def _credentials(args: argparse.Namespace, emulator: dict[str, Any] | None) -> str:
    path = args.service_account or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path and emulator is not None:
        path = emulator.get("service_account_path")
    if not path:
        raise ConfigError(
            "no service account: pass --service-account FILE or set "
            "GOOGLE_APPLICATION_CREDENTIALS to the key file from the Firebase console"
        )
    return str(path)


# v1 JSON object → model: field → (model class name, its own nested fields).
_Spec = tuple[str, dict[str, Any]]
_PARTS: dict[str, _Spec] = {
    "android": (
        "AndroidConfig",
        {
            "notification": ("AndroidNotification", {"light_settings": ("LightSettings", {})}),
            "fcm_options": ("AndroidFcmOptions", {}),
        },
    ),
    "webpush": ("WebpushConfig", {"fcm_options": ("WebpushFcmOptions", {})}),
    "apns": ("ApnsConfig", {"fcm_options": ("ApnsFcmOptions", {})}),
    "fcm_options": ("FcmOptions", {}),
    "notification": ("Notification", {}),
}
_TARGETS = ("token", "topic", "condition")


def _build(spec: _Spec, value: Any, where: str) -> Any:
    from pullkin.senders import fcm_models

    name, nested = spec
    if not isinstance(value, dict):
        raise ConfigError(f"--message {where} must be a JSON object")
    fields = {
        key: _build(nested[key], item, f"{where}.{key}") if key in nested else item
        for key, item in value.items()
    }
    try:
        return getattr(fcm_models, name)(**fields)
    except TypeError as exc:
        raise ConfigError(f"--message {where}: {exc}") from None


def _message(args: argparse.Namespace) -> Any:
    from pullkin.senders.fcm import Message

    base: dict[str, Any] = json_argument(args.message, "--message") if args.message else {}
    if not isinstance(base, dict):
        raise ConfigError("--message must be a JSON object (a v1 message)")
    unknown = set(base) - set(_PARTS) - {*_TARGETS, "data"}
    if unknown:
        raise ConfigError(f"--message has unknown field(s): {', '.join(sorted(unknown))}")
    data = dict(base.get("data") or {})
    for item in args.data:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--data needs KEY=VALUE, got {item!r}")
        data[key] = value
    note = dict(base.get("notification") or {})
    note.update({k: getattr(args, k) for k in ("title", "body", "image") if getattr(args, k)})
    base["notification"] = note or None
    targets = {k: base[k] for k in _TARGETS if k in base}
    targets.update({k: getattr(args, k) for k in _TARGETS if getattr(args, k) is not None})
    if len(targets) != 1:
        given = f" (got {', '.join(targets)})" if targets else ""
        raise ConfigError(
            f"give exactly one target: --token, --topic or --condition{given} "
            '(or "token", "topic" or "condition" in --message)'
        )
    parts = {
        key: _build(_PARTS[key], value, key)
        for key, value in base.items()
        if key in _PARTS and value is not None
    }
    return Message(**targets, data=data, **parts)


async def _send(args: argparse.Namespace) -> int:
    from pullkin.senders.fcm import FcmSender

    endpoints: Endpoints | None = None
    emulator: dict[str, Any] | None = None
    if args.emulator is not None:
        endpoints, emulator = load_emulator_config(args.emulator)
    credentials = _credentials(args, emulator)
    message = _message(args)
    async with FcmSender(Path(credentials), args.project_id, endpoints) as fcm:
        name = await fcm.send(message, validate_only=args.validate_only)
    print_json({"name": name})
    return 0
