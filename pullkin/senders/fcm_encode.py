"""Encoding FCM models to the HTTP v1 JSON request body: pure functions, no I/O.

Field names follow the v1 reference (snake_case, which Google's JSON mapping accepts);
enums go out in their upper-case wire form, durations as ``"<seconds>[.<frac>]s"``,
times as RFC 3339 UTC.  Empty parts are omitted.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from pullkin.senders.fcm_models import (
    AndroidConfig,
    AndroidNotification,
    ApnsConfig,
    LightSettings,
    Message,
    WebpushConfig,
    duration_seconds,
    normalize_topic,
)

__all__ = ["encode_message"]


def _duration(seconds: float) -> str:
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    if nanos == 0:
        return f"{whole}s"
    return f"{whole}.{nanos:09d}".rstrip("0") + "s"


def _prune(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None and v != {} and v != []}


def _time(value: _dt.datetime) -> str:
    utc = value.astimezone(_dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _encode_android_notification(n: AndroidNotification) -> dict[str, Any]:
    light = None
    if n.light_settings is not None:
        light = _encode_light(n.light_settings)
    return _prune(
        {
            "title": n.title, "body": n.body, "icon": n.icon, "color": n.color,
            "sound": n.sound, "tag": n.tag, "click_action": n.click_action,
            "body_loc_key": n.body_loc_key, "body_loc_args": list(n.body_loc_args),
            "title_loc_key": n.title_loc_key, "title_loc_args": list(n.title_loc_args),
            "channel_id": n.channel_id, "ticker": n.ticker, "sticky": n.sticky,
            "event_time": _time(n.event_time) if n.event_time else None,
            "local_only": n.local_only,
            "notification_priority": (
                f"PRIORITY_{n.notification_priority.upper()}" if n.notification_priority else None
            ),
            "default_sound": n.default_sound,
            "default_vibrate_timings": n.default_vibrate_timings,
            "default_light_settings": n.default_light_settings,
            "vibrate_timings": [
                _duration(duration_seconds("vibrate_timings", t)) for t in n.vibrate_timings
            ],
            "visibility": n.visibility.upper() if n.visibility else None,
            "notification_count": n.notification_count,
            "light_settings": light,
            "image": n.image,
            "proxy": n.proxy.upper() if n.proxy else None,
        }
    )  # fmt: skip


def _encode_light(light: LightSettings) -> dict[str, Any]:
    hex_ = light.color[1:]
    alpha = int(hex_[6:8], 16) / 255 if len(hex_) == 8 else 1.0
    rgb = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    return {
        "color": {"red": rgb[0], "green": rgb[1], "blue": rgb[2], "alpha": alpha},
        "light_on_duration": _duration(duration_seconds("light_on", light.light_on_duration)),
        "light_off_duration": _duration(duration_seconds("light_off", light.light_off_duration)),
    }


def _encode_android(a: AndroidConfig) -> dict[str, Any]:
    return _prune(
        {
            "collapse_key": a.collapse_key,
            "priority": a.priority.upper() if a.priority else None,
            "ttl": _duration(duration_seconds("ttl", a.ttl)) if a.ttl is not None else None,
            "restricted_package_name": a.restricted_package_name,
            "data": dict(a.data) if a.data is not None else None,
            "notification": (
                _encode_android_notification(a.notification) if a.notification else None
            ),
            "fcm_options": _prune({"analytics_label": a.fcm_options.analytics_label})
            if a.fcm_options
            else None,
            "direct_boot_ok": a.direct_boot_ok,
        }
    )


def _encode_webpush(w: WebpushConfig) -> dict[str, Any]:
    options = None
    if w.fcm_options is not None:
        options = _prune(
            {"link": w.fcm_options.link, "analytics_label": w.fcm_options.analytics_label}
        )
    return _prune(
        {
            "headers": dict(w.headers) if w.headers is not None else None,
            "data": dict(w.data) if w.data is not None else None,
            "notification": dict(w.notification) if w.notification is not None else None,
            "fcm_options": options,
        }
    )


def _encode_apns(a: ApnsConfig) -> dict[str, Any]:
    options = None
    if a.fcm_options is not None:
        options = _prune(
            {"analytics_label": a.fcm_options.analytics_label, "image": a.fcm_options.image}
        )
    return _prune(
        {
            "headers": dict(a.headers) if a.headers is not None else None,
            "payload": dict(a.payload) if a.payload is not None else None,
            "fcm_options": options,
        }
    )


def encode_message(message: Message, *, validate_only: bool = False) -> dict[str, Any]:
    """The v1 ``messages:send`` request body for *message* (pure; no I/O)."""
    note = message.notification
    body: dict[str, Any] = _prune(
        {
            "token": message.token,
            "topic": normalize_topic(message.topic) if message.topic is not None else None,
            "condition": message.condition,
            "data": dict(message.data),
            "notification": _prune({"title": note.title, "body": note.body, "image": note.image})
            if note
            else None,
            "android": _encode_android(message.android) if message.android else None,
            "webpush": _encode_webpush(message.webpush) if message.webpush else None,
            "apns": _encode_apns(message.apns) if message.apns else None,
            "fcm_options": _prune({"analytics_label": message.fcm_options.analytics_label})
            if message.fcm_options
            else None,
        }
    )
    request: dict[str, Any] = {"message": body}
    if validate_only:
        request["validate_only"] = True
    return request
