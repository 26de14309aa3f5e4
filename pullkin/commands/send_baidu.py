"""Send through Baidu Cloud Push (REST 3.0), or call any of its methods.

  pullkin send baidu --channel-id 3812345678901234567 --title Hi --description Hello
  pullkin send baidu --all --msg "pass-through text" --send-time 1700000000
  pullkin send baidu --tag vip --msg '{"title":"Hi","description":"Hello"}' --msg-type 1
  pullkin send baidu --channel-ids 1,2,3 --msg text --topic-id promo
  pullkin send baidu --call query_tags --params '{"limit": 10}'

Credentials: api_key and secret_key from --credentials FILE, --emulator CONFIG.json
or PULLKIN_BAIDU_API_KEY / PULLKIN_BAIDU_SECRET_KEY.  Prints the result as JSON.
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
from pullkin.senders.baidu import BaiduAndroidNotification, BaiduSender
from pullkin.senders.baidu_models import Msg

__all__ = ["configure", "run"]

_FIELDS = ("api_key", "secret_key")
_OPTIONAL = ("base_url", "device_type")


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "baidu", _FIELDS, BaiduSender)
    target = parser.add_argument_group("target (one of)").add_mutually_exclusive_group()
    target.add_argument("--channel-id", help="one device (push_single_device)")
    target.add_argument("--channel-ids", help="comma-separated devices (push_batch_device)")
    target.add_argument("--tag", help="every device in a tag (push_tags)")
    target.add_argument("--all", action="store_true", help="every device (push_all)")
    content = parser.add_argument_group("content")
    content.add_argument("--msg", help="the msg: text, or notification JSON with --msg-type 1")
    content.add_argument("--title", help="Android notification title (instead of --msg)")
    content.add_argument("--description", help="Android notification text (instead of --msg)")
    content.add_argument("--msg-type", type=int, choices=(0, 1), help="0 message, 1 notification")
    content.add_argument("--device-type", type=int, choices=(3, 4), help="3 Android, 4 iOS")
    content.add_argument("--deploy-status", type=int, choices=(1, 2), help="iOS: 1 dev, 2 prod")
    content.add_argument("--msg-expires", type=int, help="seconds the message may wait (≤ 7 d)")
    content.add_argument("--send-time", type=int, help="Unix time to send at (a timer task)")
    content.add_argument("--topic-id", help="batch/single push topic for statistics")


def run(args: argparse.Namespace) -> int:
    arguments = sender_arguments(args, "baidu", "Baidu", _FIELDS, _OPTIONAL)
    print_json(asyncio.run(_run(args, arguments)))
    return 0


def _msg(args: argparse.Namespace) -> Msg:
    if args.description:
        return BaiduAndroidNotification(title=args.title, description=args.description)
    if args.msg is None:
        raise ConfigError("give --msg, or --description (and --title) for a notification")
    return str(args.msg)


async def _run(args: argparse.Namespace, arguments: dict[str, Any]) -> Any:
    async with BaiduSender(**arguments) as baidu:
        if args.call:
            return await call_method(baidu, args.call, args.params)
        common: dict[str, Any] = {
            "msg_type": args.msg_type,
            "msg_expires": args.msg_expires,
            "deploy_status": args.deploy_status,
            "device_type": args.device_type,
        }
        if args.channel_id:
            return await baidu.push_single_device(
                args.channel_id, _msg(args), topic_id=args.topic_id, **common
            )
        if args.channel_ids:
            ids = [c.strip() for c in args.channel_ids.split(",") if c.strip()]
            return await baidu.push_batch_device(ids, _msg(args), topic_id=args.topic_id, **common)
        if args.tag:
            return await baidu.push_tags(args.tag, _msg(args), send_time=args.send_time, **common)
        if args.all:
            return await baidu.push_all(_msg(args), send_time=args.send_time, **common)
        raise ConfigError("give a target: --channel-id, --channel-ids, --tag, --all (or --call)")
