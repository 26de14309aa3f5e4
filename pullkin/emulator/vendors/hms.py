"""Huawei HMS Push Kit fake: OAuth token endpoint, ``messages:send`` and topics.

Mounted under ``/hms/`` (routes ``hms_token``, ``hms_send``, ``hms_topic``).  It
behaves like vendors/hms.md §8 says Huawei does: the token form is parsed and the
client id / secret checked (400 ``{"error": 1101, "sub_error": …}``), 1000 tokens per
5 minutes; sends need a live bearer token (401 + 80200001, or 80200003 once it
expired), exactly one target, at most 1000 tokens and 4096 bytes without them;
tokens in ``dead_tokens`` make a partial success (80100000 with the JSON-in-a-string
``msg``) or 80300007.  Accepted sends land in ``emu.inbox("hms")``; ``fake(emu)``
gives the knobs.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pullkin.emulator.vendors._support import Window, publish_credentials

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["HmsFake", "add_routes", "fake"]

_FAKES: weakref.WeakKeyDictionary[Emulator, HmsFake] = weakref.WeakKeyDictionary()
_TOPIC = re.compile(r"[\w\-.~%]{1,900}")
_CONDITION_TOPIC = re.compile(r"'([^']*)'\s+in\s+topics")
_TTL = re.compile(r"(\d+)(\.\d+)?s")
_MAX_TOKENS = 1000
_MAX_BODY = 4096
_MAX_TOPICS_PER_TOKEN = 2000


@dataclass
class _Token:
    app_id: str
    expires_at: float


@dataclass
class HmsFake:
    """State and knobs of the HMS fake.

    ``token_lifetime`` (seconds, the ``expires_in`` handed out), ``token_window``
    (1000 per 300 s), ``send_window`` (requests per second; unlimited by default),
    ``dead_tokens`` (device tokens Huawei calls illegal), ``subscriptions``
    (device token → topic → add date).
    """

    app_id: str
    app_secret: str
    token_lifetime: float = 3600.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    token_window: Window = field(default_factory=lambda: Window(1000, 300.0))
    send_window: Window = field(default_factory=lambda: Window(None, 1.0))
    dead_tokens: set[str] = field(default_factory=set)
    subscriptions: dict[str, dict[str, str]] = field(default_factory=dict)
    access_tokens: dict[str, _Token] = field(default_factory=dict, repr=False)
    token_requests: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def expire_tokens(self) -> None:
        """Every access token handed out so far is now expired (80200003)."""
        for token in self.access_tokens.values():
            token.expires_at = self.clock() - 1

    def revoke_tokens(self) -> None:
        """Forget every access token (80200001)."""
        self.access_tokens.clear()

    def request_id(self) -> str:
        return f"{time.time_ns() // 1000}{next(self._ids):08d}"


def fake(emu: Emulator) -> HmsFake:
    """The HMS fake of a running emulator."""
    return _FAKES[emu]


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Mount the fake on *app* and publish its credentials as ``emu.vendor("hms")``."""
    state = HmsFake(app_id=str(secrets.randbelow(9 * 10**8) + 10**8), app_secret=_secret())
    _FAKES[emu] = state
    publish_credentials(
        emu,
        "hms",
        {"app_id": state.app_id, "app_secret": state.app_secret},
        {"token_url": "/hms/oauth2/v3/token", "api_url": "/hms"},
    )
    app.router.add_post("/hms/oauth2/v3/token", _token_handler(state), name="hms_token")
    app.router.add_post(
        "/hms/v1/{app_id}/messages:send", _send_handler(emu, state), name="hms_send"
    )
    app.router.add_post("/hms/v1/{app_id}/topic:{op}", _topic_handler(state), name="hms_topic")


def _secret() -> str:
    # Real secrets are base64-ish; make sure ours needs percent-encoding in a form.
    return base64.b64encode(secrets.token_bytes(24)).decode() + "+/=&"


# --- OAuth -------------------------------------------------------------------------


def _oauth_error(sub_error: int, description: str) -> web.Response:
    body = {"error": 1101, "sub_error": sub_error, "error_description": description}
    return web.json_response(body, status=400)


def _token_handler(state: HmsFake) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        client_id = str(form.get("client_id", ""))
        secret = str(form.get("client_secret", ""))
        if form.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": 1102, "sub_error": 20001, "error_description": "unsupported grant_type"},
                status=400,
            )
        if not re.fullmatch(r"\d{1,64}", client_id):
            return _oauth_error(20002, "invalid client_id format")
        if client_id != state.app_id:
            return _oauth_error(20003, "client_id not found")
        if not secret:
            return _oauth_error(20171, "client_secret is empty")
        if not secrets.compare_digest(secret.encode(), state.app_secret.encode()):
            return _oauth_error(12304, "invalid client_secret")
        if not state.token_window.allow():
            return web.json_response(
                {"error": 1203, "error_description": "flow control"}, status=503
            )
        state.token_requests += 1
        token = base64.b64encode(secrets.token_bytes(32)).decode()
        state.access_tokens[token] = _Token(client_id, state.clock() + state.token_lifetime)
        body = {
            "access_token": token,
            "expires_in": int(state.token_lifetime),
            "token_type": "Bearer",
        }
        # Huawei escapes "/" as "\/"; a client must parse JSON, not slice text.
        text = json.dumps(body).replace("/", "\\/")
        return web.Response(text=text, content_type="application/json")

    return handler


# --- send --------------------------------------------------------------------------


class _Refusal(Exception):
    """An HMS business error: HTTP status, 8-digit code, message."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _answer(state: HmsFake, status: int, code: str, msg: str, **extra: Any) -> web.Response:
    body = {"code": code, "msg": msg, "requestId": state.request_id(), **extra}
    return web.json_response(body, status=status)


def _authorize(state: HmsFake, request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    token = state.access_tokens.get(header[7:]) if header.startswith("Bearer ") else None
    if token is None or token.app_id != request.match_info["app_id"]:
        raise _Refusal(401, "80200001", "Oauth authentication error")
    if state.clock() >= token.expires_at:
        raise _Refusal(401, "80200003", "Oauth Token expired")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise _Refusal(400, "80100003", "Illegal payload: the body is not JSON") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "80100003", "Illegal payload: the body is not a JSON object")
    return body


def _check_message(message: Any) -> list[str] | None:
    """Validate a ``message``; returns its token list (None for topic/condition)."""
    if not isinstance(message, dict):
        raise _Refusal(400, "80100003", "Illegal payload: message is missing")
    targets = [key for key in ("token", "topic", "condition") if key in message]
    if len(targets) != 1:
        raise _Refusal(400, "80100001", "exactly one of token, topic, condition is required")
    without_tokens = {k: v for k, v in message.items() if k != "token"}
    size = len(json.dumps(without_tokens, separators=(",", ":"), ensure_ascii=False).encode())
    if size > _MAX_BODY:
        raise _Refusal(400, "80300008", "The message body size exceeds the default value")
    _check_android(message.get("android"))
    if "condition" in message:
        topics = _CONDITION_TOPIC.findall(str(message["condition"]))
        if not topics or len(topics) > 5:
            raise _Refusal(400, "80100001", "condition must name 1..5 topics")
    if "topic" in message and not _TOPIC.fullmatch(str(message["topic"])):
        raise _Refusal(400, "80100001", "topic name is invalid")
    tokens = message.get("token")
    if tokens is None:
        return None
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise _Refusal(400, "80100001", "token must be a list of strings")
    if not tokens or len(tokens) > _MAX_TOKENS:
        raise _Refusal(400, "80300010", "The number of tokens must be 1..1000")
    return tokens


def _check_android(android: Any) -> None:
    if android is None:
        return
    if not isinstance(android, dict):
        raise _Refusal(400, "80100003", "android must be an object")
    ttl = android.get("ttl")
    if ttl is not None:
        match = _TTL.fullmatch(str(ttl))
        if match is None or int(match.group(1)) > 1_296_000:
            raise _Refusal(400, "80100001", "android.ttl must be like '86400s', at most 15 days")
    collapse = android.get("collapse_key")
    if collapse is not None and (not isinstance(collapse, int) or not -1 <= collapse <= 100):
        raise _Refusal(400, "80100013", "collapse_key is illegal")
    notification = android.get("notification")
    if isinstance(notification, dict) and "click_action" not in notification:
        raise _Refusal(400, "80100001", "android.notification.click_action is mandatory")


def _send_handler(emu: Emulator, state: HmsFake) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        try:
            _authorize(state, request)
            if not state.send_window.allow():
                return web.json_response(
                    {"msg": "flow control", "requestId": state.request_id()}, status=503
                )
            body = await _json_body(request)
            message = body.get("message")
            tokens = _check_message(message)
        except _Refusal as refusal:
            return _answer(state, refusal.status, refusal.code, refusal.msg)
        assert isinstance(message, dict)
        return _deliver(emu, state, message, tokens, bool(body.get("validate_only", False)))

    return handler


def _deliver(
    emu: Emulator,
    state: HmsFake,
    message: dict[str, Any],
    tokens: list[str] | None,
    validate_only: bool,
) -> web.Response:
    if tokens is None:
        recipients = _topic_recipients(state, message)
        _record(emu, state, message, recipients, validate_only)
        return _answer(state, 200, "80000000", "Success")
    illegal = [t for t in tokens if t in state.dead_tokens]
    good = [t for t in tokens if t not in state.dead_tokens]
    if not good:
        return _answer(state, 400, "80300007", "All the tokens are invalid")
    _record(emu, state, message, good, validate_only)
    if not illegal:
        return _answer(state, 200, "80000000", "Success")
    report = {"success": len(good), "failure": len(illegal), "illegal_tokens": illegal}
    return _answer(state, 200, "80100000", json.dumps(report, separators=(",", ":")))


def _topic_recipients(state: HmsFake, message: dict[str, Any]) -> list[str]:
    topic = message.get("topic")
    if topic is None:
        return []  # conditions are recorded, not evaluated
    return [token for token, topics in state.subscriptions.items() if topic in topics]


def _record(
    emu: Emulator,
    state: HmsFake,
    message: dict[str, Any],
    recipients: list[str],
    validate_only: bool,
) -> None:
    emu.inbox("hms").append(
        {
            "app_id": state.app_id,
            "validate_only": validate_only,
            "message": message,
            "tokens": recipients,
        }
    )


# --- topics -------------------------------------------------------------------------


def _topic_handler(state: HmsFake) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        op = request.match_info["op"]
        try:
            _authorize(state, request)
            body = await _json_body(request)
            if op == "list":
                return _list_topics(state, body)
            if op not in ("subscribe", "unsubscribe"):
                raise _Refusal(404, "80100001", f"unknown topic operation {op!r}")
            return _manage(state, body, subscribe=op == "subscribe")
        except _Refusal as refusal:
            return _answer(state, refusal.status, refusal.code, refusal.msg)

    return handler


def _manage(state: HmsFake, body: dict[str, Any], *, subscribe: bool) -> web.Response:
    topic, tokens = body.get("topic"), body.get("tokenArray")
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise _Refusal(400, "80100001", "topic name is invalid")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise _Refusal(400, "80100001", "tokenArray must be a non-empty list of tokens")
    if len(tokens) > _MAX_TOKENS:
        raise _Refusal(400, "80300010", "tokenArray holds more than 1000 tokens")
    errors = []
    for index, token in enumerate(tokens):
        topics = state.subscriptions.setdefault(token, {})
        if token in state.dead_tokens:
            errors.append({"index": index, "reason": "80300007"})
        elif not subscribe:
            topics.pop(topic, None)
        elif topic not in topics and len(topics) >= _MAX_TOPICS_PER_TOKEN:
            errors.append({"index": index, "reason": "80100001"})
        else:
            topics.setdefault(topic, time.strftime("%Y-%m-%d"))
    return _answer(
        state, 200, "80000000", "Success",
        successCount=len(tokens) - len(errors), failureCount=len(errors), errors=errors,
    )  # fmt: skip


def _list_topics(state: HmsFake, body: dict[str, Any]) -> web.Response:
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise _Refusal(400, "80100001", "token is required")
    if token in state.dead_tokens:
        raise _Refusal(400, "80300007", "All the tokens are invalid")
    topics = state.subscriptions.get(token, {})
    listed = [{"name": name, "addDate": date} for name, date in topics.items()]
    return _answer(state, 200, "80000000", "success", topics=listed)
