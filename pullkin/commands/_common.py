"""What the commands share: reading the emulator config ``--emulator CONFIG.json`` names.

The config is the JSON line ``pullkin emulator`` prints, saved to a file: its
``endpoints`` and ``ca_path`` say where the emulator listens and which CA to trust;
``firebase_config``, ``android_config``, ``vapid_keys``, ``vendors`` and
``service_account_path`` hold the credentials of what it emulates.
"""

from __future__ import annotations

import argparse
import json
import ssl
from pathlib import Path
from typing import Any

from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError

__all__ = ["EMULATOR_API_KEY", "add_verbose", "emulator_ssl", "load_emulator_config"]

#: The API key of the emulated Firebase app (``Emulator``'s default): credentials
#: registered with it come from an emulator and mean nothing to Google.
EMULATOR_API_KEY = "AIzaSyPullkinEmulatorLocalKey0000000000"


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v``/``-vv``, accepted after any command name (and before it)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more logging on stderr (-vv: debug)",
    )


def load_emulator_config(path: str | Path) -> tuple[Endpoints, dict[str, Any]]:
    """The emulator's endpoints (trusting its CA) and the whole config document."""
    document = _read(path)
    ca_path = document.get("ca_path")
    if ca_path is not None and not isinstance(ca_path, str):
        raise _not_a_config(path)
    try:
        endpoints = Endpoints.from_dict(document["endpoints"], ca_path=ca_path)
    except OSError as exc:  # ssl.SSLError too: the CA file is missing or not PEM
        raise ConfigError(f"cannot read the emulator CA {ca_path}: {exc.strerror}") from None
    except ConfigError as exc:
        raise ConfigError(f"emulator config {path}: {exc}") from None
    except (TypeError, ValueError):
        raise _not_a_config(path) from None
    return endpoints, document


def emulator_ssl(endpoints: Endpoints, path: str | Path) -> ssl.SSLContext:
    """The SSL context trusting the emulator's CA, for senders that take one."""
    if endpoints.ssl_context is None:
        raise ConfigError(
            f"emulator config {path} has no ca_path: use the JSON line `pullkin emulator` printed"
        )
    return endpoints.ssl_context


def _read(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read emulator config {path}: {exc.strerror}") from None
    if not text.strip():
        raise ConfigError(
            f"emulator config {path} is empty: `pullkin emulator > {path}` writes its line "
            "once it serves (about a second after it starts); try again then"
        )
    try:
        document = json.loads(text)
    except ValueError:
        raise _not_a_config(path) from None
    if not isinstance(document, dict) or not isinstance(document.get("endpoints"), dict):
        raise _not_a_config(path)
    return document


def _not_a_config(path: str | Path) -> ConfigError:
    return ConfigError(
        f"emulator config {path} is not what `pullkin emulator` prints (a JSON object with "
        "'endpoints', 'ca_path' and 'firebase_config'): save the line it printed to a file"
    )
