"""Umeng U-Push fake: ``/api/send``, ``/api/status``, ``/api/cancel`` and ``/upload``.

Mounted under ``/umeng/`` (one route, ``umeng``).  Per vendors/umeng.md §8 it finds
the app by ``appkey`` and recomputes ``md5("POST" + url + raw body + secret)`` over
the bytes it received (2007 unsigned, 2027 wrong), checks the timestamp window
(2052 / 2036 / 2028), the type and its targets, payload rules and size (Android
1840 B, iOS 2012 B → 2022), policy times, and the production-mode rate limits
(broadcast 10/day, groupcast 5/min, filecast and customizedcast-by-file 300/hour →
2050).  Tasks move 0 → 1 → 2 as their status is read; cancel makes them 4.
Accepted calls land in ``emu.inbox("umeng")``; ``fake(emu)`` gives the knobs.
"""

from __future__ import annotations

import datetime as _dt
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

__all__ = ["UmengFake", "add_routes", "fake"]

_FAKES: weakref.WeakKeyDictionary[Emulator, UmengFake] = weakref.WeakKeyDictionary()
_TYPES = ("unicast", "listcast", "filecast", "broadcast", "groupcast", "customizedcast")
_BEIJING = _dt.timezone(_dt.timedelta(hours=8))
_TIME = "%Y-%m-%d %H:%M:%S"
_WEEK = _dt.timedelta(days=7)


class _Refusal(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _limits() -> dict[str, Window]:
    return {
        "broadcast": Window(10, 86400.0),
        "groupcast": Window(5, 60.0),
        "filecast": Window(300, 3600.0),
        "customizedcast_file": Window(300, 3600.0),
    }


@dataclass
class UmengFake:
    """State and knobs of the Umeng fake.

    ``limits`` (production-mode windows per task type, shrink them in tests),
    ``dead_tokens`` (device tokens Umeng rejects: 5000 for a unicast, dropped from a
    listcast, 4025 when none is left), ``files``, ``tasks``.  ``clock`` is Unix time.
    """

    app_key: str
    app_master_secret: str
    clock: Callable[[], float] = field(default=time.time, repr=False)
    limits: dict[str, Window] = field(default_factory=_limits)
    dead_tokens: set[str] = field(default_factory=set)
    files: dict[str, list[str]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    out_biz_nos: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{int(self.clock() * 1000)}{next(self._ids):07d}"

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.clock(), _BEIJING)


def fake(emu: Emulator) -> UmengFake:
    """The Umeng fake of a running emulator."""
    return _FAKES[emu]


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Mount the fake on *app* and publish its credentials as ``emu.vendor("umeng")``."""
    state = UmengFake(
        app_key=secrets.token_hex(12),
        app_master_secret="".join(
            secrets.choice(string.ascii_lowercase + string.digits) for _ in range(32)
        ),
    )
    _FAKES[emu] = state
    publish_credentials(
        emu,
        "umeng",
        {"app_key": state.app_key, "app_master_secret": state.app_master_secret},
        {"base_url": "/umeng"},
    )
    app.router.add_post("/umeng/{path:.*}", _handler(emu, state), name="umeng")


def _fail(code: str, msg: str) -> web.Response:
    body = {"ret": "FAIL", "data": {"error_code": code, "error_msg": msg}}
    return web.json_response(body, status=400)


def _handler(emu: Emulator, state: UmengFake) -> Callable[[web.Request], Awaitable[web.Response]]:
    operations: dict[str, Callable[[UmengFake, dict[str, Any]], dict[str, Any]]] = {
        "api/send": _send,
        "api/status": _status,
        "api/cancel": _cancel,
        "upload": _upload,
    }

    async def handler(request: web.Request) -> web.Response:
        operation = operations.get(request.match_info["path"])
        if operation is None:
            raise web.HTTPNotFound()
        raw = await request.read()
        try:
            body = _authenticate(state, request, raw)
            data = operation(state, body)
        except _Refusal as refusal:
            return _fail(refusal.code, refusal.msg)
        emu.inbox("umeng").append({"op": request.match_info["path"], "body": body, **data})
        public = {k: v for k, v in data.items() if k != "recipients"}
        return web.json_response({"ret": "SUCCESS", "data": public})

    return handler


def _authenticate(state: UmengFake, request: web.Request, raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Refusal("2008", "JSON parse error") from None
    if not isinstance(body, dict):
        raise _Refusal("2008", "the body must be a JSON object")
    if not body.get("appkey"):
        raise _Refusal("1000", "appkey is missing")
    if body["appkey"] != state.app_key:
        raise _Refusal("2021", "appkey does not exist")
    received = request.query.get("sign")
    if not received:
        raise _Refusal("2007", "the request is not signed")
    url = f"{request.scheme}://{request.host}{request.path}"
    data = b"POST" + url.encode() + raw + state.app_master_secret.encode()
    expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if not secrets.compare_digest(expected, received):
        raise _Refusal("2027", "signature incorrect")
    _check_timestamp(state, body.get("timestamp"))
    return body


def _check_timestamp(state: UmengFake, value: Any) -> None:
    if value is None or value == "":
        raise _Refusal("2052", "timestamp is missing")
    text = str(value)
    if not re.fullmatch(r"\d{10}|\d{13}", text):
        raise _Refusal("2036", "timestamp must be 10 or 13 digits")
    seconds = int(text) / (1000 if len(text) == 13 else 1)
    if abs(state.clock() - seconds) > 600:
        raise _Refusal("2028", "timestamp expired (valid for 10 minutes)")


# --- send -------------------------------------------------------------------------


def _send(state: UmengFake, body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("type")
    if not kind:
        raise _Refusal("1016", "type is missing")
    if kind not in _TYPES:
        raise _Refusal("2048", f"type {kind!r} is invalid")
    _check_payload(body.get("payload"))
    recipients = _targets(state, kind, body)
    task = kind in ("broadcast", "groupcast", "filecast") or "file_id" in body
    _check_policy(state, body.get("policy"), task)
    production = str(body.get("production_mode", "true")).lower() != "false"
    if task:
        window = "customizedcast_file" if kind == "customizedcast" else kind
        return _new_task(state, body, recipients, production, window)
    return {"msg_id": state.new_id("uu"), "recipients": recipients}


def _new_task(
    state: UmengFake, body: dict[str, Any], recipients: list[str], production: bool, window: str
) -> dict[str, Any]:
    out_biz_no = (body.get("policy") or {}).get("out_biz_no")
    if out_biz_no in state.out_biz_nos:  # the idempotency key: same task, sent once
        return {"task_id": state.out_biz_nos[out_biz_no], "recipients": []}
    if production and not state.limits[window].allow():
        raise _Refusal("2050", f"send frequency limit exceeded for {window}")
    task_id = state.new_id("us")
    start = (body.get("policy") or {}).get("start_time")
    state.tasks[task_id] = {
        "status": 0, "start_time": start, "sent_count": 0, "open_count": 0,
        "dismiss_count": 0, "recipients": recipients,
    }  # fmt: skip
    if out_biz_no is not None:
        state.out_biz_nos[out_biz_no] = task_id
    return {"task_id": task_id, "recipients": recipients}


def _check_payload(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise _Refusal("1001", "payload is missing or not JSON")
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    if "aps" in payload:
        _check_ios(payload, size)
    else:
        _check_android(payload, size)


def _check_ios(payload: dict[str, Any], size: int) -> None:
    aps = payload["aps"]
    if not isinstance(aps, dict) or ("alert" not in aps and aps.get("content-available") != 1):
        raise _Refusal("2025", "aps is invalid: alert is required unless content-available is 1")
    if "d" in payload or "p" in payload:
        raise _Refusal("5002", "the keys d and p are reserved")
    if size > 2012:
        raise _Refusal("2022", "payload too long (iOS: 2012 bytes)")


def _check_android(payload: dict[str, Any], size: int) -> None:
    display = payload.get("display_type")
    if not display:
        raise _Refusal("1004", "display_type is missing")
    if display not in ("notification", "message"):
        raise _Refusal("1019", "display_type is invalid")
    body = payload.get("body")
    if not isinstance(body, dict):
        raise _Refusal("1002", "body is missing")
    if display == "message":
        if "custom" not in body:
            raise _Refusal("1003", "custom is required for a message")
    else:
        for key, code in (("ticker", "1008"), ("title", "1009"), ("text", "1010")):
            if not body.get(key):
                raise _Refusal(code, f"{key} is required for a notification")
        _check_after_open(body)
    if "img" in body and not str(body["img"]).startswith(("http://", "https://")):
        raise _Refusal("1005", "img must be an http(s) URL")
    if size > 1840:
        raise _Refusal("2022", "payload too long (Android: 1840 bytes)")


def _check_after_open(body: dict[str, Any]) -> None:
    after = body.get("after_open", "go_app")
    if after == "go_url":
        if "url" not in body:
            raise _Refusal("1022", "url is required for go_url")
        if not str(body["url"]).startswith(("http://", "https://")):
            raise _Refusal("1007", "url must start with http(s)")
    elif after == "go_activity" and not body.get("activity"):
        raise _Refusal("1024", "activity is required for go_activity")
    elif after == "go_custom" and "custom" not in body:
        raise _Refusal("1003", "custom is required for go_custom")


def _targets(state: UmengFake, kind: str, body: dict[str, Any]) -> list[str]:
    if kind in ("unicast", "listcast"):
        return _device_tokens(state, kind, body)
    if kind == "groupcast":
        flt = body.get("filter")
        if flt is None:
            raise _Refusal("2016", "filter is missing")
        if not isinstance(flt, dict) or not isinstance(flt.get("where"), dict):
            raise _Refusal("2031", "filter is malformed")
        return []
    if kind == "customizedcast":
        if not body.get("alias_type"):
            raise _Refusal("2047", "alias_type is missing")
        if ("alias" in body) == ("file_id" in body):
            raise _Refusal("2049", "give either alias or file_id")
        if "alias" in body:
            aliases = str(body["alias"]).split(",")
            if len(aliases) > 500:
                raise _Refusal("2009", "at most 500 aliases")
            return aliases
    if kind in ("filecast", "customizedcast"):
        if not body.get("file_id"):
            raise _Refusal("2018", "file_id is missing")
        lines = state.files.get(str(body["file_id"]))
        if lines is None:
            raise _Refusal("2019", "file_id not found")
        return list(lines)
    return []  # broadcast


def _device_tokens(state: UmengFake, kind: str, body: dict[str, Any]) -> list[str]:
    text = body.get("device_tokens")
    if not text:
        raise _Refusal("1015", "device_tokens is missing")
    tokens = str(text).split(",")
    if kind == "unicast" and len(tokens) != 1:
        raise _Refusal("1015", "unicast takes exactly one device token")
    if len(tokens) > 500:
        raise _Refusal("2015", "listcast takes at most 500 device tokens")
    if "aps" not in body.get("payload", {}) and any(len(t) != 44 for t in tokens):
        raise _Refusal("4020", "device_token wrong: Android tokens are 44 characters")
    live = [t for t in tokens if t not in state.dead_tokens]
    if not live:
        raise _Refusal("5000" if kind == "unicast" else "4025", "device_token error")
    return live


def _policy_time(policy: Mapping[str, Any], key: str) -> _dt.datetime | None:
    value = policy.get(key)
    if value is None:
        return None
    try:
        return _dt.datetime.strptime(str(value), _TIME).replace(tzinfo=_BEIJING)
    except ValueError:
        raise _Refusal("2002", f"{key} must look like yyyy-MM-dd HH:mm:ss") from None


def _check_policy(state: UmengFake, policy: Any, task: bool) -> None:
    if policy is None:
        return
    if not isinstance(policy, dict):
        raise _Refusal("1027", "policy is not JSON")
    now = state.now()
    start, expire = _policy_time(policy, "start_time"), _policy_time(policy, "expire_time")
    if start is not None and not task:
        raise _Refusal("2039", "start_time applies to task messages only")
    if start is not None and start > now + _WEEK:
        raise _Refusal("2046", "start_time must be within 7 days")
    if expire is not None:
        base = max(start or now, now)
        if expire <= base:
            raise _Refusal("2003", "expire_time must be after now and start_time")
        if expire > base + _WEEK:
            raise _Refusal("2040", "expire_time must be within 7 days of sending")
    max_send = policy.get("max_send_num")
    if max_send is not None and (not isinstance(max_send, int) or max_send < 1000):
        raise _Refusal("1027", "max_send_num must be an integer ≥ 1000")


# --- tasks and files -------------------------------------------------------------------


def _task(state: UmengFake, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    task_id = body.get("task_id")
    if not task_id:
        raise _Refusal("2053", "task_id is missing")
    task = state.tasks.get(str(task_id))
    if task is None:
        raise _Refusal("1014", "task_id not found")
    return str(task_id), task


def _status(state: UmengFake, body: dict[str, Any]) -> dict[str, Any]:
    task_id, task = _task(state, body)
    start = task["start_time"]
    if (
        start is not None
        and _dt.datetime.strptime(start, _TIME).replace(tzinfo=_BEIJING) > state.now()
    ):
        task["status"] = 7
    elif task["status"] in (0, 1, 7):  # each look moves a running task one step on
        task["status"] = {0: 1, 1: 2, 7: 1}[task["status"]]
        if task["status"] == 2:
            task["sent_count"] = len(task["recipients"])
    counts = {k: task[k] for k in ("sent_count", "open_count", "dismiss_count")}
    return {"task_id": task_id, "status": task["status"], **counts}


def _cancel(state: UmengFake, body: dict[str, Any]) -> dict[str, Any]:
    task_id, task = _task(state, body)
    if task["status"] not in (0, 1, 7):
        raise _Refusal("1028", "the task can no longer be cancelled")
    task["status"] = 4
    return {"task_id": task_id}


def _upload(state: UmengFake, body: dict[str, Any]) -> dict[str, Any]:
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise _Refusal("2029", "content is missing")
    if len(content.encode()) > 10 * 1024 * 1024:
        raise _Refusal("2023", "file too large")
    file_id = state.new_id("PF")
    state.files[file_id] = [line for line in content.splitlines() if line]
    return {"file_id": file_id}
