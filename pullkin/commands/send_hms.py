"""Send through Huawei HMS Push Kit, or manage its topics.

  pullkin send hms --token T1 --token T2 --title Hi --body Hello
  pullkin send hms --topic news --data '{"k":"v"}' --validate-only
  pullkin send hms --subscribe news --token T1        (also --unsubscribe, --list-topics T)
  pullkin send hms --call query_subscribe_list --params '{"token":"T1"}'
  pullkin send hms --call send --params '{"message": {"data": "hi", "topic": "news"}}'

Credentials: app_id and app_secret (the OAuth client ID and secret) from
--credentials FILE, --emulator CONFIG.json or PULLKIN_HMS_APP_ID / PULLKIN_HMS_APP_SECRET.
Prints the result as JSON; dead tokens are listed under ``illegal_tokens``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pullkin.commands._send_vendors import (
    add_common_arguments,
    call_method,
    print_json,
    sender_arguments,
)
from pullkin.errors import ConfigError
from pullkin.senders.hms import HmsSender
from pullkin.senders.hms_models import (
    AndroidConfig,
    AndroidNotification,
    ClickAction,
    Message,
    Notification,
)

__all__ = ["configure", "run"]

_FIELDS = ("app_id", "app_secret")
_OPTIONAL = ("push_app_id", "token_url", "api_url")


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "hms", _FIELDS, HmsSender)
    target = parser.add_argument_group("target (one of)")
    target.add_argument("--token", action="append", default=[], help="device token (repeat)")
    target.add_argument("--topic", help="send to the subscribers of a topic")
    target.add_argument(
        "--condition", help="a topic condition, e.g. \"'a' in topics && 'b' in topics\""
    )
    content = parser.add_argument_group("content")
    content.add_argument("--title", help="notification title")
    content.add_argument("--body", help="notification body")
    content.add_argument("--image", help="https URL of a notification image")
    content.add_argument("--data", help="pass-through data (text or JSON)")
    content.add_argument("--ttl", type=int, help="seconds the message may wait (≤ 15 days)")
    content.add_argument("--urgency", choices=("HIGH", "NORMAL"))
    content.add_argument("--validate-only", action="store_true", help="dry run: check only")
    topics = parser.add_argument_group("topics").add_mutually_exclusive_group()
    topics.add_argument("--subscribe", metavar="TOPIC", help="subscribe the --token(s) to TOPIC")
    topics.add_argument("--unsubscribe", metavar="TOPIC", help="unsubscribe the --token(s)")
    topics.add_argument("--list-topics", metavar="TOKEN", help="the topics TOKEN subscribes to")


def run(args: argparse.Namespace) -> int:
    arguments = sender_arguments(args, "hms", "HMS", _FIELDS, _OPTIONAL)
    result = asyncio.run(_run(args, arguments))
    print_json(result)
    return 0


def build_message(args: argparse.Namespace) -> Message:
    if sum(bool(target) for target in (args.token, args.topic, args.condition)) != 1:
        raise ConfigError("give exactly one target: --token (repeatable), --topic or --condition")
    notification = None
    android = AndroidConfig(ttl=args.ttl, urgency=args.urgency)
    if args.title or args.body or args.image:
        notification = Notification(title=args.title, body=args.body, image=args.image)
        android = AndroidConfig(
            ttl=args.ttl,
            urgency=args.urgency,
            notification=AndroidNotification(click_action=ClickAction(type=3)),
        )
    elif not args.data:
        raise ConfigError("give --title/--body (a notification) or --data (a data message)")
    return Message(
        data=args.data,
        notification=notification,
        android=android,
        token=args.token or None,
        topic=args.topic,
        condition=args.condition,
    )


async def _run(args: argparse.Namespace, arguments: dict[str, Any]) -> Any:
    async with HmsSender(**arguments) as hms:
        if args.call:
            return await call_method(hms, args.call, args.params)
        if args.subscribe:
            return await hms.subscribe_topic(args.subscribe, args.token)
        if args.unsubscribe:
            return await hms.unsubscribe_topic(args.unsubscribe, args.token)
        if args.list_topics:
            return await hms.query_subscribe_list(args.list_topics)
        return await hms.send(build_message(args), validate_only=args.validate_only)
