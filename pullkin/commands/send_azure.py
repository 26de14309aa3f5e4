"""Send through Azure Notification Hubs; prints the NotificationOutcome.

The connection string: --connection-string-file FILE, else
$AZURE_NH_CONNECTION_STRING, else the emulator's (--emulator CONFIG.json).  The hub:
--hub, else $AZURE_NH_HUB_NAME.  --payload is the platform-native body (JSON inline
or @FILE; for --format windows the XML itself).  --tags takes a tag or a tag
expression (omit it to broadcast); --direct sends to one device handle; --test asks
for the per-registration outcome.
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

_FORMATS = ("fcmv1", "gcm", "apple", "windows", "baidu", "xiaomi", "browser", "adm", "template")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=_FORMATS, help="notification format")
    parser.add_argument("--payload", required=True, help="native body: JSON, XML or @FILE")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--tags", help="tag or tag expression, e.g. 'sports && !muted'")
    target.add_argument("--direct", metavar="HANDLE", help="send to this PNS handle only")
    parser.add_argument("--test", action="store_true", help="ask for the detailed outcome")
    parser.add_argument("--wns-type", choices=("wns/toast", "wns/tile", "wns/badge", "wns/raw"))
    parser.add_argument("--hub", help="notification hub name (or $AZURE_NH_HUB_NAME)")
    parser.add_argument(
        "--connection-string-file", type=Path, metavar="FILE", help="file holding the string"
    )
    parser.add_argument("--emulator", type=Path, metavar="CONFIG.json", help="target an emulator")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_send(args))


def _hub_arguments(args: argparse.Namespace) -> dict[str, Any]:
    fake: dict[str, Any] = {}
    context = None
    if args.emulator is not None:
        endpoints, emulator = load_emulator_config(args.emulator)
        vendors = emulator.get("vendors")
        fake = vendors.get("azure", {}) if isinstance(vendors, dict) else {}
        if not fake:
            raise ConfigError("the emulator config has no vendors.azure entry")
        context = emulator_ssl(endpoints, args.emulator)
    connection = None
    if args.connection_string_file is not None:
        connection = read_text(args.connection_string_file, "connection string file").strip()
    connection = connection or os.environ.get("AZURE_NH_CONNECTION_STRING")
    connection = connection or fake.get("connection_string")
    if not connection:
        raise ConfigError(
            "no Azure connection string: pass --connection-string-file FILE or set "
            "AZURE_NH_CONNECTION_STRING (the hub's DefaultFullSharedAccessSignature)"
        )
    hub = args.hub or os.environ.get("AZURE_NH_HUB_NAME") or fake.get("hub_name")
    if not hub:
        raise ConfigError("no hub name: pass --hub NAME or set AZURE_NH_HUB_NAME")
    options: dict[str, Any] = {"connection_string": connection, "hub_name": hub}
    if fake:
        options["base_url"] = fake.get("base_url")
        options["ssl_context"] = context
    return options


def _notification(args: argparse.Namespace) -> Any:
    from pullkin.senders.azure import AzureNotification

    if args.format == "windows":
        body: Any = (
            read_text(args.payload[1:], "--payload") if args.payload[:1] == "@" else args.payload
        )
        kind = args.wns_type or _guess(body)
        return AzureNotification("windows", body, {"X-WNS-Type": kind})
    return AzureNotification(args.format, json_argument(args.payload, "--payload"))


def _guess(body: str) -> str:
    from pullkin.senders.azure_wire import guess_wns_type

    return guess_wns_type(body)


async def _send(args: argparse.Namespace) -> int:
    from pullkin.senders.azure import AzureNotificationHub

    options = _hub_arguments(args)
    notification = _notification(args)
    async with AzureNotificationHub(**options) as hub:
        if args.direct:
            outcome = await hub.send_direct_notification(notification, args.direct)
        else:
            outcome = await hub.send_notification(notification, args.tags, test=args.test)
    print_json(outcome.to_dict())
    return 0
