"""Send through Umeng U-Push, upload token files, query or cancel tasks.

  pullkin send umeng --token TOKEN44CHARS… --ticker Hi --title Hi --text Hello
  pullkin send umeng --type broadcast --ticker Hi --title Hi --text Hello --test
  pullkin send umeng --type groupcast --filter '{"where":{"and":[{"tag":"vip"}]}}' …
  pullkin send umeng --type customizedcast --alias-type uid --alias alice …
  pullkin send umeng --upload tokens.txt          (prints the file_id)
  pullkin send umeng --status TASK_ID             (also --cancel TASK_ID)

Several --token make a listcast (500 a request).  --alert sends an iOS payload
instead.  Credentials: app_key and app_master_secret from --credentials FILE,
--emulator CONFIG.json or PULLKIN_UMENG_APP_KEY / PULLKIN_UMENG_APP_MASTER_SECRET.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from pullkin.commands._send_vendors import (
    add_common_arguments,
    call_method,
    parse_json,
    print_json,
    sender_arguments,
)
from pullkin.errors import ConfigError
from pullkin.senders.umeng import (
    AndroidBody,
    AndroidPayload,
    IosAps,
    IosPayload,
    UmengSender,
)
from pullkin.senders.umeng_models import Payload

__all__ = ["configure", "run"]

_FIELDS = ("app_key", "app_master_secret")
_OPTIONAL = ("base_url", "production_mode")
_TYPES = ("unicast", "listcast", "broadcast", "groupcast", "customizedcast", "filecast")


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "umeng", _FIELDS, UmengSender)
    target = parser.add_argument_group("target")
    target.add_argument("--type", choices=_TYPES, help="cast type (default: from --token)")
    target.add_argument("--token", action="append", default=[], help="device token (repeat)")
    target.add_argument("--alias", action="append", default=[], help="alias (customizedcast)")
    target.add_argument("--alias-type", help="alias type (customizedcast)")
    target.add_argument("--file-id", help="uploaded file (filecast, customizedcast)")
    target.add_argument("--filter", help="groupcast filter JSON")
    content = parser.add_argument_group("content")
    content.add_argument("--ticker", help="Android status-bar text")
    content.add_argument("--title", help="Android notification title")
    content.add_argument("--text", help="Android notification text")
    content.add_argument("--alert", help="iOS alert text (sends an iOS payload)")
    content.add_argument("--description", help="description shown in the Umeng console")
    content.add_argument("--test", action="store_true", help="test mode (production_mode=false)")
    other = parser.add_argument_group("files and tasks").add_mutually_exclusive_group()
    other.add_argument("--upload", type=Path, metavar="FILE", help="upload tokens/aliases")
    other.add_argument("--status", metavar="TASK_ID", help="status of a task")
    other.add_argument("--cancel", metavar="TASK_ID", help="cancel a task")


def run(args: argparse.Namespace) -> int:
    arguments = sender_arguments(args, "umeng", "Umeng", _FIELDS, _OPTIONAL)
    print_json(asyncio.run(_run(args, arguments)))
    return 0


def _payload(args: argparse.Namespace) -> Payload:
    if args.alert:
        return IosPayload(aps=IosAps(alert=args.alert))
    if not (args.ticker and args.title and args.text):
        raise ConfigError("give --ticker, --title and --text (Android) or --alert (iOS)")
    return AndroidPayload(body=AndroidBody(ticker=args.ticker, title=args.title, text=args.text))


async def _run(args: argparse.Namespace, arguments: dict[str, Any]) -> Any:
    async with UmengSender(**arguments) as umeng:
        if args.call:
            return await call_method(umeng, args.call, args.params)
        if args.upload:
            try:
                content = args.upload.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read {args.upload}: {exc.strerror}") from None
            return {"file_id": await umeng.upload(content)}
        if args.status:
            return await umeng.status(args.status)
        if args.cancel:
            return {"task_id": await umeng.cancel(args.cancel)}
        return await _send(umeng, args)


async def _send(umeng: UmengSender, args: argparse.Namespace) -> Any:
    payload = _payload(args)
    common: dict[str, Any] = {"description": args.description}
    if args.test:
        common["production_mode"] = False
    kind = args.type or ("listcast" if len(args.token) > 1 else "unicast")
    if kind == "unicast":
        if len(args.token) != 1:
            raise ConfigError("unicast needs exactly one --token")
        return await umeng.unicast(args.token[0], payload, **common)
    if kind == "listcast":
        return await umeng.listcast(args.token, payload, **common)
    if kind == "broadcast":
        return await umeng.broadcast(payload, **common)
    if kind == "groupcast":
        flt = parse_json(args.filter or "null", "--filter")
        return await umeng.groupcast(flt, payload, **common)
    if kind == "filecast":
        return await umeng.filecast(args.file_id or "", payload, **common)
    return await umeng.customizedcast(
        args.alias_type or "", payload, alias=args.alias or None, file_id=args.file_id, **common
    )
