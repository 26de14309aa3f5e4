"""Azure Notification Hubs fake: SAS-checked sends, installations and registrations.

Mounted under ``/azure/<hub>/`` as one route named ``azure`` (so ``emu.faults
.http_error("azure", 429, retry_after=…)`` hits every call).  It follows the
checklist of vendors/azure-nh.md §8: every request needs a SAS token whose HMAC
verifies over the ``sr`` it carries, whose ``se`` is in the future and whose
decoded ``sr`` is a prefix of the logical URL ``https://<namespace>/<hub>/…`` — the
namespace is the connection string's, which is what makes a real hub's token valid
here although requests go to 127.0.0.1 (the sender's ``base_url``).

Sends (native, template, direct, direct batch, scheduled) land in
``emu.inbox("azure")``.  Matching fcmv1/gcm targets whose handle is an emulator FCM
token are forwarded into the emulated FCM, so a pullkin receiver gets them; other
platforms are only recorded.  A test send (``?test``) answers the
``NotificationOutcome`` of up to 10 targets.  Scheduled sends are recorded, never
delivered.  ``fake(emu)`` gives the stores.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pullkin.emulator.vendors import _azure_checks as checks
from pullkin.emulator.vendors import _azure_store as store
from pullkin.emulator.vendors._support import publish_credentials
from pullkin.errors import InvalidArgumentError, PullkinError
from pullkin.senders.azure_models import TagExpression, tag_expression
from pullkin.senders.azure_records import (
    Installation,
    Registration,
    RegistrationResult,
    outcome_xml,
)

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["AzureFake", "add_routes", "fake"]

NAMESPACE = "pullkin-emulator.servicebus.windows.net"
KEY_NAME = "DefaultFullSharedAccessSignature"
HUB = "pullkin-hub"
API = "2020-06"
MAX_TEST_RESULTS = 10
SENT = "The Notification was successfully sent to the Push Notification System"

_FAKES: weakref.WeakKeyDictionary[Emulator, AzureFake] = weakref.WeakKeyDictionary()


@dataclass
class AzureFake:
    """The fake hub's memory: registrations, installations, scheduled sends."""

    key: str
    hub: str = HUB
    registrations: dict[str, Registration] = field(default_factory=dict)
    installations: dict[str, Installation] = field(default_factory=dict)
    scheduled: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://{NAMESPACE}/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={self.key}"
        )

    def new_id(self) -> str:
        return f"{time.time_ns() // 1000:x}{next(self._ids):06d}"


def fake(emu: Emulator) -> AzureFake:
    """The Azure fake of a running emulator."""
    return _FAKES[emu]


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Mount the fake and publish ``emu.vendor("azure")`` (connection_string,
    hub_name, base_url)."""
    state = AzureFake(key=secrets.token_urlsafe(32) + "=")
    _FAKES[emu] = state
    publish_credentials(
        emu,
        "azure",
        {"connection_string": state.connection_string, "hub_name": state.hub},
        {"base_url": "/azure/"},
    )
    app.router.add_route("*", "/azure/{hub}/{tail:.*}", _handler(emu, state), name="azure")


# --- authentication ---------------------------------------------------------------------


def check_sas(value: str | None, key: str, logical_url: str, now: float) -> str | None:
    """Why *value* does not authorise *logical_url*, or None when it does (the fake's
    own check, independent of the sender's signing: ``_azure_checks.check_sas``)."""
    return checks.check_sas(value, key, KEY_NAME, logical_url, now)


# --- routing ------------------------------------------------------------------------------


def _handler(emu: Emulator, state: AzureFake) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        hub, tail = request.match_info["hub"], request.match_info["tail"]
        logical = f"https://{NAMESPACE}/{hub}/{tail}"
        problem = check_sas(request.headers.get("Authorization"), state.key, logical, time.time())
        if problem is not None:
            return store.error(401, problem)
        if hub != state.hub:
            return store.error(404, f"no notification hub named {hub!r}")
        route = _route(request.method, tail.rstrip("/").split("/"))
        if route is None:
            return store.error(404, f"no such resource: {request.method} /{tail}")
        action, args = route
        try:
            return await action(emu, state, request, *args)
        except InvalidArgumentError as exc:
            return store.error(400, str(exc.args[0]))

    return handle


_Action = Callable[..., Awaitable[web.StreamResponse]]


def _route(method: str, parts: list[str]) -> tuple[_Action, tuple[str, ...]] | None:
    table: dict[tuple[str, ...], _Action] = {
        ("POST", "messages"): _send,
        ("POST", "messages", "$batch"): _send_batch,
        ("POST", "schedulednotifications"): _schedule,
        ("DELETE", "schedulednotifications", "*"): _cancel,
        ("POST", "registrationIDs"): store.new_registration_id,
        ("POST", "registrations"): store.create_registration,
        ("GET", "registrations"): store.list_registrations,
        ("PUT", "registrations", "*"): store.put_registration,
        ("GET", "registrations", "*"): store.get_registration,
        ("DELETE", "registrations", "*"): store.delete_registration,
        ("GET", "tags", "*", "registrations"): store.list_registrations,
        ("PUT", "installations", "*"): store.put_installation,
        ("PATCH", "installations", "*"): store.patch_installation,
        ("GET", "installations", "*"): store.get_installation,
        ("DELETE", "installations", "*"): store.delete_installation,
    }
    for pattern, action in table.items():
        if pattern[0] != method or len(pattern) - 1 != len(parts):
            continue
        args = tuple(p for p, want in zip(parts, pattern[1:], strict=True) if want == "*")
        if all(want in ("*", p) for p, want in zip(parts, pattern[1:], strict=True)):
            return action, args
    return None


# --- sends ---------------------------------------------------------------------------------


async def _read_notification(request: web.Request) -> tuple[str, bytes]:
    fmt = request.headers.get("ServiceBusNotification-Format", "")
    body = await request.read()
    if len(body) > checks.MAX_BODY:
        raise _TooLarge()
    headers = request.headers
    checks.check_content(fmt, headers.get("Content-Type", ""), headers.get("X-WNS-Type"), body)
    return fmt, body


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="azure")


class _TooLarge(InvalidArgumentError):
    def __init__(self) -> None:
        super().__init__("the notification is larger than 64 KB", vendor="azure")


async def _send(emu: Emulator, state: AzureFake, request: web.Request) -> web.StreamResponse:
    try:
        fmt, body = await _read_notification(request)
    except _TooLarge as exc:
        return store.error(413, str(exc.args[0]))
    direct = "direct" in request.query
    if direct:
        handle = request.headers.get("ServiceBusNotification-DeviceHandle")
        if not handle:
            raise _bad("direct sends need ServiceBusNotification-DeviceHandle")
        targets = [store.Target(fmt, handle, "", body)]
        expression = None
    else:
        expression = _expression(request)
        targets = store.match(state, fmt, body, expression)
    outcomes = [_deliver(emu, t) for t in targets]
    notification_id = state.new_id()
    emu.inbox("azure").append(
        {
            "kind": "direct" if direct else "send",
            "format": fmt,
            "tags": expression.text if expression else None,
            "handles": [t.handle for t in targets],
            "body": _decoded(body),
            "headers": _recorded_headers(request),
            "test": "test" in request.query,
            "notification_id": notification_id,
        }
    )
    headers = _created_headers(state, "messages", notification_id)
    if "test" not in request.query:
        return web.Response(status=201, headers=headers)
    results = outcomes[:MAX_TEST_RESULTS]
    success = sum(1 for r in results if r.outcome == SENT)
    xml = outcome_xml(success, len(results) - success, results)
    return web.Response(status=201, body=xml, headers=headers, content_type="application/xml")


def _expression(request: web.Request) -> TagExpression | None:
    tags = request.headers.get("ServiceBusNotification-Tags")
    return tag_expression(tags) if tags else None


def _created_headers(state: AzureFake, kind: str, notification_id: str) -> dict[str, str]:
    location = f"https://{NAMESPACE}/{state.hub}/{kind}/{notification_id}?api-version={API}"
    return {"Location": location, **store.tracking_headers()}


def _recorded_headers(request: web.Request) -> dict[str, str]:
    keep = ("X-WNS-Type", "ServiceBusNotification-ScheduleTime", "apns-push-type", "Auth", "P256DH",
            "X-WindowsPhone-Target", "X-NotificationClass")  # fmt: skip
    return {k: request.headers[k] for k in keep if k in request.headers}


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


async def _send_batch(emu: Emulator, state: AzureFake, request: web.Request) -> web.StreamResponse:
    if "direct" not in request.query:
        raise _bad("$batch sends need the direct query parameter")
    fmt = request.headers.get("ServiceBusNotification-Format", "")
    parts = checks.parse_multipart(request.headers.get("Content-Type", ""), await request.read())
    try:
        handles = json.loads(parts["devices"].body)
    except (KeyError, ValueError):
        raise _bad("the batch needs a 'devices' part with a JSON array of handles") from None
    if not isinstance(handles, list) or not 0 < len(handles) <= 1000:
        raise _bad("a direct batch takes 1 to 1000 device handles")
    if "notification" not in parts:
        raise _bad("the batch needs a 'notification' part")
    note = parts["notification"]
    wns_type = request.headers.get("X-WNS-Type")
    checks.check_content(fmt, note.headers.get("content-type", ""), wns_type, note.body)
    for handle in handles:
        _deliver(emu, store.Target(fmt, str(handle), "", note.body))
    notification_id = state.new_id()
    emu.inbox("azure").append(
        {"kind": "batch", "format": fmt, "tags": None, "handles": [str(h) for h in handles],
         "body": _decoded(note.body), "headers": _recorded_headers(request), "test": False,
         "notification_id": notification_id}
    )  # fmt: skip
    headers = _created_headers(state, "messages", notification_id)
    return web.Response(status=201, headers=headers)


async def _schedule(emu: Emulator, state: AzureFake, request: web.Request) -> web.StreamResponse:
    fmt, body = await _read_notification(request)
    when = request.headers.get("ServiceBusNotification-ScheduleTime")
    if not when:
        raise _bad("scheduled sends need ServiceBusNotification-ScheduleTime")
    expression = _expression(request)
    notification_id = state.new_id()
    record = {
        "kind": "scheduled", "format": fmt, "tags": expression.text if expression else None,
        "handles": [], "body": _decoded(body), "headers": _recorded_headers(request),
        "test": False, "notification_id": notification_id,
    }  # fmt: skip
    state.scheduled[notification_id] = record
    emu.inbox("azure").append(record)
    headers = _created_headers(state, "schedulednotifications", notification_id)
    return web.Response(status=201, headers=headers)


async def _cancel(
    emu: Emulator, state: AzureFake, request: web.Request, notification_id: str
) -> web.StreamResponse:
    if state.scheduled.pop(notification_id, None) is None:
        return store.error(404, f"no scheduled notification {notification_id}")
    return web.Response(status=200, headers=store.tracking_headers())


# --- delivery into the emulated FCM ---------------------------------------------------------


def _deliver(emu: Emulator, target: store.Target) -> RegistrationResult:
    platform, handle = target.platform, target.handle
    outcome = SENT
    if platform in ("fcmv1", "gcm") and emu.state.device_of_token(handle) is not None:
        from pullkin.emulator import fcm

        try:
            message = _v1_message(platform, target.body, handle)
            fcm.send_message(emu, emu.firebase_config.project_id, message)
        except (PullkinError, ValueError) as exc:
            outcome = f"The Push Notification System rejected the notification: {exc}"
    return RegistrationResult(platform, handle, target.registration_id, outcome)


def _v1_message(platform: str, body: bytes, token: str) -> dict[str, Any]:
    payload = json.loads(body)
    message: dict[str, Any] = {"token": token}
    if platform == "fcmv1":
        return {**(payload.get("message") or {}), **message}
    # Legacy GCM JSON: data values may be any JSON; FCM v1 wants strings.
    data = payload.get("data")
    if isinstance(data, dict):
        message["data"] = {
            str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()
        }
    note = payload.get("notification")
    if isinstance(note, dict):
        message["notification"] = {k: str(note[k]) for k in ("title", "body", "image") if k in note}
    return message
