"""Huawei HMS Push Kit: the typed message model (``Message`` and everything in it).

Mirrors the seed SDK's ``push_admin.messaging`` classes (vendors/hms.md §3), as
frozen dataclasses validated in ``__post_init__``: a bad value raises ``InvalidArgumentError``
naming the field, before anything is sent.  The Android types live in
``hms_android`` and are re-exported here; ``hms_encode.encode_message`` turns a
``Message`` into Huawei's JSON without dropping a field the caller set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pullkin.errors import InvalidArgumentError
from pullkin.senders.hms_android import (
    AndroidConfig,
    AndroidNotification,
    BadgeNotification,
    Button,
    ClickAction,
    LightSettings,
    LightSettingsColor,
)

__all__ = [
    "MAX_TOKENS_PER_REQUEST",
    "AndroidConfig",
    "AndroidNotification",
    "ApnsAlert",
    "ApnsAps",
    "ApnsConfig",
    "ApnsHeaders",
    "ApnsHmsOptions",
    "ApnsPayload",
    "BadgeNotification",
    "Button",
    "ClickAction",
    "LightSettings",
    "LightSettingsColor",
    "Message",
    "Notification",
    "WebPushAction",
    "WebPushConfig",
    "WebPushHeaders",
    "WebPushHmsOptions",
    "WebPushNotification",
    "check_topic_name",
]

#: Tokens per ``messages:send`` or topic (un)subscribe request.
MAX_TOKENS_PER_REQUEST = 1000
#: Topics a ``Message.condition`` may mention.
MAX_CONDITION_TOPICS = 5
_TOPIC = re.compile(r"[\w\-.~%]{1,900}")
_CONDITION_TOPIC = re.compile(r"'([^']*)'\s+in\s+topics")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message, vendor="hms")


def _freeze(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _https(owner: str, value: str | None) -> None:
    if value is not None:
        _require(value.startswith("https://"), f"{owner} must be an https:// URL")


def check_topic_name(owner: str, topic: str) -> None:
    """Huawei topic names: 1..900 letters, digits, CJK, ``_ - . ~ %``."""
    _require(
        isinstance(topic, str) and _TOPIC.fullmatch(topic) is not None,
        f"{owner} must be 1..900 letters, digits or _-.~% characters, got {topic!r}",
    )


@dataclass(frozen=True)
class Notification:
    """``message.notification``: the basic title / body / https image."""

    title: str | None = None
    body: str | None = None
    image: str | None = None

    def __post_init__(self) -> None:
        _https("Notification.image", self.image)


# --- APNs (iOS through HMS) --------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ApnsHeaders:
    """APNs request headers (wire names with dashes, e.g. ``apns-topic``).

    ``HEAD_*`` are the wire names, as in the seed's ``APNsHeader`` (which spells the
    topic header ``pns-topic``; this one is right, and a dict given to ``ApnsConfig``
    may use either).
    """

    HEAD_AUTHORIZATION = "authorization"
    HEAD_APNs_ID = "apns-id"
    HEAD_APNs_EXPIRATION = "apns-expiration"
    HEAD_APNs_PRIORITY = "apns-priority"
    HEAD_APNs_TOPIC = "apns-topic"
    HEAD_APNs_COLLAPSE_ID = "apns-collapse-id"

    authorization: str | None = None
    apns_id: str | None = None
    apns_expiration: int | None = None
    apns_priority: str | None = None
    apns_topic: str | None = None
    apns_collapse_id: str | None = None

    def __post_init__(self) -> None:
        if self.apns_priority is not None:
            _require(
                self.apns_priority in ("5", "10"), 'ApnsHeaders.apns_priority must be "5"/"10"'
            )
        if self.apns_collapse_id is not None:
            _require(
                len(self.apns_collapse_id.encode()) <= 64,
                "ApnsHeaders.apns_collapse_id must be at most 64 bytes",
            )
        if self.apns_expiration is not None:
            _require(self.apns_expiration >= 0, "ApnsHeaders.apns_expiration must not be negative")


@dataclass(frozen=True, kw_only=True)
class ApnsAlert:
    """``aps.alert`` as a dictionary; ``custom_data`` adds keys of your own."""

    title: str | None = None
    subtitle: str | None = None
    body: str | None = None
    loc_key: str | None = None
    loc_args: Sequence[str] | None = None
    title_loc_key: str | None = None
    title_loc_args: Sequence[str] | None = None
    action_loc_key: str | None = None
    launch_image: str | None = None
    custom_data: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("loc_args", "title_loc_args"):
            value = getattr(self, name)
            if value is not None:
                _require(not isinstance(value, str), f"ApnsAlert.{name} must be a list")
                _freeze(self, name, tuple(value))


@dataclass(frozen=True, kw_only=True)
class ApnsAps:
    """The ``aps`` dictionary; booleans become APNs' ``1`` flags."""

    alert: ApnsAlert | str | None = None
    badge: int | None = None
    sound: str | None = None
    content_available: bool | None = None
    category: str | None = None
    thread_id: str | None = None
    mutable_content: bool | None = None
    custom_data: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.badge is not None:
            _require(self.badge >= 0, "ApnsAps.badge must not be negative")


@dataclass(frozen=True, kw_only=True)
class ApnsPayload:
    """The APNs payload: ``aps`` plus custom top-level keys."""

    aps: ApnsAps
    custom_data: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.custom_data is not None:
            _require("aps" not in self.custom_data, "ApnsPayload.custom_data must not hold 'aps'")


@dataclass(frozen=True)
class ApnsHmsOptions:
    """``target_user_type``: 1 test, 2 formal, 3 VoIP."""

    target_user_type: int | None = None

    def __post_init__(self) -> None:
        if self.target_user_type is not None:
            _require(
                self.target_user_type in (1, 2, 3), "ApnsHmsOptions.target_user_type must be 1..3"
            )


@dataclass(frozen=True, kw_only=True)
class ApnsConfig:
    """``message.apns``: headers, payload and HMS options for iOS devices.

    ``headers`` may also be a dict keyed by wire name (``ApnsHeaders.HEAD_*``), as
    the seed's ``APNsConfig`` takes it."""

    headers: ApnsHeaders | Mapping[str, Any] | None = None
    payload: ApnsPayload | None = None
    hms_options: ApnsHmsOptions | None = None

    def __post_init__(self) -> None:
        if isinstance(self.headers, Mapping):
            _freeze(self, "headers", _apns_headers_from(self.headers))


_APNS_HEADER_FIELDS = {
    "authorization": "authorization",
    "apns-id": "apns_id",
    "apns-expiration": "apns_expiration",
    "apns-priority": "apns_priority",
    "apns-topic": "apns_topic",
    "pns-topic": "apns_topic",  # the seed's spelling of apns-topic
    "apns-collapse-id": "apns_collapse_id",
}


def _apns_headers_from(headers: Mapping[str, Any]) -> ApnsHeaders:
    fields: dict[str, Any] = {}
    for key, value in headers.items():
        name = _APNS_HEADER_FIELDS.get(str(key).lower())
        _require(name is not None, f"ApnsConfig.headers has an unknown header {key!r}")
        assert name is not None
        fields[name] = (
            _whole(f"ApnsConfig.headers[{key!r}]", value) if key == "apns-expiration" else value
        )
    return ApnsHeaders(**fields)


def _whole(what: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{what} must be whole seconds, got {value!r}", vendor="hms"
        ) from None


# --- Web Push --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebPushHeaders:
    """RFC 8030 headers: ``ttl`` seconds, ``topic``, ``urgency``."""

    ttl: int | None = None
    topic: str | None = None
    urgency: str | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None:
            _require(self.ttl >= 0, "WebPushHeaders.ttl must not be negative")
        if self.urgency is not None:
            _require(
                self.urgency in ("very-low", "low", "normal", "high"),
                "WebPushHeaders.urgency must be very-low, low, normal or high",
            )


@dataclass(frozen=True)
class WebPushAction:
    """A notification action button (the seed's ``WebPushNotificationAction``)."""

    action: str | None = None
    title: str | None = None
    icon: str | None = None


@dataclass(frozen=True, kw_only=True)
class WebPushNotification:
    """The browser notification (Notification API options)."""

    title: str | None = None
    body: str | None = None
    icon: str | None = None
    image: str | None = None
    lang: str | None = None
    tag: str | None = None
    badge: str | None = None
    dir: str | None = None
    vibrate: Sequence[int] | None = None
    renotify: bool | None = None
    require_interaction: bool | None = None
    silent: bool | None = None
    timestamp: int | None = None
    actions: Sequence[WebPushAction] | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        if self.dir is not None:
            _require(self.dir in ("auto", "ltr", "rtl"), "WebPushNotification.dir: auto/ltr/rtl")
        if self.vibrate is not None:
            _freeze(self, "vibrate", tuple(self.vibrate))
            _require(
                all(isinstance(v, int) and v >= 0 for v in self.vibrate),
                "WebPushNotification.vibrate must be non-negative integers (ms)",
            )
        if self.actions is not None:
            _freeze(self, "actions", tuple(self.actions))


@dataclass(frozen=True)
class WebPushHmsOptions:
    """``link``: the https page opened when the notification is clicked."""

    link: str | None = None

    def __post_init__(self) -> None:
        _https("WebPushHmsOptions.link", self.link)


@dataclass(frozen=True, kw_only=True)
class WebPushConfig:
    """``message.webpush``.  ``headers`` may also be a dict keyed by
    ``TTL_HEADER``/``URGENCY_HEADER``/``TOPIC_HEADER``, as in the seed."""

    TOPIC_HEADER = "topic"
    TTL_HEADER = "ttl"
    URGENCY_HEADER = "urgency"

    headers: WebPushHeaders | Mapping[str, Any] | None = None
    data: str | None = None
    notification: WebPushNotification | None = None
    hms_options: WebPushHmsOptions | None = None

    def __post_init__(self) -> None:
        if isinstance(self.headers, Mapping):
            known = {self.TOPIC_HEADER, self.TTL_HEADER, self.URGENCY_HEADER}
            unknown = set(self.headers) - known
            _require(not unknown, f"WebPushConfig.headers has unknown header(s) {sorted(unknown)}")
            ttl = self.headers.get(self.TTL_HEADER)
            headers = WebPushHeaders(
                ttl=None if ttl is None else _whole("WebPushConfig.headers['ttl']", ttl),
                topic=self.headers.get(self.TOPIC_HEADER),
                urgency=self.headers.get(self.URGENCY_HEADER),
            )
            _freeze(self, "headers", headers)


# --- the message -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message:
    """One HMS message for ``HmsSender.send``.

    Exactly one target: ``token`` (any number of distinct tokens — the sender sends
    them 1000 a request), ``topic`` or ``condition`` (at most 5 topics, e.g.
    ``"'a' in topics && ('b' in topics || 'c' in topics)"``).  ``data`` is the
    pass-through payload: a string, or a mapping sent as compact JSON text.
    """

    data: str | Mapping[str, Any] | None = None
    notification: Notification | None = None
    android: AndroidConfig | None = None
    apns: ApnsConfig | None = None
    webpush: WebPushConfig | None = None
    token: Sequence[str] | None = None
    topic: str | None = None
    condition: str | None = None

    def __post_init__(self) -> None:
        targets = [t for t in (self.token, self.topic, self.condition) if t is not None]
        _require(len(targets) == 1, "Message needs exactly one of token, topic or condition")
        if self.token is not None:
            _freeze(self, "token", _check_tokens(self.token))
        if self.topic is not None:
            check_topic_name("Message.topic", self.topic)
        if self.condition is not None:
            _check_condition(self.condition)
        if self.data is not None and not isinstance(self.data, str):
            _require(isinstance(self.data, Mapping), "Message.data must be a str or a mapping")
            _freeze(self, "data", dict(self.data))


def check_json_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """Huawei's JSON message given as a dict (the seed's ``App.send`` takes one): its
    target is checked like ``Message``'s, a mapping ``data`` becomes JSON text; the
    rest is sent as given."""
    encoded = dict(message)
    targets = [key for key in ("token", "topic", "condition") if encoded.get(key) is not None]
    _require(
        len(targets) == 1,
        'a JSON message needs exactly one of "token", "topic" or "condition"',
    )
    if "token" in targets:
        encoded["token"] = list(_check_tokens(encoded["token"]))
    if "topic" in targets:
        check_topic_name("message topic", encoded["topic"])
    if "condition" in targets:
        _check_condition(encoded["condition"])
    data = encoded.get("data")
    if data is not None and not isinstance(data, str):
        _require(isinstance(data, Mapping), 'message "data" must be a string or an object')
        encoded["data"] = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return encoded


def _check_tokens(tokens: Sequence[str]) -> tuple[str, ...]:
    _require(not isinstance(tokens, str), "Message.token must be a list of tokens, not a string")
    items = tuple(tokens)
    _require(bool(items), "Message.token must hold at least one token")
    _require(
        all(isinstance(t, str) and t for t in items), "Message.token must be non-empty strings"
    )
    # Huawei delivers a repeated token twice.
    _require(len(set(items)) == len(items), "Message.token must not repeat a token")
    return items


def _check_condition(condition: str) -> None:
    topics = _CONDITION_TOPIC.findall(condition)
    _require(bool(topics), "Message.condition must test at least one \"'topic' in topics\"")
    _require(
        len(topics) <= MAX_CONDITION_TOPICS,
        f"Message.condition may mention at most {MAX_CONDITION_TOPICS} topics",
    )
    for topic in topics:
        check_topic_name("Message.condition topic", topic)
