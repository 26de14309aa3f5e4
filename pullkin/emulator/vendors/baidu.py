"""Baidu Cloud Push REST 3.0 fake: every method of the seed's ``Channel``.

Mounted as ``/baidu/rest/3.0/{class}/{method}`` (one route, ``baidu``).  Like
vendors/baidu.md §8: the sign is recomputed over the *received* parameters minus
``sign`` with PHP ``urlencode`` and the URL as the client saw it (401 + 30603 on a
mismatch); timestamps older than 10 minutes or past ``expires`` get 30606; ranges
and sizes get 30602; channels in ``dead_channels`` get 30608.  It keeps messages,
timers, topics and tags, answers in Baidu's shapes, and records every accepted call
in ``emu.inbox("baidu")``; ``fake(emu)`` gives the knobs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import string
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pullkin.emulator.vendors._support import Window, publish_credentials

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["BaiduFake", "add_routes", "expected_sign", "fake"]

_FAKES: weakref.WeakKeyDictionary[Emulator, BaiduFake] = weakref.WeakKeyDictionary()
_STATUS = {30600: 500, 30601: 405, 30603: 401, 30606: 401, 30605: 404, 30608: 404}
_STATUS |= {30611: 404, 30604: 403, 30699: 503}
_TOPIC_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_SIGN_LIFETIME = 600
# Query-type methods also answer GET (vendors/baidu.md §1); the rest are POST-only.
_QUERIES = ("report/", "app/query_tags", "timer/query_list", "topic/query_list", "tag/device_num")


class _Refusal(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


@dataclass
class BaiduFake:
    """State and knobs of the Baidu fake.

    ``request_window`` (requests per second → 30699; unlimited by default),
    ``max_timers`` (active timer tasks per app, 10), ``dead_channels`` (channel ids
    not bound to the app → 30608).  ``clock`` is Unix time.
    """

    api_key: str
    secret_key: str
    clock: Callable[[], float] = field(default=time.time, repr=False)
    request_window: Window = field(default_factory=lambda: Window(None, 1.0))
    max_timers: int = 10
    dead_channels: set[str] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def new_id(self) -> str:
        return f"{int(self.clock())}{next(self._ids):06d}"

    def active_timers(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [t for t in self.timers.values() if t["send_time"] > now]


def fake(emu: Emulator) -> BaiduFake:
    """The Baidu fake of a running emulator."""
    return _FAKES[emu]


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Mount the fake on *app* and publish its credentials as ``emu.vendor("baidu")``."""
    alphabet = string.ascii_letters + string.digits
    state = BaiduFake(
        api_key="".join(secrets.choice(alphabet) for _ in range(24)),
        secret_key="".join(secrets.choice(alphabet) for _ in range(32)),
    )
    _FAKES[emu] = state
    publish_credentials(
        emu,
        "baidu",
        {"api_key": state.api_key, "secret_key": state.secret_key},
        {"base_url": "/baidu/rest/3.0/"},
    )
    handler = _handler(emu, state)
    app.router.add_route("*", "/baidu/rest/3.0/{cls}/{method}", handler, name="baidu")


def _error(state: BaiduFake, code: int, msg: str) -> web.Response:
    body = {"request_id": int(state.new_id()), "error_code": code, "error_msg": msg}
    return web.json_response(body, status=_STATUS.get(code, 400))


def _handler(emu: Emulator, state: BaiduFake) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        method = f"{request.match_info['cls']}/{request.match_info['method']}"
        if request.method not in ("GET", "POST"):
            return _error(state, 30601, "Method Not Allowed")
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        try:
            _authenticate(state, request, params)
            if not state.request_window.allow():
                raise _Refusal(30699, "Requests Are Too Frequent To Be Temporarily Rejected")
            operation = _METHODS.get(method)
            if operation is None:
                raise _Refusal(30601, f"Method Not Allowed: {method}")
            if request.method == "GET" and not method.startswith(_QUERIES):
                raise _Refusal(30601, "Method Not Allowed: use POST")
            result = operation(state, params)
        except _Refusal as refusal:
            return _error(state, refusal.code, refusal.msg)
        clean = {k: v for k, v in params.items() if k != "sign"}
        emu.inbox("baidu").append({"method": method, "params": clean, "result": result})
        return web.json_response({"request_id": int(state.new_id()), "response_params": result})

    return handler


def _authenticate(state: BaiduFake, request: web.Request, params: dict[str, str]) -> None:
    received = params.get("sign")
    if params.get("apikey") != state.api_key or not received:
        raise _Refusal(30603, "Authentication Failed")
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    url = f"{request.scheme}://{request.host}{request.path}"
    expected = expected_sign(request.method, url, unsigned, state.secret_key)
    if not secrets.compare_digest(expected, received):
        raise _Refusal(30603, "Authentication Failed")
    now = state.clock()
    timestamp = _int(params, "timestamp")
    if timestamp is None:
        raise _Refusal(30602, "Request Params Not Valid: timestamp is required")
    if not now - _SIGN_LIFETIME <= timestamp <= now + _SIGN_LIFETIME:
        raise _Refusal(30606, "Request Time Expires Timeout")
    expires = _int(params, "expires")
    if expires is not None and now > expires:
        raise _Refusal(30606, "Request Time Expires Timeout")
    device_type = _int(params, "device_type")
    if device_type is not None and device_type not in (3, 4):
        raise _Refusal(30602, "Request Params Not Valid: device_type must be 3 or 4")


_PHP_KEEP = frozenset(string.ascii_letters + string.digits + "._-")


def expected_sign(method: str, url: str, params: Mapping[str, str], secret: str) -> str:
    """The sign a Baidu server expects (vendors/baidu.md §2), the fake's own lines, not
    the sender's: MD5 hex of PHP-``urlencode``d METHOD + URL + sorted ``k=v`` + secret."""
    gathered = method.upper() + url + "".join(f"{k}={params[k]}" for k in sorted(params)) + secret
    encoded = "".join(
        chr(b) if chr(b) in _PHP_KEEP else "+" if b == 0x20 else f"%{b:02X}"
        for b in gathered.encode()
    )
    return hashlib.md5(encoded.encode(), usedforsecurity=False).hexdigest()


# --- parameter checks ------------------------------------------------------------


def _int(
    params: Mapping[str, str], name: str, low: int = -(2**62), high: int = 2**62
) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
        raise _Refusal(30602, f"Request Params Not Valid: {name} must be {low}..{high}")
    return int(value)


def _text(params: Mapping[str, str], name: str, max_len: int = 128) -> str:
    value = params.get(name)
    if not value or len(value) > max_len:
        raise _Refusal(30602, f"Request Params Not Valid: {name} must be 1..{max_len} characters")
    return value


def _channel_ids(params: Mapping[str, str], limit: int) -> list[str]:
    try:
        ids = json.loads(params.get("channel_ids", ""))
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not 0 < len(ids) <= limit:
        raise _Refusal(30602, f"Request Params Not Valid: channel_ids must be 1..{limit} ids")
    if not all(isinstance(i, str) and i for i in ids):
        raise _Refusal(30602, "Request Params Not Valid: channel_ids must be strings")
    return ids


def _message(state: BaiduFake, params: Mapping[str, str], *, timer: bool) -> dict[str, Any]:
    msg = params.get("msg")
    if not msg or len(msg.encode()) > 4096:
        raise _Refusal(30602, "Request Params Not Valid: msg must be 1..4096 bytes")
    msg_type = _int(params, "msg_type", 0, 1)
    _int(params, "msg_expires", 1, 7 * 86400)
    _int(params, "deploy_status", 1, 2)
    topic_id = params.get("topic_id")
    if topic_id is not None and not _TOPIC_ID.fullmatch(topic_id):
        raise _Refusal(30602, "Request Params Not Valid: topic_id")
    send_time = _int(params, "send_time") if timer else None
    if send_time is not None and send_time <= state.clock() + 60:
        raise _Refusal(30602, "Request Params Not Valid: send_time must be > now + 60 s")
    return {"msg": msg, "msg_type": msg_type or 0, "send_time": send_time, "topic_id": topic_id}


def _sent(
    state: BaiduFake, message: dict[str, Any], channels: list[str], range_type: int
) -> dict[str, Any]:
    now = int(state.clock())
    msg_id = state.new_id()
    live = [c for c in channels if c not in state.dead_channels]
    state.messages[msg_id] = {
        "msg_id": msg_id, "status": 0, "send_time": now, "success": len(live),
        "total_num": len(channels), "channels": live,
    }  # fmt: skip
    result: dict[str, Any] = {"msg_id": msg_id, "send_time": now}
    if message["send_time"] is not None:
        if len(state.active_timers()) >= state.max_timers:
            raise _Refusal(30604, f"Quota Use Up: at most {state.max_timers} active timers")
        timer_id = state.new_id()
        state.timers[timer_id] = {
            "timer_id": timer_id, "msg": message["msg"], "send_time": message["send_time"],
            "msg_type": message["msg_type"], "range_type": range_type,
            "records": [{"msg_id": msg_id, "status": 1, "send_time": message["send_time"]}],
        }  # fmt: skip
        state.messages[msg_id]["status"] = 1
        result.update(timer_id=timer_id, send_time=message["send_time"])
    topic_id = message["topic_id"]
    if topic_id is not None:
        topic = state.topics.setdefault(
            topic_id,
            {"topic_id": topic_id, "ctime": now, "push_cnt": 0, "ack_cnt": 0, "records": []},
        )
        topic.update(mtime=now, push_cnt=topic["push_cnt"] + len(channels))
        topic["ack_cnt"] += len(live)
        topic["records"].append({"msg_id": msg_id, "status": 0, "send_time": now})
    return result


# --- methods ---------------------------------------------------------------------


def _single_device(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    channel = _text(params, "channel_id", 64)
    message = _message(state, params, timer=False)
    if channel in state.dead_channels:
        raise _Refusal(30608, "Bind Relation Not Found")
    return _sent(state, message, [channel], 0)


def _all(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    return _sent(state, _message(state, params, timer=True), [], 7)


def _tags(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    if params.get("type") != "1":
        raise _Refusal(30602, "Request Params Not Valid: type must be 1")
    tag = state.tags.get(_text(params, "tag"))
    if tag is None:
        raise _Refusal(30611, "Group Not Found")
    return _sent(state, _message(state, params, timer=True), sorted(tag["channels"]), 1)


def _batch(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    channels = _channel_ids(params, 10_000)
    return _sent(state, _message(state, params, timer=False), channels, 5)


def _page(params: Mapping[str, str], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    start = _int(params, "start", 0, 2**31 - 1) or 0
    limit = _int(params, "limit", 1, 100) or 100
    return items[start : start + limit]


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("channels", "records")}


def _msg_status(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    raw = _text(params, "msg_id", 10_000)
    try:
        ids = json.loads(raw) if raw.startswith("[") else [raw]
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _Refusal(30602, "Request Params Not Valid: msg_id")
    found = [_public(state.messages[i]) for i in ids if i in state.messages]
    if not found:
        raise _Refusal(30605, "Data Required Not Found")
    return {"total_num": len(found), "result": found}


def _records(kind: str) -> Callable[[BaiduFake, Mapping[str, str]], dict[str, Any]]:
    def records(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
        key = f"{kind}_id"
        item = (state.timers if kind == "timer" else state.topics).get(_text(params, key))
        if item is None:
            raise _Refusal(30605, "Data Required Not Found")
        first = _int(params, "range_start") or 0
        last = _int(params, "range_end") or 2**62
        chosen = [r for r in item["records"] if first <= r["send_time"] <= last]
        return {key: item[key], "result": _page(params, chosen)}

    return records


def _timer_list(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    timers = [_public(t) for t in state.active_timers()]
    if "timer_id" in params:
        timers = [t for t in timers if t["timer_id"] == params["timer_id"]]
    return {"total_num": len(timers), "result": _page(params, timers)}


def _topic_list(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    topics = [_public(t) for t in state.topics.values()]
    return {"total_num": len(topics), "result": _page(params, topics)}


def _query_tags(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    tags = [_public(t) for t in state.tags.values()]
    if "tag" in params:
        tags = [t for t in tags if t["tag"] == params["tag"]]
    return {"total_num": len(tags), "result": _page(params, tags)}


def _create_tag(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    name = _text(params, "tag")
    if name in state.tags:
        raise _Refusal(30610, "Duplicate Operation")
    state.tags[name] = {
        "tid": len(state.tags) + 1, "tag": name, "info": name, "type": 2,
        "create_time": int(state.clock()), "channels": set(),
    }  # fmt: skip
    return {"tag": name, "result": 0}


def _del_tag(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    name = _text(params, "tag")
    if state.tags.pop(name, None) is None:
        raise _Refusal(30611, "Group Not Found")
    return {"tag": name, "result": 0}


def _tag_devices(add: bool) -> Callable[[BaiduFake, Mapping[str, str]], dict[str, Any]]:
    def tag_devices(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
        tag = state.tags.get(_text(params, "tag"))
        if tag is None:
            raise _Refusal(30611, "Group Not Found")
        results = []
        for channel in _channel_ids(params, 10):
            ok = channel not in state.dead_channels and (add or channel in tag["channels"])
            if ok:
                (tag["channels"].add if add else tag["channels"].discard)(channel)
            results.append({"channel_id": channel, "result": 0 if ok else 1})
        return {"result": results}

    return tag_devices


def _device_num(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    tag = state.tags.get(_text(params, "tag"))
    if tag is None:
        raise _Refusal(30611, "Group Not Found")
    return {"device_num": len(tag["channels"])}


def _today(state: BaiduFake) -> str:
    now = int(state.clock())
    return str(now - now % 86400)


def _statistic_device(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    channels = {c for tag in state.tags.values() for c in tag["channels"]}
    day = {"new_term": len(channels), "del_term": 0, "online_term": len(channels)}
    day |= {"addup_term": len(channels), "total_term": len(channels)}
    return {"total_num": 1, "result": {_today(state): day}}


def _statistic_topic(state: BaiduFake, params: Mapping[str, str]) -> dict[str, Any]:
    topic = state.topics.get(_text(params, "topic_id"))
    if topic is None:
        raise _Refusal(30605, "Data Required Not Found")
    return {"total_num": 1, "result": {_today(state): {"ack": topic["ack_cnt"]}}}


_Method = Callable[[BaiduFake, Mapping[str, str]], dict[str, Any]]
_METHODS: dict[str, _Method] = {
    "push/single_device": _single_device,
    "push/all": _all,
    "push/tags": _tags,
    "push/batch_device": _batch,
    "report/query_msg_status": _msg_status,
    "report/query_timer_records": _records("timer"),
    "report/query_topic_records": _records("topic"),
    "timer/query_list": _timer_list,
    "topic/query_list": _topic_list,
    "app/query_tags": _query_tags,
    "app/create_tag": _create_tag,
    "app/del_tag": _del_tag,
    "tag/add_devices": _tag_devices(add=True),
    "tag/del_devices": _tag_devices(add=False),
    "tag/device_num": _device_num,
    "report/statistic_device": _statistic_device,
    "report/statistic_topic": _statistic_topic,
}
