"""Baidu Cloud Push: validated request parameters for every REST 3.0 method (pure).

Each builder checks the limits of vendors/baidu.md §4 and the seed's method notes
(``msg_expires`` ≤ 7 days, ``send_time`` more than a minute ahead, ``limit`` 1..100,
tags 1..128 characters, 10 channels per tag call, 10,000 per batch push, 4 KB
messages) and returns the method-specific parameters; the sender adds ``apikey``,
``timestamp``, ``device_type``, ``expires`` and ``sign``.  A violation raises
``InvalidArgumentError`` before any request.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Sequence

from pullkin.errors import InvalidArgumentError
from pullkin.senders.baidu_models import DeployStatus, DeviceType, Msg, encode_msg, is_notification

__all__ = [
    "MAX_BATCH_CHANNELS",
    "MAX_MSG_BYTES",
    "MAX_TAG_CHANNELS",
    "Params",
    "batch_device",
    "channel_id_param",
    "channel_ids_param",
    "device_type_param",
    "invalid",
    "msg_ids_param",
    "non_empty",
    "page",
    "push",
    "records",
    "tag_name",
    "topic_id_param",
]

Params = dict[str, str | int]

MAX_MSG_BYTES = 4096
MAX_MSG_EXPIRES = 7 * 86400
MAX_TAG_CHANNELS = 10
MAX_BATCH_CHANNELS = 10_000
_TOPIC_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_INT32 = 2**31 - 1


def invalid(message: str) -> InvalidArgumentError:
    """The error for a bad argument, raised before any request."""
    return InvalidArgumentError(message, vendor="baidu")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise invalid(message)


def non_empty(name: str, value: str) -> str:
    _require(isinstance(value, str) and bool(value), f"Baidu {name} must be a non-empty string")
    return value


def _int(name: str, value: object, low: int, high: int) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
        f"Baidu {name} must be an integer {low}..{high}, got {value!r}",
    )
    assert isinstance(value, int)
    return value


def _unix(name: str, value: int | _dt.datetime) -> int:
    if isinstance(value, _dt.datetime):
        _require(value.tzinfo is not None, f"Baidu {name} must be a timezone-aware datetime")
        return int(value.timestamp())
    return _int(name, value, 0, 2**40)


def device_type_param(device_type: int | None) -> int | None:
    if device_type is None:
        return None
    _int("device_type", device_type, 3, 4)
    return int(DeviceType(device_type))


def channel_id_param(channel_id: str) -> str:
    _require(
        isinstance(channel_id, str) and channel_id.strip() == channel_id and bool(channel_id),
        f"Baidu channel_id must be a non-empty string without spaces, got {channel_id!r}",
    )
    return channel_id


def channel_ids_param(channel_ids: Sequence[str], limit: int) -> str:
    """A JSON array string of 1..*limit* distinct channel ids."""
    _require(not isinstance(channel_ids, str), "Baidu channel_ids must be a list, not a string")
    ids = [channel_id_param(c) for c in channel_ids]
    _require(0 < len(ids) <= limit, f"Baidu channel_ids must hold 1..{limit} ids, got {len(ids)}")
    _require(len(set(ids)) == len(ids), "Baidu channel_ids must not repeat an id")
    return json.dumps(ids, separators=(",", ":"))


def tag_name(tag: str) -> str:
    _require(
        isinstance(tag, str) and 0 < len(tag) <= 128,
        f"Baidu tag must be 1..128 characters, got {tag!r}",
    )
    return tag


def topic_id_param(topic_id: str) -> str:
    _require(
        isinstance(topic_id, str) and _TOPIC_ID.fullmatch(topic_id) is not None,
        f"Baidu topic_id must be 1..128 letters, digits or '_', got {topic_id!r}",
    )
    return topic_id


def push(
    msg: Msg,
    *,
    now: float,
    msg_type: int | None = None,
    msg_expires: int | None = None,
    deploy_status: int | None = None,
    device_type: int | None = None,
    send_time: int | _dt.datetime | None = None,
    topic_id: str | None = None,
) -> Params:
    """The message parameters shared by the four push methods."""
    text = encode_msg(msg)
    _require(bool(text), "Baidu msg must not be empty")
    size = len(text.encode())
    _require(size <= MAX_MSG_BYTES, f"Baidu msg is {size} bytes; the limit is {MAX_MSG_BYTES}")
    if msg_type is None and is_notification(msg):
        msg_type = 1
    params: Params = {"msg": text}
    if msg_type is not None:
        params["msg_type"] = _int("msg_type", msg_type, 0, 1)
        _require(
            not (msg_type == 0 and is_notification(msg)),
            "Baidu msg_type 0 (pass-through) cannot carry a notification model",
        )
    if msg_expires is not None:
        params["msg_expires"] = _int("msg_expires", msg_expires, 1, MAX_MSG_EXPIRES)
    if deploy_status is not None:
        params["deploy_status"] = int(DeployStatus(_int("deploy_status", deploy_status, 1, 2)))
        _require(
            device_type != DeviceType.ANDROID,
            "Baidu deploy_status applies to iOS only: drop it or use device_type 4",
        )
    if send_time is not None:
        when = _unix("send_time", send_time)
        _require(
            when > now + 60,
            "Baidu send_time must be more than one minute in the future (it creates a timer)",
        )
        params["send_time"] = when
    if topic_id is not None:
        params["topic_id"] = topic_id_param(topic_id)
    return params


def batch_device(channel_ids: Sequence[str]) -> Params:
    return {"channel_ids": channel_ids_param(channel_ids, MAX_BATCH_CHANNELS)}


def page(start: int | None, limit: int | None) -> Params:
    params: Params = {}
    if start is not None:
        params["start"] = _int("start", start, 0, _INT32)
    if limit is not None:
        params["limit"] = _int("limit", limit, 1, 100)
    return params


def records(
    start: int | None,
    limit: int | None,
    range_start: int | _dt.datetime | None,
    range_end: int | _dt.datetime | None,
) -> Params:
    """Paging plus a ``send_time`` window, for the timer and topic record queries."""
    params = page(start, limit)
    first = None if range_start is None else _unix("range_start", range_start)
    last = None if range_end is None else _unix("range_end", range_end)
    if first is not None:
        params["range_start"] = first
    if last is not None:
        params["range_end"] = last
    if first is not None and last is not None:
        _require(first <= last, "Baidu range_start must not be after range_end")
    return params


def msg_ids_param(msg_id: str | Sequence[str]) -> str:
    """One msg_id, or a JSON array of them."""
    if isinstance(msg_id, str):
        _require(bool(msg_id), "Baidu msg_id must not be empty")
        return msg_id
    ids = list(msg_id)
    _require(bool(ids) and all(isinstance(i, str) and i for i in ids), "Baidu msg_id list is empty")
    return json.dumps(ids, separators=(",", ":"))
