"""Umeng U-Push: typed payloads (Android, iOS) and the send policy.

Frozen dataclasses validated in ``__post_init__`` against vendors/umeng.md §3; a bad
value raises ``InvalidArgumentError`` naming the field.  ``to_json`` gives Umeng's JSON with
its quirks: boolean-like Android fields are the *strings* ``"true"``/``"false"``,
iOS flags are ``1``, policy times are ``"yyyy-MM-dd HH:mm:ss"`` in Beijing time.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pullkin.errors import InvalidArgumentError
from pullkin.senders._common import dumps

__all__ = [
    "AFTER_OPEN",
    "AndroidBody",
    "AndroidPayload",
    "IosAlert",
    "IosAps",
    "IosPayload",
    "Payload",
    "Policy",
    "payload_json",
]

AFTER_OPEN = ("go_app", "go_url", "go_activity", "go_custom")
#: Payload size limits in UTF-8 bytes of the compact JSON (2022 when exceeded).
MAX_ANDROID_PAYLOAD = 1840
MAX_IOS_PAYLOAD = 2012
#: Umeng reads policy times as Beijing time.
BEIJING = _dt.timezone(_dt.timedelta(hours=8), "CST")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="umeng")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message, vendor="umeng")


def _http_url(owner: str, value: str | None) -> None:
    if value is not None:
        _require(value.startswith(("http://", "https://")), f"{owner} must start with http(s)://")


def _bool_text(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _prune(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class AndroidBody:
    """``payload.body``.  Notifications need ``ticker``, ``title`` and ``text``;
    messages (``display_type="message"``) need only ``custom``.

    ``after_open``: ``go_app`` (the default), ``go_url`` + ``url``, ``go_activity`` +
    ``activity``, ``go_custom`` + ``custom``.
    """

    ticker: str | None = None
    title: str | None = None
    text: str | None = None
    icon: str | None = None
    large_icon: str | None = None
    img: str | None = None
    sound: str | None = None
    builder_id: int | None = None
    play_vibrate: bool | None = None
    play_lights: bool | None = None
    play_sound: bool | None = None
    after_open: str | None = None
    url: str | None = None
    activity: str | None = None
    custom: str | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        owner = "AndroidBody"
        if self.after_open is not None:
            _require(self.after_open in AFTER_OPEN, f"{owner}.after_open must be in {AFTER_OPEN}")
        if self.after_open == "go_url":
            _require(self.url is not None, f"{owner}.after_open go_url needs a url")
        if self.after_open == "go_activity":
            _require(bool(self.activity), f"{owner}.after_open go_activity needs an activity")
        if self.after_open == "go_custom":
            _require(self.custom is not None, f"{owner}.after_open go_custom needs custom")
        _http_url(f"{owner}.url", self.url)
        _http_url(f"{owner}.img", self.img)
        if self.custom is not None and not isinstance(self.custom, str):
            object.__setattr__(self, "custom", dict(self.custom))

    def to_json(self, display_type: str) -> dict[str, Any]:
        after_open = self.after_open
        if display_type == "notification" and after_open is None:
            after_open = "go_app"
        return _prune(
            {
                "ticker": self.ticker,
                "title": self.title,
                "text": self.text,
                "icon": self.icon,
                "largeIcon": self.large_icon,
                "img": self.img,
                "sound": self.sound,
                "builder_id": self.builder_id,
                "play_vibrate": _bool_text(self.play_vibrate),
                "play_lights": _bool_text(self.play_lights),
                "play_sound": _bool_text(self.play_sound),
                "after_open": after_open,
                "url": self.url,
                "activity": self.activity,
                "custom": self.custom,
            }
        )


@dataclass(frozen=True, kw_only=True)
class AndroidPayload:
    """An Android payload: ``display_type`` ``"notification"`` or ``"message"``.

    ``extra`` key/values reach the app with a notification.
    """

    body: AndroidBody
    display_type: str = "notification"
    extra: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        owner = "AndroidPayload"
        _require(
            self.display_type in ("notification", "message"),
            f"{owner}.display_type must be 'notification' or 'message'",
        )
        if self.display_type == "notification":
            for name in ("ticker", "title", "text"):
                _require(bool(getattr(self.body, name)), f"{owner}: notifications need body.{name}")
        else:
            _require(self.body.custom is not None, f"{owner}: a message needs body.custom")
        if self.extra is not None:
            object.__setattr__(self, "extra", dict(self.extra))

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = {
            "display_type": self.display_type,
            "body": self.body.to_json(self.display_type),
        }
        if self.extra is not None:
            encoded["extra"] = dict(self.extra)
        return encoded


@dataclass(frozen=True)
class IosAlert:
    """``aps.alert`` as a dictionary."""

    title: str | None = None
    subtitle: str | None = None
    body: str | None = None


@dataclass(frozen=True, kw_only=True)
class IosAps:
    """``aps``: an alert unless ``content_available`` (a silent push)."""

    alert: str | IosAlert | None = None
    badge: int | None = None
    sound: str | None = None
    content_available: bool | None = None
    category: str | None = None
    mutable_content: bool | None = None
    thread_id: str | None = None

    def __post_init__(self) -> None:
        _require(
            self.alert is not None or bool(self.content_available),
            "IosAps needs an alert (or content_available=True for a silent push)",
        )
        if self.badge is not None:
            _require(self.badge >= 0, "IosAps.badge must not be negative")

    def to_json(self) -> dict[str, Any]:
        alert: Any = self.alert
        if isinstance(alert, IosAlert):
            alert = _prune({"title": alert.title, "subtitle": alert.subtitle, "body": alert.body})
        return _prune(
            {
                "alert": alert,
                "badge": self.badge,
                "sound": self.sound,
                "content-available": _flag(self.content_available),
                "category": self.category,
                "mutable-content": _flag(self.mutable_content),
                "thread-id": self.thread_id,
            }
        )


@dataclass(frozen=True, kw_only=True)
class IosPayload:
    """An iOS payload: ``aps`` plus custom keys (``d`` and ``p`` are Umeng's own)."""

    aps: IosAps
    custom: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.custom is not None:
            for key in ("aps", "d", "p"):
                _require(key not in self.custom, f"IosPayload.custom must not use the key {key!r}")
            object.__setattr__(self, "custom", dict(self.custom))

    def to_json(self) -> dict[str, Any]:
        return {"aps": self.aps.to_json(), **(self.custom or {})}


Payload = AndroidPayload | IosPayload


def payload_json(payload: Payload) -> dict[str, Any]:
    """The payload object, size-checked (Android 1840 bytes, iOS 2012 bytes)."""
    encoded = payload.to_json()
    size = len(dumps(encoded))
    limit = MAX_ANDROID_PAYLOAD if isinstance(payload, AndroidPayload) else MAX_IOS_PAYLOAD
    _require(size <= limit, f"Umeng payload is {size} bytes; the limit is {limit}: shorten it")
    return encoded


def _time(owner: str, value: _dt.datetime | str) -> _dt.datetime:
    """An aware datetime from a datetime or Umeng's ``yyyy-MM-dd HH:mm:ss`` (Beijing)."""
    if isinstance(value, _dt.datetime):
        _require(value.tzinfo is not None, f"{owner} must be timezone-aware")
        return value
    try:
        return _dt.datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=BEIJING)
    except (TypeError, ValueError):
        raise _invalid(f'{owner} must look like "2024-01-31 08:00:00", got {value!r}') from None


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The send policy.

    ``start_time`` (task messages only: schedules them) and ``expire_time`` are aware
    datetimes or ``"yyyy-MM-dd HH:mm:ss"`` Beijing time; both within 7 days.
    ``max_send_num`` caps delivery per second (≥ 1000); ``out_biz_no`` makes a task
    idempotent; ``apns_collapse_id`` (iOS, ≤ 64 bytes) collapses notifications.
    """

    start_time: _dt.datetime | str | None = None
    expire_time: _dt.datetime | str | None = None
    max_send_num: int | None = None
    out_biz_no: str | None = None
    apns_collapse_id: str | None = None

    def __post_init__(self) -> None:
        start = None if self.start_time is None else _time("Policy.start_time", self.start_time)
        expire = None if self.expire_time is None else _time("Policy.expire_time", self.expire_time)
        if start is not None and expire is not None:
            _require(expire > start, "Policy.expire_time must be after start_time")
        if self.max_send_num is not None:
            _require(self.max_send_num >= 1000, "Policy.max_send_num must be at least 1000")
        if self.apns_collapse_id is not None:
            _require(
                len(self.apns_collapse_id.encode()) <= 64,
                "Policy.apns_collapse_id must be at most 64 bytes",
            )

    def check(self, *, now: _dt.datetime, task: bool) -> None:
        """The rules that depend on the clock and the message class."""
        start = None if self.start_time is None else _time("Policy.start_time", self.start_time)
        expire = None if self.expire_time is None else _time("Policy.expire_time", self.expire_time)
        week = _dt.timedelta(days=7)
        if not task:
            _require(start is None, "Policy.start_time applies to task messages only")
            _require(self.out_biz_no is None, "Policy.out_biz_no applies to task messages only")
        if start is not None:
            _require(start <= now + week, "Policy.start_time must be within 7 days")
        if expire is not None:
            base = max(start or now, now)
            _require(expire > base, "Policy.expire_time must be in the future (after start_time)")
            _require(expire <= base + week, "Policy.expire_time must be within 7 days of sending")

    def to_json(self) -> dict[str, Any]:
        def fmt(value: _dt.datetime | str | None) -> str | None:
            if value is None or isinstance(value, str):
                return value
            return value.astimezone(BEIJING).strftime(_TIME_FORMAT)

        return _prune(
            {
                "start_time": fmt(self.start_time),
                "expire_time": fmt(self.expire_time),
                "max_send_num": self.max_send_num,
                "out_biz_no": self.out_biz_no,
                "apns_collapse_id": self.apns_collapse_id,
            }
        )
