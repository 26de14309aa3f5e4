"""FCM HTTP v1 send semantics, shared by ``POST …/messages:send`` and ``Emulator.send``.

Facts: ../shared/protocol/fcm-send.md §1 and §6.  ``send_message`` validates a v1
``Message`` the way the real service does (unknown fields, value types, exactly one
of ``token``/``topic``/``condition``, reserved data keys, TTL range, the 4096-byte
payload limit — 2048 for topic sends), finds the recipients and queues one stanza per
device (``delivery``).  Anything wrong raises ``GoogleApiError`` carrying Google's
JSON error, with the ``FcmError`` code firebase-admin maps to its exception classes.

Token validity: a well-formed token is ``<id>:APA91b<…>`` (or a legacy bare
``APA91b<…>``) in the base64url alphabet; anything else is ``INVALID_ARGUMENT``, a
well-formed unknown or deleted token is ``UNREGISTERED``.  A condition is evaluated
over every token subscribed to at least one topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pullkin.emulator import delivery, fcm_condition, v1_delivery
from pullkin.emulator.mailbox import new_persistent_id
from pullkin.emulator.routes_common import GoogleApiError, invalid_argument, not_found
from pullkin.emulator.state import FcmRegistration, GcmRegistration

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = [
    "TOKEN_FORMAT",
    "GoogleApiError",
    "Recipient",
    "recipient_of",
    "send_message",
    "sender_matches",
    "validate",
]

TOKEN_FORMAT = re.compile(r"(?:[A-Za-z0-9_-]+:)?APA91b[A-Za-z0-9_-]{20,4096}")
_DURATION = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?s")
_HTTPS = "https://"
_MAX_PAYLOAD = 4096
_MAX_TOPIC_PAYLOAD = 2048
_TARGETS = ("token", "topic", "condition", "fid")
_RESERVED_KEYS = frozenset({"from", "message_type"})

# --- the v1 Message schema (fcm-send.md §1.2; field names as in the discovery doc) ---

_S, _B, _I, _N, _MAP, _STRUCT = "string", "bool", "int", "number", "map", "struct"
_NOTIFICATION = {"title": _S, "body": _S, "image": _S}
_OPTIONS = {"analytics_label": _S}
_COLOR = {"red": _N, "green": _N, "blue": _N, "alpha": _N}
_LIGHT = {"color": _COLOR, "light_on_duration": "duration", "light_off_duration": "duration"}
_ANDROID_NOTIFICATION: dict[str, Any] = {
    **dict.fromkeys(("title", "body", "icon", "color", "sound", "tag", "click_action",
                     "body_loc_key", "title_loc_key", "channel_id", "ticker", "image",
                     "event_time"), _S),
    **dict.fromkeys(("sticky", "local_only", "default_sound", "default_vibrate_timings",
                     "default_light_settings", "bypass_proxy_notification"), _B),
    "body_loc_args": "strings", "title_loc_args": "strings",
    "notification_priority": "enum:PRIORITY_UNSPECIFIED,PRIORITY_MIN,PRIORITY_LOW,"
                             "PRIORITY_DEFAULT,PRIORITY_HIGH,PRIORITY_MAX",
    "visibility": "enum:VISIBILITY_UNSPECIFIED,PRIVATE,PUBLIC,SECRET",
    "proxy": "enum:PROXY_UNSPECIFIED,ALLOW,DENY,IF_PRIORITY_LOWERED",
    "vibrate_timings": "durations", "notification_count": _I, "light_settings": _LIGHT,
}  # fmt: skip
_ANDROID = {
    "collapse_key": _S, "priority": "enum:NORMAL,HIGH", "ttl": "duration",
    "restricted_package_name": _S, "data": _MAP, "notification": _ANDROID_NOTIFICATION,
    "fcm_options": _OPTIONS, "direct_boot_ok": _B, "bandwidth_constrained_ok": _B,
    "restricted_satellite_ok": _B,
}  # fmt: skip
_WEBPUSH = {"headers": _MAP, "data": _MAP, "notification": _STRUCT,
            "fcm_options": {"link": _S, "analytics_label": _S}}  # fmt: skip
_APNS = {"headers": _MAP, "payload": _STRUCT, "live_activity_token": _S,
         "fcm_options": {"analytics_label": _S, "image": _S}}  # fmt: skip
_MESSAGE = {
    "name": _S, "data": _MAP, "notification": _NOTIFICATION, "android": _ANDROID,
    "webpush": _WEBPUSH, "apns": _APNS, "fcm_options": _OPTIONS,
    **dict.fromkeys(_TARGETS, _S),
}  # fmt: skip


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _all_names(schema: Mapping[str, Any]) -> set[str]:
    names = set(schema)
    for spec in schema.values():
        if isinstance(spec, dict):
            names |= _all_names(spec)
    return names


# proto3 JSON accepts lowerCamelCase and the original snake_case names alike.
_SNAKE = {_camel(name): name for name in _all_names(_MESSAGE)}


# --- structural validation -----------------------------------------------------------


def _violation(message: str, field: str, **kwargs: Any) -> GoogleApiError:
    return invalid_argument(message, violations=[(field, message)], **kwargs)


def _bad_value(path: str, type_name: str, value: Any) -> GoogleApiError:
    rendered = json.dumps(value)
    return _violation(f"Invalid value at '{path}' ({type_name}), {rendered}", path)


def _object(value: Any, schema: Mapping[str, Any], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_value(path, "TYPE_MESSAGE", value)
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in schema else _SNAKE.get(key) or str(key)
        if name not in schema:
            text = f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': "
            raise _violation(text + "Cannot find field.", path)
        if item is not None:  # JSON null means "not set" in proto3 JSON
            result[name] = _check(item, schema[name], f"{path}.{name}")
    return result


def _check(value: Any, spec: Any, path: str) -> Any:
    if isinstance(spec, dict):
        return _object(value, spec, path)
    if spec == _S:
        if not isinstance(value, str):
            raise _bad_value(path, "TYPE_STRING", value)
    elif spec == _B:
        if not isinstance(value, bool):
            raise _bad_value(path, "TYPE_BOOL", value)
    elif spec in (_I, _N):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad_value(path, "TYPE_INT32" if spec == _I else "TYPE_FLOAT", value)
    elif spec == _MAP:
        return _string_map(value, path)
    elif spec == _STRUCT:
        if not isinstance(value, dict):
            raise _bad_value(path, "type.googleapis.com/google.protobuf.Struct", value)
    elif spec in ("strings", "durations"):
        if not isinstance(value, list):
            raise _bad_value(path, "TYPE_STRING", value)
        inner = "duration" if spec == "durations" else _S
        return [_check(item, inner, f"{path}[{i}]") for i, item in enumerate(value)]
    elif spec == "duration":
        if not isinstance(value, str) or not _DURATION.fullmatch(value):
            raise _bad_value(path, "type.googleapis.com/google.protobuf.Duration", value)
    elif spec.startswith("enum:"):
        return _enum(value, spec[5:].split(","), path)
    return value


def _string_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _bad_value(path, "TYPE_MESSAGE", value)
    for index, (key, item) in enumerate(value.items()):
        if not isinstance(item, str):
            raise _bad_value(f"{path}[{index}].value", "TYPE_STRING", item)
        if not key:
            raise _bad_value(f"{path}[{index}].key", "TYPE_STRING", key)
    return value


def _enum(value: Any, names: list[str], path: str) -> str:
    # Google's JSON parser takes enum names case-insensitively (firebase-admin sends
    # "high"), or their numbers.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value.upper() in names:
        return value.upper()
    raise _bad_value(path, "TYPE_ENUM", value)


# --- semantic validation -------------------------------------------------------------


class _Plan(NamedTuple):
    """A validated message: snake_case fields, its target and delivery parameters."""

    message: dict[str, Any]
    target: str
    value: str
    web_ttl: int
    android_ttl: int


def _seconds(duration: str) -> int:
    match = _DURATION.fullmatch(duration)
    assert match is not None  # checked by the schema
    return int(match[1]) + (1 if match[2] and int(match[2]) else 0)


def _target(message: Mapping[str, Any]) -> tuple[str, str]:
    present = [name for name in _TARGETS if name in message]
    if not present:
        raise invalid_argument("Recipient of the message is not set.", fcm_code="INVALID_ARGUMENT")
    if len(present) > 1:
        text = (
            "Invalid JSON payload received. Oneof field 'target' is already set. "
            f"Cannot set '{present[1]}'"
        )
        raise _violation(text, "message")
    name = present[0]
    value: str = message[name]
    if name == "topic":
        value = value.removeprefix("/topics/")
        if not fcm_condition.TOPIC_NAME.fullmatch(value):
            raise invalid_argument(f"Invalid topic name: {value!r}", fcm_code="INVALID_ARGUMENT")
    elif name == "condition":
        try:
            fcm_condition.parse(value)
        except ValueError as exc:
            raise invalid_argument(
                f"Invalid condition expression provided: {exc}", fcm_code="INVALID_ARGUMENT"
            ) from None
    elif name == "token" and not TOKEN_FORMAT.fullmatch(value):
        raise invalid_argument(
            "The registration token is not a valid FCM registration token",
            fcm_code="INVALID_ARGUMENT",
        )
    return name, value


def _check_data_keys(data: Mapping[str, str], path: str) -> None:
    for key in data:
        lowered = key.lower()
        if lowered in _RESERVED_KEYS or lowered.startswith(("google", "gcm")):
            raise _violation(
                f"Invalid data payload key: {key!r} is reserved (from, message_type, "
                "google*, gcm*)",
                path,
                fcm_code="INVALID_ARGUMENT",
            )


def _flat_size(mapping: Mapping[str, Any]) -> int:
    size = 0
    for key, value in mapping.items():
        text = value if isinstance(value, str) else json.dumps(value)
        size += len(key.encode()) + len(text.encode())
    return size


def _payload_size(message: Mapping[str, Any]) -> int:
    """Bytes of keys and values a device would receive (the larger platform variant)."""
    data = message.get("data") or {}
    notification = message.get("notification") or {}
    base: int | None = None
    sizes = []
    for platform in ("webpush", "android"):
        config = message.get(platform) or {}
        extra_data, extra_notification = config.get("data"), config.get("notification")
        if not extra_data and not extra_notification:  # the common case: nothing merged
            if base is None:
                base = _flat_size(data) + _flat_size(notification)
            sizes.append(base)
            continue
        merged_data = {**data, **(extra_data or {})}
        merged_notification = {**notification, **(extra_notification or {})}
        sizes.append(_flat_size(merged_data) + _flat_size(merged_notification))
    return max(sizes)


def _ttls(message: Mapping[str, Any]) -> tuple[int, int]:
    android = message.get("android") or {}
    android_ttl = delivery.DEFAULT_TTL
    if "ttl" in android:
        android_ttl = _seconds(android["ttl"])
        if android_ttl > delivery.MAX_TTL:
            raise _violation(
                f"TTL must be at most {delivery.MAX_TTL} seconds (4 weeks)",
                "message.android.ttl",
                fcm_code="INVALID_ARGUMENT",
            )
    headers = (message.get("webpush") or {}).get("headers") or {}
    web_ttl = android_ttl
    if "TTL" in headers:
        text = headers["TTL"]
        if not (text.isascii() and text.isdigit()):
            raise _violation(
                f"Invalid TTL header {text!r}: must be a whole number of seconds",
                "message.webpush.headers",
                fcm_code="INVALID_ARGUMENT",
            )
        web_ttl = min(int(text), delivery.MAX_TTL)
    return web_ttl, android_ttl


def validate(message: Any) -> _Plan:
    """Check a v1 ``Message`` (JSON) like FCM; raises ``GoogleApiError`` (400)."""
    checked = _object(message, _MESSAGE, "message")
    target, value = _target(checked)
    _check_data_keys(checked.get("data") or {}, "message.data")
    for platform in ("android", "webpush"):
        _check_data_keys(
            (checked.get(platform) or {}).get("data") or {}, f"message.{platform}.data"
        )
    link = ((checked.get("webpush") or {}).get("fcm_options") or {}).get("link")
    if link is not None and not link.startswith(_HTTPS):
        raise _violation(
            "WebpushConfig.fcm_options.link must be an HTTPS URL",
            "message.webpush.fcm_options.link",
            fcm_code="INVALID_ARGUMENT",
        )
    limit = _MAX_TOPIC_PAYLOAD if target in ("topic", "condition") else _MAX_PAYLOAD
    size = _payload_size(checked)
    if size > limit:
        raise invalid_argument(
            f"Message is too big: {size} bytes of data and notification keys and values "
            f"(limit {limit} bytes{' for topic messages' if limit < _MAX_PAYLOAD else ''})",
            fcm_code="INVALID_ARGUMENT",
        )
    web_ttl, android_ttl = _ttls(checked)
    return _Plan(checked, target, value, web_ttl, android_ttl)


# --- recipients ----------------------------------------------------------------------


class Recipient(NamedTuple):
    android_id: int
    gcm: GcmRegistration
    fcm: FcmRegistration | None


def _unregistered() -> GoogleApiError:
    return not_found(fcm_code="UNREGISTERED")


def recipient_of(emu: Emulator, token: str) -> Recipient | None:
    """The device a v1 token delivers to, or None if the token is not (or no longer) one."""
    state = emu.state
    fcm = state.fcm.get(token)
    if fcm is not None:
        gcm = state.gcm.get(fcm.gcm_token)
        return None if gcm is None else Recipient(gcm.android_id, gcm, fcm)
    gcm = state.gcm.get(token)
    if gcm is not None and gcm.kind == "android":
        return Recipient(gcm.android_id, gcm, None)
    return None


def sender_matches(emu: Emulator, recipient: Recipient) -> bool:
    if recipient.fcm is not None:
        return recipient.fcm.project_id == emu.firebase_config.project_id
    return recipient.gcm.sender == emu.firebase_config.sender_id


def _token_recipient(emu: Emulator, token: str) -> Recipient:
    recipient = recipient_of(emu, token)
    if recipient is None:
        raise _unregistered()
    if not sender_matches(emu, recipient):
        raise GoogleApiError(
            403, "PERMISSION_DENIED", "SenderId mismatch", fcm_code="SENDER_ID_MISMATCH"
        )
    return recipient


def _topic_recipients(emu: Emulator, plan: _Plan) -> list[Recipient]:
    topics = emu.state.topics
    if plan.target == "topic":
        tokens = sorted(topics.get(plan.value, ()))
    else:
        condition = fcm_condition.parse(plan.value)
        candidates = sorted(set().union(*topics.values())) if topics else []
        tokens = [
            token
            for token in candidates
            if condition.matches(
                frozenset(name for name in condition.topics if token in topics.get(name, ()))
            )
        ]
    found = (recipient_of(emu, token) for token in tokens)
    return [r for r in found if r is not None and sender_matches(emu, r)]


def _recipients(emu: Emulator, plan: _Plan) -> list[Recipient]:
    if plan.target == "token":
        return [_token_recipient(emu, plan.value)]
    if plan.target == "fid":
        found = [
            recipient_of(emu, reg.token) for reg in emu.state.fcm.values() if reg.fid == plan.value
        ]
        found += [
            recipient_of(emu, reg.token)
            for reg in emu.state.gcm.values()
            if reg.kind == "android" and reg.fid == plan.value
        ]
        recipients = [r for r in found if r is not None]
        if not recipients:
            raise _unregistered()
        return recipients
    return _topic_recipients(emu, plan)


# --- delivery ------------------------------------------------------------------------


def send_message(
    emu: Emulator,
    project_id: str,
    message: Any,
    *,
    validate_only: bool = False,
    later: v1_delivery.DeliveryBatch | None = None,
) -> str:
    """Validate and deliver one v1 message; returns its name
    (``projects/<project>/messages/<id>``; for a token send the id is the stanza's
    ``persistent_id``).  With *later*, the message is accepted now and queued with
    the rest of this turn of the event loop (the HTTP route: cheaper per message)."""
    plan = validate(message)
    recipients = _recipients(emu, plan)
    prefix = f"projects/{project_id}/messages/"
    if validate_only:
        return prefix + new_persistent_id()
    persistent_id = new_persistent_id()
    job = v1_delivery.Job(plan, recipients, persistent_id if plan.target == "token" else None)
    if later is not None:
        later.add(job)
    else:
        v1_delivery.deliver(emu, [job])
    return prefix + persistent_id
