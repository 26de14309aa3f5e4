"""What ``pullkin send hms|baidu|umeng`` share: credentials, emulator config, JSON output.

Credentials come, lowest priority first, from environment variables
(``PULLKIN_<VENDOR>_<FIELD>``), a ``--credentials`` JSON file (the sender's keyword
arguments, e.g. ``{"app_id": …, "app_secret": …}``), or ``--emulator CONFIG.json``
(the line ``pullkin emulator`` prints: its ``ca_path`` is trusted and its
``vendors.<name>`` entry supplies credentials and base URLs).  Secrets are never
command-line arguments (they would show in ``ps``).  Any sender method can be called
with ``--call NAME --params JSON``; results are printed as one JSON document.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import json
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pullkin.commands._common import emulator_ssl, load_emulator_config
from pullkin.commands.send import json_argument
from pullkin.errors import ConfigError, SendError

__all__ = [
    "add_common_arguments",
    "call_method",
    "load_credentials",
    "parse_json",
    "print_json",
    "sender_arguments",
    "sender_methods",
    "to_jsonable",
]


def sender_methods(sender: type) -> list[str]:
    """The public coroutine methods of a sender class: what ``--call`` can name."""
    return sorted(
        name
        for name, member in inspect.getmembers(sender, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "aclose"
    )


def add_common_arguments(
    parser: argparse.ArgumentParser, vendor: str, fields: Sequence[str], sender: type
) -> None:
    env = ", ".join(f"PULLKIN_{vendor.upper()}_{name.upper()}" for name in fields)
    parser.add_argument(
        "--credentials",
        type=Path,
        help=f"JSON file with the sender's credentials ({', '.join(fields)}); or set {env}",
    )
    parser.add_argument(
        "--emulator",
        type=Path,
        metavar="CONFIG.json",
        help="send to a running `pullkin emulator`: the JSON line it printed, saved to a file",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per attempt")
    parser.add_argument(
        "--call",
        metavar="METHOD",
        help=f"call a {sender.__name__} method instead, with --params as its keyword "
        f"arguments: {', '.join(sender_methods(sender))}",
    )
    parser.add_argument(
        "--params",
        default="{}",
        help='keyword arguments of --call as JSON: inline, a FILE or @FILE (default "{}")',
    )


def _read_json(path: Path, what: str) -> dict[str, Any]:
    data = json_argument(f"@{path}", what)
    if not isinstance(data, dict):
        raise ConfigError(f"the {what} {path} must hold a JSON object")
    return data


def load_credentials(
    args: argparse.Namespace, vendor: str, fields: Sequence[str]
) -> tuple[dict[str, Any], ssl.SSLContext | None]:
    """Sender keyword arguments for *vendor*, and the SSL context to trust (or None)."""
    found: dict[str, Any] = {}
    for name in fields:
        value = os.environ.get(f"PULLKIN_{vendor.upper()}_{name.upper()}")
        if value:
            found[name] = value
    if args.credentials is not None:
        found.update(_read_json(args.credentials, "credentials file"))
    context = None
    if args.emulator is not None:
        endpoints, config = load_emulator_config(args.emulator)
        vendors = config.get("vendors")
        entry = vendors.get(vendor) if isinstance(vendors, dict) else None
        if not isinstance(entry, dict):
            raise ConfigError(
                f"the emulator config {args.emulator} has no vendors.{vendor} entry: "
                "use the JSON line printed by a pullkin emulator that runs the vendor fakes"
            )
        found.update(entry)
        context = emulator_ssl(endpoints, args.emulator)
    missing = [name for name in fields if not found.get(name)]
    if missing:
        variables = ", ".join(f"PULLKIN_{vendor.upper()}_{n.upper()}" for n in missing)
        raise ConfigError(
            f"missing {vendor} credentials: {', '.join(missing)} "
            f"(use --credentials FILE, --emulator CONFIG.json or set {variables})"
        )
    return found, context


def sender_arguments(
    args: argparse.Namespace,
    vendor: str,
    name: str,
    fields: Sequence[str],
    optional: Sequence[str],
) -> dict[str, Any]:
    """The sender's keyword arguments: credentials (*fields*, and *optional* ones such
    as base URLs), the SSL context to trust and ``--timeout``; *name* is for messages."""
    credentials, context = load_credentials(args, vendor, fields)
    unknown = set(credentials) - set(fields) - set(optional)
    if unknown:
        raise ConfigError(f"unknown {name} credential field(s): {', '.join(sorted(unknown))}")
    arguments = {**credentials, "ssl_context": context}
    if args.timeout is not None:
        arguments["timeout"] = args.timeout
    return arguments


def parse_json(text: str, what: str) -> Any:
    """JSON given inline, or ``@FILE`` to read it from a file."""
    return json_argument(text, what)


async def call_method(sender: object, name: str, params: str) -> Any:
    """``--call NAME --params JSON``: await ``sender.NAME(**params)``."""
    method = getattr(sender, name, None)
    if name.startswith("_") or name == "aclose" or not callable(method):
        raise ConfigError(f"{type(sender).__name__} has no method {name!r}")
    kwargs = parse_json(params, "--params")
    if not isinstance(kwargs, dict):
        raise ConfigError("--params must be a JSON object of keyword arguments")
    try:
        bound = inspect.signature(method).bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"--call {name}: {exc}") from None
    return await method(*bound.args, **bound.kwargs)


def to_jsonable(value: Any) -> Any:
    """Results → JSON: dataclasses as objects, errors as ``{"error": …}``, no secrets."""
    if isinstance(value, SendError):
        return {
            "error": type(value).__name__,
            "message": str(value),
            "code": value.code,
            "http_status": value.http_status,
            "request_id": value.request_id,
        }
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.repr}
        return {key: to_jsonable(item) for key, item in fields.items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    return value


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
