"""Listen for pushes with decorator handlers.

Register first (once), then listen; the credentials file keeps the registration and
the ids of handled messages, so restarts neither change the token nor repeat
messages:

    pullkin register --sender-id ... --app-id ... --api-key ... --project-id ... \\
        --credentials creds.json
    python examples/listen.py --credentials creds.json

Against a local emulator, add ``--emulator emu.json`` (the JSON `pullkin emulator`
prints) to both commands.  Ctrl-C (or SIGTERM) stops cleanly: what was handled is
acknowledged first.  ``--count N`` exits after N messages (used by the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from pullkin import DataMessageStanza, Endpoints, Message, Pullkin


def build(credentials: Path, endpoints: Endpoints, count: int | None) -> Pullkin:
    client = Pullkin(endpoints, credentials_path=credentials)
    received = 0

    @client.on_notification(lambda message, stanza: message.notification is not None)
    async def on_notification(message: Message, stanza: DataMessageStanza) -> None:
        assert message.notification is not None
        print(f"notification: {message.notification.title} — {message.notification.body}")

    @client.on_notification(lambda message, stanza: bool(message.data))
    def on_data(message: Message, stanza: DataMessageStanza) -> None:
        # A plain function runs in a worker thread: it may block without stalling us.
        print(f"data: {json.dumps(message.data, sort_keys=True)}")

    @client.on_notification()
    async def count_and_stop(message: Message, stanza: DataMessageStanza) -> None:
        nonlocal received
        received += 1
        if count is not None and received >= count:
            asyncio.get_running_loop().call_soon(asyncio.ensure_future, client.stop())

    @client.on_error
    def on_error(error: Exception, stanza: DataMessageStanza | None) -> None:
        print(f"could not handle {stanza.persistent_id if stanza else 'a message'}: {error}")

    return client


async def main() -> None:
    parser = argparse.ArgumentParser(description="Print every push for the stored apps.")
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--emulator", type=Path, help="JSON printed by `pullkin emulator`")
    parser.add_argument("--count", type=int, help="exit after this many messages")
    args = parser.parse_args()
    endpoints = Endpoints()
    if args.emulator:
        config = json.loads(args.emulator.read_text())
        endpoints = Endpoints.from_dict(config["endpoints"], ca_path=config["ca_path"])
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C ends cleanly, no traceback
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with build(args.credentials, endpoints, args.count) as client:
        await client.add_stored_apps()
        await client.wait_connected()
        print("listening", flush=True)
        running = asyncio.ensure_future(client.run())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    # Leaving `async with` stopped the client: what was handled is acknowledged first.


if __name__ == "__main__":
    asyncio.run(main())
