"""Huawei HMS Push Kit: the pure encoder, ``Message`` → Huawei's JSON.

``encode_message`` is the one function that knows the wire format.  It writes every
field the caller set — ``False``, ``0`` and empty lists included — and leaves out
only ``None`` (the seed SDK also drops falsy values and several fields it does not
know).  ``send_body`` adds ``validate_only`` and the token chunk, and enforces the
4096-byte limit, which Huawei counts without the token list.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from pullkin.errors import InvalidArgumentError
from pullkin.senders._common import dumps
from pullkin.senders.hms_android import (
    AndroidConfig,
    AndroidNotification,
    BadgeNotification,
    Button,
    ClickAction,
    LightSettings,
    ttl_seconds,
)
from pullkin.senders.hms_models import (
    ApnsAlert,
    ApnsAps,
    ApnsConfig,
    ApnsHeaders,
    Message,
    Notification,
    WebPushConfig,
    WebPushNotification,
)

__all__ = ["MAX_BODY_BYTES", "dumps", "encode_message", "send_body"]

#: Huawei's limit on the message body, not counting the token list (80300008).
MAX_BODY_BYTES = 4096


def _prune(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``None`` values: unset means "let Huawei apply its default"."""
    return {key: value for key, value in fields.items() if value is not None}


def _maybe(value: Any, encode: Any) -> Any:
    return None if value is None else encode(value)


def _list(value: Sequence[Any] | None) -> list[Any] | None:
    return None if value is None else list(value)


def _rfc3339(value: _dt.datetime | str) -> str:
    if isinstance(value, str):
        return value
    utc = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def _notification(n: Notification) -> dict[str, Any]:
    return _prune({"title": n.title, "body": n.body, "image": n.image})


def _click_action(c: ClickAction) -> dict[str, Any]:
    return _prune(
        {
            "type": c.type,
            "intent": c.intent,
            "action": c.action,
            "url": c.url,
            "rich_resource": c.rich_resource,
        }
    )


def _badge(b: BadgeNotification) -> dict[str, Any]:
    return _prune({"add_num": b.add_num, "set_num": b.set_num, "class": b.clazz})


def _light(settings: LightSettings) -> dict[str, Any]:
    c = settings.color
    return {
        "color": {"alpha": c.alpha, "red": c.red, "green": c.green, "blue": c.blue},
        "light_on_duration": settings.light_on_duration,
        "light_off_duration": settings.light_off_duration,
    }


def _button(b: Button) -> dict[str, Any]:
    return _prune(
        {
            "name": b.name,
            "action_type": b.action_type,
            "intent_type": b.intent_type,
            "intent": b.intent,
            "data": b.data,
        }
    )


def _lang_keys(keys: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {key: dict(languages) for key, languages in keys.items()}


#: Huawei requires a click action; the seed SDK leaves it optional: open the app.
_OPEN_APP = ClickAction(type=3)


def _android_notification(n: AndroidNotification) -> dict[str, Any]:
    return _prune(
        {
            "title": n.title,
            "body": n.body,
            "icon": n.icon,
            "color": n.color,
            "sound": n.sound,
            "default_sound": n.default_sound,
            "tag": n.tag,
            "click_action": _click_action(n.click_action or _OPEN_APP),
            "body_loc_key": n.body_loc_key,
            "body_loc_args": _list(n.body_loc_args),
            "title_loc_key": n.title_loc_key,
            "title_loc_args": _list(n.title_loc_args),
            "multi_lang_key": _maybe(n.multi_lang_key, _lang_keys),
            "channel_id": n.channel_id,
            "notify_summary": n.notify_summary,
            "image": n.image,
            "style": n.style,
            "big_title": n.big_title,
            "big_body": n.big_body,
            "auto_clear": n.auto_clear,
            "notify_id": n.notify_id,
            "group": n.group,
            "badge": _maybe(n.badge, _badge),
            "ticker": n.ticker,
            "auto_cancel": n.auto_cancel,
            "when": _maybe(n.when, _rfc3339),
            "local_only": n.local_only,
            "importance": n.importance,
            "use_default_vibrate": n.use_default_vibrate,
            "use_default_light": n.use_default_light,
            "vibrate_config": _list(n.vibrate_config),
            "visibility": n.visibility,
            "light_settings": _maybe(n.light_settings, _light),
            "foreground_show": n.foreground_show,
            "inbox_content": _list(n.inbox_content),
            "buttons": _maybe(n.buttons, lambda bs: [_button(b) for b in bs]),
            "profile_id": n.profile_id,
        }
    )


def _android(a: AndroidConfig) -> dict[str, Any]:
    return _prune(
        {
            "collapse_key": a.collapse_key,
            "urgency": a.urgency,
            "category": a.category,
            "ttl": _maybe(a.ttl, lambda t: f"{ttl_seconds(t)}s"),
            "bi_tag": a.bi_tag,
            "receipt_id": a.receipt_id,
            "fast_app_target": a.fast_app_target,
            "target_user_type": a.target_user_type,
            "data": a.data,
            "notification": _maybe(a.notification, _android_notification),
        }
    )


def _merge_custom(owner: str, base: dict[str, Any], custom: Mapping[str, Any] | None) -> None:
    for key, value in (custom or {}).items():
        if key in base:
            raise InvalidArgumentError(
                f"{owner}.custom_data key {key!r} clashes with a standard key", vendor="hms"
            )
        base[key] = value


def _apns_alert(alert: ApnsAlert | str) -> Any:
    if isinstance(alert, str):
        return alert
    encoded = _prune(
        {
            "title": alert.title,
            "subtitle": alert.subtitle,
            "body": alert.body,
            "loc-key": alert.loc_key,
            "loc-args": _list(alert.loc_args),
            "title-loc-key": alert.title_loc_key,
            "title-loc-args": _list(alert.title_loc_args),
            "action-loc-key": alert.action_loc_key,
            "launch-image": alert.launch_image,
        }
    )
    _merge_custom("ApnsAlert", encoded, alert.custom_data)
    return encoded


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _aps(aps: ApnsAps) -> dict[str, Any]:
    encoded = _prune(
        {
            "alert": _maybe(aps.alert, _apns_alert),
            "badge": aps.badge,
            "sound": aps.sound,
            "content-available": _flag(aps.content_available),
            "category": aps.category,
            "thread-id": aps.thread_id,
            "mutable-content": _flag(aps.mutable_content),
        }
    )
    _merge_custom("ApnsAps", encoded, aps.custom_data)
    return encoded


def _apns_headers(h: ApnsHeaders) -> dict[str, Any]:
    return _prune(
        {
            "authorization": h.authorization,
            "apns-id": h.apns_id,
            "apns-expiration": _maybe(h.apns_expiration, str),
            "apns-priority": h.apns_priority,
            "apns-topic": h.apns_topic,
            "apns-collapse-id": h.apns_collapse_id,
        }
    )


def _apns(config: ApnsConfig) -> dict[str, Any]:
    payload: dict[str, Any] | None = None
    if config.payload is not None:
        payload = {"aps": _aps(config.payload.aps)}
        _merge_custom("ApnsPayload", payload, config.payload.custom_data)
    hms_options = config.hms_options
    return _prune(
        {
            "headers": _maybe(config.headers, _apns_headers),
            "payload": payload,
            "hms_options": _maybe(
                hms_options, lambda o: _prune({"target_user_type": o.target_user_type})
            ),
        }
    )


def _webpush_notification(n: WebPushNotification) -> dict[str, Any]:
    return _prune(
        {
            "title": n.title,
            "body": n.body,
            "icon": n.icon,
            "image": n.image,
            "lang": n.lang,
            "tag": n.tag,
            "badge": n.badge,
            "dir": n.dir,
            "vibrate": _list(n.vibrate),
            "renotify": n.renotify,
            "require_interaction": n.require_interaction,
            "silent": n.silent,
            "timestamp": n.timestamp,
            "actions": _maybe(
                n.actions,
                lambda acts: [
                    _prune({"action": a.action, "title": a.title, "icon": a.icon}) for a in acts
                ],
            ),
            "data": n.data,
        }
    )


def _webpush(config: WebPushConfig) -> dict[str, Any]:
    headers = config.headers
    return _prune(
        {
            "headers": _maybe(
                headers,
                lambda h: _prune(
                    {"ttl": _maybe(h.ttl, str), "topic": h.topic, "urgency": h.urgency}
                ),
            ),
            "data": config.data,
            "notification": _maybe(config.notification, _webpush_notification),
            "hms_options": _maybe(config.hms_options, lambda o: _prune({"link": o.link})),
        }
    )


def _data(value: str | Mapping[str, Any]) -> str:
    if isinstance(value, str):
        return value
    return dumps(dict(value)).decode()


def encode_message(message: Message) -> dict[str, Any]:
    """``message`` as Huawei's JSON object (the whole token list included)."""
    return _prune(
        {
            "data": _maybe(message.data, _data),
            "notification": _maybe(message.notification, _notification),
            "android": _maybe(message.android, _android),
            "apns": _maybe(message.apns, _apns),
            "webpush": _maybe(message.webpush, _webpush),
            "token": _list(message.token),
            "topic": message.topic,
            "condition": message.condition,
        }
    )


def send_body(
    encoded: Mapping[str, Any], validate_only: bool, tokens: Sequence[str] | None = None
) -> bytes:
    """The ``messages:send`` body for one request (with *tokens* as its token chunk).

    Raises ``InvalidArgumentError`` when the message without its tokens exceeds 4096 bytes.
    """
    message = {key: value for key, value in encoded.items() if key != "token"}
    size = len(dumps(message))
    if size > MAX_BODY_BYTES:
        raise InvalidArgumentError(
            f"HMS message is {size} bytes without its tokens; Huawei allows "
            f"{MAX_BODY_BYTES}: shorten data or notification texts",
            vendor="hms",
            code="80300008",
        )
    if tokens is not None:
        message["token"] = list(tokens)
    return dumps({"validate_only": validate_only, "message": message})
