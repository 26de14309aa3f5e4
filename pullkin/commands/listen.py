"""Receive pushes for the apps in a credentials file; print one JSON object per message.

Each line on stdout is a message as JSON (jq-friendly): sender_id, persistent_id,
from_, notification, data, priority, fcm_message_id, collapse_key, sent_at,
message_type, payload (base64url of the decrypted bytes, for non-JSON Web Push
bodies) and raw (what it was parsed from).  The connection is kept alive with
heartbeats and re-established on its own; SIGINT or SIGTERM acknowledges what was
printed, closes cleanly and exits 0.  With -v, connection events and counters go
to stderr.

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
import signal
import sys

from pullkin.client import Pullkin
from pullkin.commands._common import load_emulator_config
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError
from pullkin.models import Message
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.store import CredentialStore

__all__ = ["configure", "run"]

log = logging.getLogger(__name__)
_STATS_EVERY = 60.0


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
    endpoints = load_emulator_config(args.emulator)[0] if args.emulator else Endpoints()
    store = CredentialStore.open(args.credentials)
    wanted = args.sender_id or store.sender_ids()
    missing = [sender for sender in wanted if store.get(sender) is None]
    if not wanted or missing:
        raise ConfigError(
            f"{args.credentials} holds no credentials for "
            f"{', '.join(missing) or 'any app'}: run `pullkin register` first"
        )
    asyncio.run(_listen(endpoints, store, wanted))
    return 0


async def _listen(endpoints: Endpoints, store: CredentialStore, senders: list[str]) -> None:
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
        while not stop.is_set() and not runner.done():
            try:
                await asyncio.wait_for(stop.wait(), _STATS_EVERY)
            except asyncio.TimeoutError:
                log.info("state %s, %s", client.state.value, client.stats)
        await client.stop()
        await runner
        log.info("stopped; %s", client.stats)


def _print(message: Message, stanza: DataMessageStanza) -> None:
    sys.stdout.write(json.dumps(message.to_dict(), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _report(error: Exception, stanza: DataMessageStanza | None) -> None:
    pid = stanza.persistent_id if stanza is not None else "-"
    log.warning("message %s: %s", pid, error)
