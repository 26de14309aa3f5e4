"""A bot: for every push it receives, call a URL and/or send a push back.

    python examples/bot.py --credentials creds.json \\
        --webhook https://example.com/hook \\
        --reply-token <FCM token> --service-account sa.json

``--webhook`` POSTs each message as JSON; ``--reply-token`` answers through FCM HTTP
v1 with the given service account (data ``{"reply_to": <fcm message id>}``).
``--emulator emu.json`` points everything at a local emulator; ``--count N`` exits
after N messages (used by the tests); Ctrl-C stops cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from pullkin import DataMessageStanza, Endpoints, Message, Pullkin
from pullkin.senders import FcmSender
from pullkin.senders.fcm import Message as FcmMessage


async def react(
    message: Message,
    http: aiohttp.ClientSession,
    webhook: str | None,
    sender: FcmSender | None,
    reply_token: str | None,
) -> None:
    if webhook:
        async with http.post(webhook, json=message.to_dict()) as response:
            response.raise_for_status()
    if sender is not None and reply_token:
        reply = {"reply_to": message.fcm_message_id or message.persistent_id or "?"}
        await sender.send(FcmMessage(token=reply_token, data=reply))


async def main() -> None:
    parser = argparse.ArgumentParser(description="React to pushes.")
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--webhook", help="POST each message here as JSON")
    parser.add_argument("--reply-token", help="send a push back to this FCM token")
    parser.add_argument("--service-account", type=Path, help="service account JSON for replies")
    parser.add_argument("--emulator", type=Path, help="JSON printed by `pullkin emulator`")
    parser.add_argument("--count", type=int, help="exit after this many messages")
    args = parser.parse_args()
    endpoints, ssl_context = Endpoints(), ssl.create_default_context()
    if args.emulator:
        config: dict[str, Any] = json.loads(args.emulator.read_text())
        endpoints = Endpoints.from_dict(config["endpoints"], ca_path=config["ca_path"])
        ssl_context = endpoints.ssl_context or ssl_context
    sender = None
    if args.reply_token:
        account = args.service_account or (
            config["service_account_path"] if args.emulator else None
        )
        if account is None:
            parser.error("--reply-token needs --service-account FILE (or --emulator)")
        sender = FcmSender(account, endpoints=endpoints if args.emulator else None)
    done = asyncio.Event()
    handled = 0
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context)) as http,
        Pullkin(endpoints, credentials_path=args.credentials) as client,
    ):

        @client.on_notification()
        async def on_message(message: Message, stanza: DataMessageStanza) -> None:
            nonlocal handled
            await react(message, http, args.webhook, sender, args.reply_token)
            handled += 1
            if args.count is not None and handled >= args.count:
                done.set()

        await client.add_stored_apps()
        await client.wait_connected()
        for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C ends cleanly
            asyncio.get_running_loop().add_signal_handler(signum, done.set)
        print("bot ready", flush=True)
        runner = asyncio.create_task(client.run())
        await done.wait()
        await client.stop()
        await runner
        if sender is not None:
            await sender.aclose()


if __name__ == "__main__":
    asyncio.run(main())
