"""Send one push through a vendor and print the result as JSON.

examples:
  pullkin send fcm --emulator emu.json --token TOKEN --title Hi --data k=v
  pullkin send webpush --emulator emu.json --subscription creds.json --data hello
  pullkin send webpush --subscription sub.json --vapid-key vapid.pem --subject mailto:me@x.org
  pullkin send azure --format fcmv1 --payload '{"message": {...}}' --tags sports

Run `pullkin send VENDOR --help` for a vendor's options.  Credentials come from files
or environment variables, never from the command line (they would show in `ps`);
--emulator CONFIG.json (the JSON line `pullkin emulator` prints, saved to a file)
targets a running emulator instead.  Options that take JSON accept it inline, as a
file name, or as @FILE.  A missing or rejected credential, or a message refused
before sending, is a one-line error with exit code 2; a send the vendor refused
exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from pullkin.commands._common import add_verbose
from pullkin.errors import ConfigError, InvalidArgumentError, UnauthenticatedError

__all__ = ["SENDERS", "configure", "json_argument", "read_text", "run"]

#: Vendor sub-commands: modules ``pullkin.commands.send_<name>``.
SENDERS: tuple[str, ...] = ("fcm", "webpush", "azure", "hms", "baidu", "umeng")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vendor", metavar="VENDOR", required=True)
    for name in SENDERS:
        module = importlib.import_module(f"pullkin.commands.send_{name}")
        vendor = sub.add_parser(
            name,
            help=module.__doc__.splitlines()[0] if module.__doc__ else name,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_verbose(vendor)
        module.configure(vendor)
        vendor.set_defaults(_send=module.run)


def run(args: argparse.Namespace) -> int:
    try:
        code: int = args._send(args)
    except UnauthenticatedError as exc:
        # The vendor refused the credentials: a usage problem, like a missing one.
        raise ConfigError(f"{args.vendor} rejected the credentials: {exc}") from None
    except InvalidArgumentError as exc:
        if exc.http_status is not None:
            raise
        raise ConfigError(exc.args[0]) from None  # refused before sending
    return code


# --- helpers shared by the vendor modules ----------------------------------------------


def read_text(path: Path | str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {str(path)!r}: {exc.strerror}") from None


def json_argument(value: str, what: str) -> Any:
    """JSON given inline, or read from a file: ``@FILE``, or just a file's name."""
    if value.startswith("@"):
        text = read_text(value[1:], what)
    elif value.lstrip()[:1] not in ("{", "[", '"') and Path(value).is_file():
        text = read_text(value, what)
    else:
        text = value
    try:
        return json.loads(text)
    except ValueError:
        if text is value:
            raise ConfigError(f"{what} is neither valid JSON nor an existing file") from None
        raise ConfigError(f"{what}: {value.lstrip('@')} does not hold valid JSON") from None
