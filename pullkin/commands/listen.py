"""Receive pushes for the apps in a credentials file; print one JSON object per message.

Each line on stdout is a message as JSON (jq-friendly): sender_id, persistent_id,
from, notification, data, priority, fcm_message_id, collapse_key, sent_at,
message_type, payload (base64url of the decrypted bytes, for non-JSON Web Push
bodies) and raw (what it was parsed from).  The connection is kept alive with
heartbeats and re-established on its own; SIGINT or SIGTERM acknowledges what was
printed, closes cleanly and exits 0.  A message is acknowledged only once its line
is written: if stdout is closed (`| head -n 1`), listen exits 1 at once and that
message comes again next time.  stderr says where it connects, and warns when it
cannot; with -v, connection events and counters go there too.

The credentials FILE is what `pullkin register --credentials FILE` wrote; handled
message ids are kept in it too, so a restart never prints a message twice.

examples:
  pullkin listen --credentials creds.json | jq .notification
  pullkin listen --credentials creds.json --emulator emu.json -v
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from pullkin.client import Pullkin
from pullkin.commands._common import EMULATOR_API_KEY, load_emulator_config
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError
from pullkin.models import Message
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.store import CredentialStore

__all__ = ["configure", "run"]

log = logging.getLogger(__name__)
_STATS_EVERY = 60.0
_WATCH_EVERY = 0.5
_ATTEMPTS_BEFORE_WARNING = 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--credentials", metavar="FILE", help="credentials file (required)")
    parser.add_argument(
        "--sender-id",
        action="append",
        metavar="ID",
        help="only this app (repeatable; default: every app in FILE)",
    )
    parser.add_argument("--emulator", metavar="CONFIG.json", help="use a running pullkin emulator")


def run(args: argparse.Namespace) -> int:
    if not args.credentials:
        raise ConfigError("--credentials FILE is required (written by `pullkin register`)")
    if not Path(args.credentials).exists():
        raise ConfigError(
            f"{args.credentials} does not exist: create it with "
            f"`pullkin register --credentials {args.credentials} …` first"
        )
    endpoints = load_emulator_config(args.emulator)[0] if args.emulator else Endpoints()
    store = CredentialStore.open(args.credentials)
    wanted = args.sender_id or store.sender_ids()
    missing = [sender for sender in wanted if store.get(sender) is None]
    if not wanted or missing:
        raise ConfigError(
            f"{args.credentials} holds no credentials for "
            f"{', '.join(missing) or 'any app'}: run `pullkin register` first"
        )
    if args.emulator is None:
        _refuse_emulator_credentials(store, wanted)
    where = f"{endpoints.mcs_host}:{endpoints.mcs_port}"
    _say(f"listening for {', '.join(wanted)} via MCS {where}; Ctrl-C to stop")
    asyncio.run(_listen(endpoints, store, wanted, where))
    return 0


def _say(text: str) -> None:
    print(f"pullkin listen: {text}", file=sys.stderr, flush=True)


def _refuse_emulator_credentials(store: CredentialStore, senders: list[str]) -> None:
    for sender in senders:
        credentials = store.get(sender)
        config = credentials.config if credentials else None
        if config is not None and config.api_key == EMULATOR_API_KEY:
            raise ConfigError(
                f"app {sender} in {store.path} was registered on a pullkin emulator; "
                "Google does not know it: pass --emulator CONFIG.json"
            )


async def _listen(
    endpoints: Endpoints, store: CredentialStore, senders: list[str], where: str
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Pullkin(endpoints, store=store) as client:
        client.on_notification()(_print)
        client.on_error(_report)
        for sender in senders:
            credentials = store.get(sender)
            if credentials is not None:
                await client.add_app(sender, credentials)
        runner = asyncio.create_task(client.run())
        watcher = asyncio.create_task(_watch_connection(client, where))
        while not stop.is_set() and not runner.done():
            try:
                await asyncio.wait_for(stop.wait(), _STATS_EVERY)
            except asyncio.TimeoutError:
                log.info("state %s, %s", client.state.value, client.stats)
        watcher.cancel()
        await client.stop()
        await runner
        log.info("stopped; %s", client.stats)


async def _watch_connection(client: Pullkin, where: str) -> None:
    """Say once when the first connection is made, or that it keeps failing, and why."""
    while client.stats.logins == 0:
        if client.stats.reconnects >= _ATTEMPTS_BEFORE_WARNING:
            _say(
                f"still not connected to {where} after {client.stats.reconnects} attempts "
                "(the warnings above say why); retrying. Credentials made by `pullkin "
                "register --emulator` need `--emulator CONFIG.json` here too"
            )
            return
        await asyncio.sleep(_WATCH_EVERY)
    _say(f"connected to {where}")


def _print(message: Message, stanza: DataMessageStanza) -> None:
    document = message.to_json()
    try:
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except OSError as exc:
        # Nobody reads the messages any more.  Returning would mark this one handled
        # and acknowledge it; ending now, like a kill, leaves it (and anything not yet
        # durable) to be delivered again next time.
        _say(f"cannot write to stdout ({exc.strerror or exc}); stopping")
        os._exit(1)


def _report(error: Exception, stanza: DataMessageStanza | None) -> None:
    pid = stanza.persistent_id if stanza is not None else "-"
    log.warning("message %s: %s", pid, error)
