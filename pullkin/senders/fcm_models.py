"""Typed FCM HTTP v1 messages and the one pure function that encodes them.

The models mirror firebase-admin's ``messaging`` classes (so its users find the same
names) but are frozen dataclasses validated in ``__post_init__``: a bad field raises
``InvalidArgumentError`` (vendor ``"fcm"``, no ``http_status``) naming the field,
before any request (facts: protocol/fcm-send.md §1).  The v1 JSON request
body (``pullkin.senders.fcm_encode``); ``payload_size`` is the 4096-byte check.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pullkin.errors import InvalidArgumentError

__all__ = [
    "MAX_PAYLOAD",
    "MAX_TOPIC_PAYLOAD",
    "MAX_TTL",
    "AndroidConfig",
    "AndroidFcmOptions",
    "AndroidNotification",
    "ApnsConfig",
    "ApnsFcmOptions",
    "FcmOptions",
    "LightSettings",
    "Message",
    "Notification",
    "WebpushConfig",
    "WebpushFcmOptions",
    "duration_seconds",
    "normalize_topic",
    "payload_size",
]

MAX_PAYLOAD = 4096
MAX_TOPIC_PAYLOAD = 2048
MAX_TTL = 2_419_200  # four weeks, in seconds

Duration = int | float | _dt.timedelta | str

_TOPIC = re.compile(r"[a-zA-Z0-9\-_.~%]+")
_LABEL = re.compile(r"[a-zA-Z0-9\-_.~%]{1,50}")
_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_ARGB = re.compile(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?")
_CONDITION_TOPIC = re.compile(r"'([^']*)'\s+in\s+topics")
_RESERVED_EXACT = frozenset({"from", "message_type"})
_URGENCIES = frozenset({"very-low", "low", "normal", "high"})


def _fail(message: str) -> None:
    raise InvalidArgumentError(message, vendor="fcm", code="INVALID_ARGUMENT")


def _check(condition: bool, message: str) -> None:
    if not condition:
        _fail(message)


def _check_strings(owner: str, mapping: Mapping[str, Any]) -> None:
    _check(isinstance(mapping, Mapping), f"{owner} must be a dict of str to str")
    for key, value in mapping.items():
        _check(isinstance(key, str), f"{owner} keys must be str, got {key!r}")
        if not isinstance(value, str):
            _fail(
                f"{owner}[{key!r}] must be a str, got {type(value).__name__}: "
                f"FCM data values are strings (convert it, e.g. str(value) or json.dumps)"
            )


def _check_data(owner: str, data: Mapping[str, Any]) -> None:
    _check_strings(owner, data)
    for key in data:
        lower = key.lower()
        reserved = lower in _RESERVED_EXACT or lower.startswith(("google", "gcm"))
        _check(not reserved, f"{owner} key {key!r} is reserved by FCM; rename it")


def _check_optional_str(owner: str, **values: Any) -> None:
    for name, value in values.items():
        _check(value is None or isinstance(value, str), f"{owner}.{name} must be a str")


def duration_seconds(owner: str, value: Duration) -> float:
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        _check(match is not None, f'{owner} must be a duration like "3600s" or "3.5s"')
        assert match is not None
        seconds = float(f"{match[1]}.{match[2] or 0}")
    elif isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidArgumentError(
            f"{owner} must be seconds (int/float), a timedelta or a string like '60s'",
            vendor="fcm",
            code="INVALID_ARGUMENT",
        )
    _check(math.isfinite(seconds), f"{owner} must be finite")
    _check(seconds >= 0, f"{owner} must not be negative")
    return seconds


def normalize_topic(topic: str) -> str:
    """The bare topic name (``/topics/`` prefix removed), validated."""
    _check(isinstance(topic, str), "topic must be a str")
    name = topic[len("/topics/") :] if topic.startswith("/topics/") else topic
    _check(
        _TOPIC.fullmatch(name) is not None,
        f"topic {topic!r} is invalid: use letters, digits and - _ . ~ % only",
    )
    return name


def _check_label(owner: str, label: str | None) -> None:
    if label is not None:
        _check(
            isinstance(label, str) and _LABEL.fullmatch(label) is not None,
            f"{owner}.analytics_label must be 1-50 of letters, digits and - _ . ~ %",
        )


# --- cross-platform parts ---------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """The basic notification every platform shows."""

    title: str | None = None
    body: str | None = None
    image: str | None = None

    def __post_init__(self) -> None:
        _check_optional_str("Notification", title=self.title, body=self.body, image=self.image)


@dataclass(frozen=True)
class FcmOptions:
    analytics_label: str | None = None

    def __post_init__(self) -> None:
        _check_label("FcmOptions", self.analytics_label)


# --- Android ------------------------------------------------------------------------


@dataclass(frozen=True)
class LightSettings:
    """LED colour ``#rrggbb`` or ``#rrggbbaa`` and on/off durations."""

    color: str
    light_on_duration: Duration
    light_off_duration: Duration

    def __post_init__(self) -> None:
        _check(
            isinstance(self.color, str) and _ARGB.fullmatch(self.color) is not None,
            "LightSettings.color must be #rrggbb or #rrggbbaa",
        )
        duration_seconds("LightSettings.light_on_duration", self.light_on_duration)
        duration_seconds("LightSettings.light_off_duration", self.light_off_duration)


@dataclass(frozen=True)
class AndroidNotification:
    """Android display options (FCM ``AndroidNotification``)."""

    title: str | None = None
    body: str | None = None
    icon: str | None = None
    color: str | None = None
    sound: str | None = None
    tag: str | None = None
    click_action: str | None = None
    body_loc_key: str | None = None
    body_loc_args: Sequence[str] = ()
    title_loc_key: str | None = None
    title_loc_args: Sequence[str] = ()
    channel_id: str | None = None
    ticker: str | None = None
    sticky: bool | None = None
    event_time: _dt.datetime | None = None
    local_only: bool | None = None
    notification_priority: Literal["min", "low", "default", "high", "max"] | None = None
    default_sound: bool | None = None
    default_vibrate_timings: bool | None = None
    default_light_settings: bool | None = None
    vibrate_timings: Sequence[Duration] = ()
    visibility: Literal["private", "public", "secret"] | None = None
    notification_count: int | None = None
    light_settings: LightSettings | None = None
    image: str | None = None
    proxy: Literal["allow", "deny", "if_priority_lowered"] | None = None

    def __post_init__(self) -> None:
        owner = "AndroidNotification"
        if self.color is not None:
            _check(_COLOR.fullmatch(str(self.color)) is not None, f"{owner}.color must be #rrggbb")
        _check(
            not self.body_loc_args or bool(self.body_loc_key),
            f"{owner}.body_loc_key is required when body_loc_args is set",
        )
        _check(
            not self.title_loc_args or bool(self.title_loc_key),
            f"{owner}.title_loc_key is required when title_loc_args is set",
        )
        if self.event_time is not None:
            _check(
                self.event_time.tzinfo is not None,
                f"{owner}.event_time must be timezone-aware (e.g. tzinfo=datetime.timezone.utc)",
            )
        for index, timing in enumerate(self.vibrate_timings):
            duration_seconds(f"{owner}.vibrate_timings[{index}]", timing)
        _check_choice(f"{owner}.notification_priority", self.notification_priority, _PRIORITIES)
        _check_choice(f"{owner}.visibility", self.visibility, ("private", "public", "secret"))
        _check_choice(f"{owner}.proxy", self.proxy, ("allow", "deny", "if_priority_lowered"))
        if self.notification_count is not None:
            _check(
                isinstance(self.notification_count, int) and self.notification_count >= 0,
                f"{owner}.notification_count must be a non-negative int",
            )


_PRIORITIES = ("min", "low", "default", "high", "max")


def _check_choice(owner: str, value: str | None, choices: Sequence[str]) -> None:
    _check(value is None or value in choices, f"{owner} must be one of {', '.join(choices)}")


@dataclass(frozen=True)
class AndroidFcmOptions:
    analytics_label: str | None = None

    def __post_init__(self) -> None:
        _check_label("AndroidFcmOptions", self.analytics_label)


@dataclass(frozen=True)
class AndroidConfig:
    """Android delivery options; ``ttl`` in seconds (0 … 4 weeks), timedelta or "60s"."""

    collapse_key: str | None = None
    priority: Literal["normal", "high"] | None = None
    ttl: Duration | None = None
    restricted_package_name: str | None = None
    data: Mapping[str, str] | None = None
    notification: AndroidNotification | None = None
    fcm_options: AndroidFcmOptions | None = None
    direct_boot_ok: bool | None = None

    def __post_init__(self) -> None:
        _check_choice("AndroidConfig.priority", self.priority, ("normal", "high"))
        if self.ttl is not None:
            seconds = duration_seconds("AndroidConfig.ttl", self.ttl)
            _check(seconds <= MAX_TTL, "AndroidConfig.ttl must be at most 4 weeks (2419200s)")
        if self.data is not None:
            _check_data("AndroidConfig.data", self.data)
        _check_optional_str(
            "AndroidConfig",
            collapse_key=self.collapse_key,
            restricted_package_name=self.restricted_package_name,
        )


# --- Web Push and APNs ----------------------------------------------------------------


@dataclass(frozen=True)
class WebpushFcmOptions:
    """``link`` (HTTPS) opens on click."""

    link: str | None = None
    analytics_label: str | None = None

    def __post_init__(self) -> None:
        if self.link is not None:
            _check(
                isinstance(self.link, str) and self.link.startswith("https://"),
                "WebpushFcmOptions.link must be an https:// URL",
            )
        _check_label("WebpushFcmOptions", self.analytics_label)


@dataclass(frozen=True)
class WebpushConfig:
    """Web Push options: protocol ``headers`` (TTL, Urgency, Topic), ``data``,
    ``notification`` (any Web Notification API properties), ``fcm_options``."""

    headers: Mapping[str, str] | None = None
    data: Mapping[str, str] | None = None
    notification: Mapping[str, Any] | None = None
    fcm_options: WebpushFcmOptions | None = None

    def __post_init__(self) -> None:
        if self.headers is not None:
            _check_strings("WebpushConfig.headers", self.headers)
            lowered = {key.lower(): value for key, value in self.headers.items()}
            if "ttl" in lowered:
                _check(lowered["ttl"].isdigit(), "WebpushConfig.headers['TTL'] must be seconds")
            if "urgency" in lowered:
                _check_choice("WebpushConfig.headers['Urgency']", lowered["urgency"], _URG)
        if self.data is not None:
            _check_data("WebpushConfig.data", self.data)
        if self.notification is not None:
            _check(
                isinstance(self.notification, Mapping) and _json_safe(self.notification),
                "WebpushConfig.notification must be a JSON-serialisable dict",
            )


_URG = tuple(sorted(_URGENCIES))


@dataclass(frozen=True)
class ApnsFcmOptions:
    analytics_label: str | None = None
    image: str | None = None

    def __post_init__(self) -> None:
        _check_label("ApnsFcmOptions", self.analytics_label)


@dataclass(frozen=True)
class ApnsConfig:
    """APNs ``headers`` (apns-priority, apns-expiration, …) and JSON ``payload``."""

    headers: Mapping[str, str] | None = None
    payload: Mapping[str, Any] | None = None
    fcm_options: ApnsFcmOptions | None = None

    def __post_init__(self) -> None:
        if self.headers is not None:
            _check_strings("ApnsConfig.headers", self.headers)
        if self.payload is not None:
            _check(
                isinstance(self.payload, Mapping) and _json_safe(self.payload),
                "ApnsConfig.payload must be a JSON-serialisable dict",
            )
            aps = self.payload.get("aps")
            _check(
                aps is None or isinstance(aps, Mapping), "ApnsConfig.payload['aps'] must be a dict"
            )


# --- the message --------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One FCM message: exactly one of ``token``, ``topic``, ``condition``."""

    token: str | None = None
    topic: str | None = None
    condition: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    notification: Notification | None = None
    android: AndroidConfig | None = None
    webpush: WebpushConfig | None = None
    apns: ApnsConfig | None = None
    fcm_options: FcmOptions | None = None

    def __post_init__(self) -> None:
        targets = [t for t in (self.token, self.topic, self.condition) if t is not None]
        _check(
            len(targets) == 1,
            "Message needs exactly one of token, topic or condition",
        )
        if self.token is not None:
            _check(
                isinstance(self.token, str) and bool(self.token),
                "Message.token must be a non-empty str",
            )
        if self.topic is not None:
            normalize_topic(self.topic)
        if self.condition is not None:
            _check_condition(self.condition)
        _check_data("Message.data", self.data)
        size = payload_size(self)
        limit = MAX_TOPIC_PAYLOAD if self.topic is not None else MAX_PAYLOAD
        _check(
            size <= limit,
            f"Message payload is {size} bytes; FCM allows {limit} "
            f"({'topic messages' if self.topic is not None else 'data + notification'})",
        )


def _check_condition(condition: str) -> None:
    _check(
        isinstance(condition, str) and bool(condition.strip()),
        "Message.condition must not be empty",
    )
    topics = _CONDITION_TOPIC.findall(condition)
    _check(bool(topics), "Message.condition must name topics like \"'news' in topics\"")
    _check(len(topics) <= 5, "Message.condition may combine at most 5 topics")
    for topic in topics:
        normalize_topic(topic)


def _text_size(*values: str | None) -> int:
    return sum(len(v.encode()) for v in values if v)


def _map_size(data: Mapping[str, str] | None) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in (data or {}).items())


def payload_size(message: Message) -> int:
    """Bytes FCM counts against the limit: data keys + values and notification text.

    Platform ``data`` replaces ``Message.data`` on that platform, so the largest
    platform variant counts.
    """
    note = message.notification
    base_note = _text_size(note.title, note.body) if note else 0
    variants = [_map_size(message.data) + base_note]
    if message.android is not None and message.android.data is not None:
        variants.append(_map_size(message.android.data) + base_note)
    if message.webpush is not None and message.webpush.data is not None:
        variants.append(_map_size(message.webpush.data) + base_note)
    return max(variants)


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
