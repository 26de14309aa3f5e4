"""Run a receiver fleet: credentials and state in PostgreSQL, messages into a sink.

  pullkin fleet keygen                         print a new fleet key
  pullkin fleet add CREDS.json [...]           import what `pullkin register` wrote
  pullkin fleet run --sink URL                 one worker; start as many as you like
  pullkin fleet status [--devices] [--json]    devices, owners, lease ages, lag

Every subcommand takes --store postgresql://USER@HOST/DB[?schema=NAME] (or
PULLKIN_FLEET_STORE); the schema (default "pullkin") is created and migrated on first
use.  Credentials are stored encrypted with the key in PULLKIN_FLEET_KEY (32 bytes,
base64url: `pullkin fleet keygen`); `add` refuses to store them in the clear unless
--plaintext says so, and no key or token is ever logged.

Workers share the devices evenly through leases renewed every TTL/3 (--ttl, default
15 s).  A worker that dies loses its leases after the TTL and the others take its
devices over with their handled-id windows; SIGTERM or SIGINT hands leases back at
once.  A message is acknowledged to FCM only after the sink confirmed it; a sink that
is down holds acknowledgements back and FCM keeps the messages.

Sinks (--sink):
  redis://HOST:6379/STREAM[?dedup=120&maxlen=N&db=0]   XADD, de-duplicated by id
  nats://HOST:4222/SUBJECT[?stream=NAME&dedup=120]     JetStream, Nats-Msg-Id
  https://HOST/PATH                                    POST, Idempotency-Key header
                                                       (PULLKIN_WEBHOOK_SECRET signs)
Each message is the JSON line `pullkin listen` prints (sender_id: the app's sender
id).

examples:
  export PULLKIN_FLEET_STORE=postgresql://postgres@127.0.0.1/pullkin
  export PULLKIN_FLEET_KEY=$(pullkin fleet keygen)
  pullkin fleet add alice.json bob.json
  pullkin fleet run --sink redis://127.0.0.1:6379/pushes &
  pullkin fleet run --sink redis://127.0.0.1:6379/pushes &
  pullkin fleet status
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

from pullkin.commands._common import load_emulator_config
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError, StoreError
from pullkin.fleet._secrets import FleetKey
from pullkin.fleet.pgstore import PgStore, asyncpg_module
from pullkin.fleet.status import format_status, read_status
from pullkin.local_store import LocalStore
from pullkin.sinks import open_sink
from pullkin.store import IdChanges

__all__ = ["configure", "run"]

_RUN_HELP = """Run one worker: it takes its share of the devices and hands every message
to the sink, acknowledging to FCM only what the sink confirmed.  Run as many as you
like, on as many machines; SIGTERM hands this one's devices to the others at once.

sinks:
  redis://HOST:6379/STREAM[?dedup=120&maxlen=N&db=0]   Redis Streams XADD
  nats://HOST:4222/SUBJECT[?stream=NAME&dedup=120]     NATS JetStream, Nats-Msg-Id
  https://HOST/PATH                                    webhook POST, Idempotency-Key
                                                       (signed with $PULLKIN_WEBHOOK_SECRET)
"""

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="more logging on stderr (-vv: debug)")  # fmt: skip
    store.add_argument(
        "--store", metavar="URL", default=os.environ.get("PULLKIN_FLEET_STORE"),
        help="postgresql://USER@HOST[:PORT]/DB[?schema=NAME] (default: $PULLKIN_FLEET_STORE)",
    )  # fmt: skip
    sub.add_parser("keygen", help="print a new fleet key (for PULLKIN_FLEET_KEY)")
    add = sub.add_parser("add", parents=[store], help="import credentials files into the store")
    add.add_argument("files", nargs="+", metavar="CREDS.json", help="written by pullkin register")
    add.add_argument(
        "--plaintext", action="store_true",
        help="store credentials unencrypted when PULLKIN_FLEET_KEY is not set",
    )  # fmt: skip
    run_ = sub.add_parser(
        "run", parents=[store], help="run one worker until SIGTERM",
        description=_RUN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    run_.add_argument("--sink", metavar="URL", required=True, help="where messages go (below)")
    run_.add_argument("--ttl", type=float, default=15.0, help="lease TTL in seconds (15)")
    run_.add_argument(
        "--window", type=int, default=10_000, metavar="N",
        help="handled ids remembered per app (10000; about 150 bytes of memory each)",
    )  # fmt: skip
    run_.add_argument(
        "--max-devices", type=int, metavar="N",
        help="hold at most N devices (default: the open-file limit, ulimit -n, less 256)",
    )  # fmt: skip
    run_.add_argument("--emulator", metavar="CONFIG.json", help="use a running pullkin emulator")
    run_.add_argument("--sink-ca", metavar="PEM", help="CA to trust for an https:// webhook")
    status = sub.add_parser("status", parents=[store], help="devices, workers, leases, lag")
    status.add_argument("--devices", action="store_true", help="list every device and owner")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.fleet_command is None:
        raise ConfigError("say what to do: pullkin fleet keygen | add | run | status")
    if args.fleet_command == "keygen":
        print(FleetKey.generate()[1])
        return 0
    if not args.store:
        raise ConfigError("--store postgresql://… (or PULLKIN_FLEET_STORE) is required")
    if args.fleet_command == "add":
        missing = [name for name in args.files if not Path(name).is_file()]
        if missing:
            raise ConfigError(f"no credentials file {', '.join(missing)}")
    commands = {"add": _add, "run": _run, "status": _status}
    asyncpg = asyncpg_module()
    try:
        return asyncio.run(commands[args.fleet_command](args))
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from None


def _key() -> FleetKey | None:
    text = os.environ.get("PULLKIN_FLEET_KEY")
    return FleetKey.from_text(text) if text else None


async def _add(args: argparse.Namespace) -> int:
    key = _key()
    if key is None and not args.plaintext:
        raise ConfigError(
            "PULLKIN_FLEET_KEY is not set: set it (`pullkin fleet keygen` makes one) so the "
            "credentials are encrypted in the database, or pass --plaintext"
        )
    store = await PgStore.open(args.store, key=key)
    try:
        for name in args.files:
            await _import(store, name)
    finally:
        await store.aclose()
    return 0


async def _import(store: PgStore, path: str) -> None:
    local = LocalStore.open(path)
    try:
        for sender in await local.sender_ids():
            credentials = await local.get_credentials(sender)
            if credentials is None:
                continue
            key = await store.add_app(sender, credentials)
            ids = await local.load_ids(sender)
            unconfirmed = set(ids.unconfirmed)
            confirmed = [pid for pid in ids.handled if pid not in unconfirmed]
            await store.record_ids([IdChanges(key, ids.handled, confirmed)])
            print(f"added {key} ({len(ids.handled)} handled id(s)) from {path}")
    finally:
        await local.aclose()


async def _run(args: argparse.Namespace) -> int:
    from pullkin.fleet.worker import FleetWorker

    endpoints = load_emulator_config(args.emulator)[0] if args.emulator else Endpoints()
    ssl_context = None
    if args.sink_ca:
        import ssl

        ssl_context = ssl.create_default_context(cafile=args.sink_ca)
    sink = open_sink(
        args.sink, webhook_secret=os.environ.get("PULLKIN_WEBHOOK_SECRET"), ssl_context=ssl_context
    )
    store = await PgStore.open(args.store, key=_key(), window=args.window)
    worker = FleetWorker(
        store, sink, endpoints=endpoints, ttl=args.ttl, max_devices=args.max_devices
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"worker_id": worker.worker_id, "sink": sink.name}), flush=True)
    try:
        await worker.run(stop)
    finally:
        await store.aclose()
    log.info("worker %s stopped; %s", worker.worker_id, worker.figures())
    return 0


async def _status(args: argparse.Namespace) -> int:
    store = await PgStore.open(args.store, key=None)
    try:
        status = await read_status(store, devices=args.devices)
    finally:
        await store.aclose()
    if args.json:
        sys.stdout.write(json.dumps(status) + "\n")
    else:
        sys.stdout.write(format_status(status) + "\n")
    return 0
