"""Run the local FCM emulator (the whole Google side) until Ctrl-C or SIGTERM.

Once it serves, it prints ONE line of JSON on stdout, then nothing else:

  endpoints             every URL (check-in, register3, Installations, FCM registrations,
                        OAuth token, FCM v1 send, IID, Web Push) and the MCS host/port
  ca_path               the CA certificate to trust (TLS verification stays on)
  firebase_config       api_key, project_id, app_id, sender_id of the emulated web app
  android_config        the same for the emulated Android app (+ package, cert)
  vapid_keys            an application-server key pair for Web Push tests
  service_account_path  a service-account JSON file (mode 0600) whose token_uri points at
                        the emulator: give it to firebase-admin or any Google client

Save that line to a file and give it to the other commands with --emulator:

  pullkin emulator > emu.json &
  pullkin register --emulator emu.json --credentials creds.json
  pullkin listen --emulator emu.json --credentials creds.json
  pullkin send webpush --emulator emu.json --subscription creds.json --data hello

With --print-chromium-flags it prints instead ONE line of Chromium switches (shell
quoted) that make a Chromium's push service this emulator and trust its certificates
(give Chromium a --user-data-dir too); see "Test Web Push in a real browser" in the
README.

State (devices, registrations, tokens, queued messages) lives in memory unless
--state-dir is given; with it, a restart keeps the same config and recognises old
devices and tokens.  Logs go to stderr (-v, -vv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from pullkin.emulator import Emulator
from pullkin.errors import ConfigError

__all__ = ["configure", "run"]

_ACCOUNT_FILE = "service-account.json"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535; 0 = any free one)")
    return port


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; non-loopback needs --allow-remote)",
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="HTTPS port of every HTTP endpoint (default: any)"
    )
    parser.add_argument(
        "--mcs-port", type=_port, default=0, help="TLS port of the MCS server (default: any)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep state, TLS CA and identity in this directory across restarts "
        "(default: in memory, forgotten at exit)",
    )
    parser.add_argument(
        "--print-chromium-flags",
        action="store_true",
        help="print the Chromium switches for this emulator (one shell-quoted line) "
        "instead of the JSON config",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the emulator has no real security: test use only)",
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


def write_private_json(path: Path, data: Any) -> None:
    """Write *data* as JSON atomically (temp file, fsync, rename) with mode 0600."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


async def _serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        emulator = Emulator(
            args.host,
            http_port=args.port,
            mcs_port=args.mcs_port,
            state_dir=args.state_dir,
            allow_remote=args.allow_remote,
        )
    except ConfigError as exc:  # speak of the flag, not of the keyword argument
        raise ConfigError(str(exc).replace("allow_remote=True", "--allow-remote")) from None
    try:
        await emulator.start()
    except OSError as exc:
        await emulator.aclose()
        ports = f"--port {args.port}, --mcs-port {args.mcs_port}"
        print(
            f"pullkin emulator: cannot listen on {args.host} ({ports}): {exc.strerror or exc}; "
            "choose other ports, or 0 for any free one",
            file=sys.stderr,
        )
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="pullkin-emulator-account-") as scratch:
            directory = args.state_dir or Path(scratch)
            account_path = directory / _ACCOUNT_FILE
            write_private_json(account_path, emulator.service_account_info)
            config = {**emulator.config(), "service_account_path": str(account_path)}
            if args.print_chromium_flags:
                from pullkin.emulator.chromium import trust_args

                flags = [*emulator.chromium_args(), *trust_args(emulator)]
                sys.stdout.write(shlex.join(flags) + "\n")
            else:
                sys.stdout.write(json.dumps(config) + "\n")
            sys.stdout.flush()
            await stop.wait()
    finally:
        await emulator.aclose()
    return 0
