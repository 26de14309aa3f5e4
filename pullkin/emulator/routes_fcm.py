"""FCM HTTP v1 send and topic management, as firebase-admin calls them.

Facts: ../shared/protocol/fcm-send.md §1, §6.  ``POST /v1/projects/{p}/messages:send``
takes ``{"message": …, "validate_only"|"validateOnly": …}`` with an OAuth bearer
token from ``/token`` (the semantics live in ``fcm.py``).

Topic management has two wire forms, both with the same bearer token:

* the Instance ID API ``POST /iid/v1:batchAdd`` / ``:batchRemove`` with
  ``{"to": "/topics/<t>", "registration_tokens": […]}`` answering
  ``{"results": [{} | {"error": "NOT_FOUND"}, …]}`` (firebase-admin's
  ``*_topic_legacy`` functions);
* per-token ``POST /v1/projects/{p}/registrations/{token}/topicSubscriptions
  ?topic_name=<t>`` (409 ``ALREADY_EXISTS`` when subscribed) and ``DELETE
  …/topicSubscriptions/{t}?allow_missing=true`` (what firebase-admin ≥ 7.7 sends).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pullkin.emulator import fcm, fcm_condition
from pullkin.emulator.routes_common import (
    GoogleApiError,
    check_bearer,
    emulator_of,
    invalid_argument,
    json_response,
    not_found,
    read_json,
)

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["add_routes"]

_SEND_FIELDS = frozenset({"message", "validate_only", "validateOnly"})
_MAX_BATCH = 1000
_JSON = "application/json"


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/projects/{project}/messages:send", _send, name="fcm_send")
    app.router.add_post("/iid/v1:batchAdd", _batch_add, name="iid_add")
    app.router.add_post("/iid/v1:batchRemove", _batch_remove, name="iid_remove")
    subscriptions = "/v1/projects/{project}/registrations/{token}/topicSubscriptions"
    app.router.add_post(subscriptions, _subscribe, name="topic_subscribe")
    app.router.add_delete(subscriptions + "/{topic}", _unsubscribe, name="topic_unsubscribe")


# --- messages:send ----------------------------------------------------------------


async def _send(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    project = request.match_info["project"]
    check_bearer(request, emu, project)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    for key in body:
        if key not in _SEND_FIELDS:
            text = f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            raise invalid_argument(text, violations=[(None, text)])
    validate_only = body.get("validate_only", body.get("validateOnly", False))
    if not isinstance(validate_only, bool):
        text = f"Invalid value at 'validate_only' (TYPE_BOOL), {validate_only!r}"
        raise invalid_argument(text, violations=[("validate_only", text)])
    if "message" not in body:
        raise invalid_argument("Request contains an invalid argument.", fcm_code="INVALID_ARGUMENT")
    name = fcm.send_message(
        emu, project, body["message"], validate_only=validate_only, later=emu.v1_batch
    )
    return web.Response(body=b'{"name": %s}' % json.dumps(name).encode(), content_type=_JSON)


# --- Instance ID batch API --------------------------------------------------------


def _iid_error(status: int, code: str) -> web.Response:
    # The IID service's own error shape: {"error": "<code>"} (what firebase-admin parses).
    return json_response({"error": code}, status=status)


def _token_problem(emu: Emulator, token: Any) -> str | None:
    """None if *token* can join a topic, else the IID per-token error code."""
    if not isinstance(token, str) or not fcm.TOKEN_FORMAT.fullmatch(token):
        return "INVALID_ARGUMENT"
    recipient = fcm.recipient_of(emu, token)
    if recipient is None:
        return "NOT_FOUND"
    if not fcm.sender_matches(emu, recipient):
        return "PERMISSION_DENIED"
    return None


async def _batch(request: web.Request, subscribe: bool) -> web.Response:
    emu = emulator_of(request)
    try:
        check_bearer(request, emu, emu.firebase_config.project_id)
    except GoogleApiError as exc:
        return _iid_error(exc.http_status, exc.status)
    try:
        body = await read_json(request)
    except GoogleApiError:
        return _iid_error(400, "INVALID_ARGUMENT")
    topic = body.get("to") if isinstance(body, dict) else None
    tokens = body.get("registration_tokens") if isinstance(body, dict) else None
    if not isinstance(topic, str) or not topic.startswith("/topics/"):
        return _iid_error(400, "INVALID_ARGUMENT")
    name = topic.removeprefix("/topics/")
    if not fcm_condition.TOPIC_NAME.fullmatch(name):
        return _iid_error(400, "INVALID_ARGUMENT")
    if not isinstance(tokens, list) or not 0 < len(tokens) <= _MAX_BATCH:
        return _iid_error(400, "INVALID_ARGUMENT")
    results: list[dict[str, str]] = []
    for token in tokens:
        problem = _token_problem(emu, token)
        if problem is None:
            _set_subscription(emu, name, token, subscribe)
            results.append({})
        else:
            results.append({"error": problem})
    return json_response({"results": results})


async def _batch_add(request: web.Request) -> web.Response:
    return await _batch(request, subscribe=True)


async def _batch_remove(request: web.Request) -> web.Response:
    return await _batch(request, subscribe=False)


def _set_subscription(emu: Emulator, topic: str, token: str, subscribe: bool) -> bool:
    """Subscribe or unsubscribe; returns whether anything changed."""
    members = emu.state.topics.get(topic, set())
    if (token in members) == subscribe:
        return False
    if subscribe:
        members.add(token)
        emu.state.topics[topic] = members
    else:
        members.discard(token)
        if not members:
            emu.state.topics.pop(topic, None)
    emu.store.put_topic(topic, members)
    return True


# --- v1 topicSubscriptions ----------------------------------------------------------


def _subscription_target(request: web.Request, topic: str) -> tuple[Emulator, str]:
    emu = emulator_of(request)
    check_bearer(request, emu, request.match_info["project"])
    token = request.match_info["token"]
    if not fcm_condition.TOPIC_NAME.fullmatch(topic):
        raise invalid_argument(f"Invalid topic name: {topic!r}")
    problem = _token_problem(emu, token)
    if problem == "INVALID_ARGUMENT":
        raise invalid_argument("The registration token is not a valid FCM registration token")
    if problem == "NOT_FOUND":
        raise not_found()
    if problem is not None:
        raise GoogleApiError(403, "PERMISSION_DENIED", "SenderId mismatch")
    return emu, token


async def _subscribe(request: web.Request) -> web.Response:
    topic = request.query.get("topic_name", "").removeprefix("/topics/")
    emu, token = _subscription_target(request, topic)
    if not _set_subscription(emu, topic, token, subscribe=True):
        raise GoogleApiError(409, "ALREADY_EXISTS", "The token is already subscribed to the topic.")
    return json_response({"name": f"{request.path}/{topic}"})


async def _unsubscribe(request: web.Request) -> web.Response:
    topic = request.match_info["topic"]
    emu, token = _subscription_target(request, topic)
    changed = _set_subscription(emu, topic, token, subscribe=False)
    if not changed and request.query.get("allow_missing", "").lower() != "true":
        raise not_found()
    return json_response({})
