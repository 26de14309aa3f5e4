"""Huawei HMS Push Kit: the Android part of the typed message model (``message.android``).

Frozen dataclasses validated in ``__post_init__`` against the rules of Huawei's
send-message reference (``vendors/hms.md`` §3); a bad value raises ``InvalidArgumentError``
naming the field.  Every field the API knows has a place here, including the ones the
Python ``push_admin`` SDK never serialises (``buttons``, ``inbox_content``,
``profile_id``, ``receipt_id``, ``target_user_type``, ``local_only``).  Encoding to
JSON lives in ``pullkin.senders.hms_encode``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pullkin.errors import InvalidArgumentError

__all__ = [
    "AndroidConfig",
    "AndroidNotification",
    "BadgeNotification",
    "Button",
    "ClickAction",
    "LightSettings",
    "LightSettingsColor",
]

#: ``AndroidConfig.ttl`` upper bound: 15 days.
MAX_TTL_SECONDS = 1_296_000
_CATEGORIES = frozenset(
    {
        "IM",
        "VOIP",
        "SUBSCRIPTION",
        "TRAVEL",
        "HEALTH",
        "WORK",
        "ACCOUNT",
        "EXPRESS",
        "FINANCE",
        "DEVICE_REMINDER",
        "MAIL",
        "PLAY_VOICE",
        "MARKETING",
    }
)
_VISIBILITIES = frozenset({"VISIBILITY_UNSPECIFIED", "PUBLIC", "SECRET", "PRIVATE"})
_IMPORTANCES = frozenset({"LOW", "NORMAL", "HIGH"})
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
# "3", "3s", "3.5", "3.5S": seconds, optionally with a unit and up to 9 decimals.
_DURATION = re.compile(r"\d+(\.\d{1,9})?[sS]?")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message, vendor="hms")


def _https(owner: str, value: str | None) -> None:
    if value is not None:
        _require(value.startswith("https://"), f"{owner} must be an https:// URL")


def _strings(owner: str, value: Sequence[str] | None) -> tuple[str, ...] | None:
    """A tuple copy of a string sequence (a lone ``str`` is a mistake, not a sequence)."""
    if value is None:
        return None
    _require(not isinstance(value, str), f"{owner} must be a list of strings, not a string")
    items = tuple(value)
    _require(all(isinstance(item, str) for item in items), f"{owner} must hold strings only")
    return items


def _freeze(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, kw_only=True)
class ClickAction:
    """What a tap on the notification does.

    ``type``: 1 open a custom page (``intent`` or ``action``), 2 open ``url`` (https),
    3 open the app, 4 open ``rich_resource``.
    """

    type: int
    intent: str | None = None
    action: str | None = None
    url: str | None = None
    rich_resource: str | None = None

    def __post_init__(self) -> None:
        _require(self.type in (1, 2, 3, 4), f"ClickAction.type must be 1..4, got {self.type!r}")
        if self.type == 1:
            _require(
                bool(self.intent or self.action),
                "ClickAction.type 1 needs an intent or an action",
            )
        if self.type == 2:
            _require(self.url is not None, "ClickAction.type 2 needs a url")
        if self.type == 4:
            _require(self.rich_resource is not None, "ClickAction.type 4 needs a rich_resource")
        _https("ClickAction.url", self.url)
        _https("ClickAction.rich_resource", self.rich_resource)


@dataclass(frozen=True, kw_only=True)
class BadgeNotification:
    """The app icon badge: add ``add_num`` (1..99) or set ``set_num`` (0..100).

    ``clazz`` (wire name ``class``) is the app's entry activity, e.g.
    ``com.example.MainActivity``; the seed SDK calls it ``clazz`` too.
    """

    add_num: int | None = None
    set_num: int | None = None
    clazz: str | None = None

    def __post_init__(self) -> None:
        if self.add_num is not None:
            _require(1 <= self.add_num <= 99, "BadgeNotification.add_num must be 1..99")
        if self.set_num is not None:
            _require(0 <= self.set_num <= 100, "BadgeNotification.set_num must be 0..100")


@dataclass(frozen=True, kw_only=True)
class LightSettingsColor:
    """An RGBA colour, each channel a float 0..1."""

    alpha: float = 1.0
    red: float = 0.0
    green: float = 0.0
    blue: float = 0.0

    def __post_init__(self) -> None:
        for name in ("alpha", "red", "green", "blue"):
            value = getattr(self, name)
            _require(
                isinstance(value, (int, float)) and 0 <= value <= 1,
                f"LightSettingsColor.{name} must be a number 0..1, got {value!r}",
            )


@dataclass(frozen=True, kw_only=True)
class LightSettings:
    """The breathing light: colour and on/off durations (``"3.5"`` or ``"5s"``)."""

    color: LightSettingsColor
    light_on_duration: str
    light_off_duration: str

    def __post_init__(self) -> None:
        for name in ("light_on_duration", "light_off_duration"):
            value = getattr(self, name)
            _require(
                isinstance(value, str) and _DURATION.fullmatch(value) is not None,
                f'LightSettings.{name} must be seconds like "3.5" or "5s", got {value!r}',
            )


@dataclass(frozen=True, kw_only=True)
class Button:
    """One of up to three notification buttons.

    ``action_type``: 0 open the app, 1 open a custom page (``intent``; ``intent_type`` 0
    intent / 1 action), 2 open the web page ``intent``, 3 dismiss, 4 share ``data``.
    """

    name: str
    action_type: int
    intent_type: int | None = None
    intent: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        _require(0 < len(self.name) <= 40, "Button.name must be 1..40 characters")
        _require(self.action_type in range(5), "Button.action_type must be 0..4")
        if self.intent_type is not None:
            _require(self.intent_type in (0, 1), "Button.intent_type must be 0 or 1")
        if self.action_type in (1, 2):
            _require(bool(self.intent), f"Button.action_type {self.action_type} needs an intent")
        if self.data is not None:
            _require(len(self.data) <= 1024, "Button.data must be at most 1024 characters")


@dataclass(frozen=True, kw_only=True)
class AndroidNotification:
    """``message.android.notification``.

    Huawei requires a ``click_action``; without one, a tap opens the app
    (``ClickAction(type=3)`` is sent).  ``style`` 1 (big text) needs ``big_title`` and
    ``big_body``; ``style`` 3 (inbox) needs ``inbox_content`` (at most 5 lines of 1024
    characters).  ``when`` is an aware datetime or RFC 3339 UTC text; ``auto_clear``
    is in milliseconds.  ``use_default_vibrate`` and ``use_default_light`` default to
    True, as in the seed SDK.  The seed's constants are here too: ``PRIORITY_*`` for
    ``importance``, ``PUBLIC``/``PRIVATE``/``SECRET``/``VISIBILITY_UNSPECIFIED`` for
    ``visibility``.
    """

    PRIORITY_DEFAULT = "NORMAL"
    PRIORITY_HIGH = "HIGH"
    PRIORITY_LOW = "LOW"
    PRIVATE = "PRIVATE"
    PUBLIC = "PUBLIC"
    SECRET = "SECRET"
    VISIBILITY_UNSPECIFIED = "VISIBILITY_UNSPECIFIED"

    click_action: ClickAction | None = None
    title: str | None = None
    body: str | None = None
    icon: str | None = None
    color: str | None = None
    sound: str | None = None
    default_sound: bool | None = None
    tag: str | None = None
    body_loc_key: str | None = None
    body_loc_args: Sequence[str] | None = None
    title_loc_key: str | None = None
    title_loc_args: Sequence[str] | None = None
    multi_lang_key: Mapping[str, Mapping[str, str]] | None = None
    channel_id: str | None = None
    notify_summary: str | None = None
    image: str | None = None
    style: int | None = None
    big_title: str | None = None
    big_body: str | None = None
    auto_clear: int | None = None
    notify_id: int | None = None
    group: str | None = None
    badge: BadgeNotification | None = None
    ticker: str | None = None
    auto_cancel: bool | None = None
    when: _dt.datetime | str | None = None
    local_only: bool | None = None
    importance: str | None = None
    use_default_vibrate: bool | None = True
    use_default_light: bool | None = True
    vibrate_config: Sequence[str] | None = None
    visibility: str | None = None
    light_settings: LightSettings | None = None
    foreground_show: bool | None = None
    inbox_content: Sequence[str] | None = None
    buttons: Sequence[Button] | None = None
    profile_id: str | None = None

    def __post_init__(self) -> None:
        owner = "AndroidNotification"
        for name in ("body_loc_args", "title_loc_args", "vibrate_config", "inbox_content"):
            _freeze(self, name, _strings(f"{owner}.{name}", getattr(self, name)))
        if self.buttons is not None:
            _freeze(self, "buttons", tuple(self.buttons))
        if self.multi_lang_key is not None:
            _freeze(self, "multi_lang_key", {k: dict(v) for k, v in self.multi_lang_key.items()})
        _https(f"{owner}.image", self.image)
        if self.color is not None:
            _require(_COLOR.fullmatch(self.color) is not None, f"{owner}.color must be #RRGGBB")
        self._check_style()
        self._check_lists()
        self._check_enums()
        if self.when is not None:
            _check_when(self.when)
        if self.auto_clear is not None:
            _require(self.auto_clear >= 0, f"{owner}.auto_clear must not be negative")
        if self.profile_id is not None:
            _require(len(self.profile_id) <= 64, f"{owner}.profile_id must be ≤ 64 characters")

    def _check_style(self) -> None:
        if self.style is None:
            return
        _require(self.style in (0, 1, 3), "AndroidNotification.style must be 0, 1 or 3")
        if self.style == 1:
            _require(
                bool(self.big_title and self.big_body),
                "AndroidNotification.style 1 (big text) needs big_title and big_body",
            )
        if self.style == 3:
            _require(
                bool(self.inbox_content),
                "AndroidNotification.style 3 (inbox) needs inbox_content",
            )

    def _check_lists(self) -> None:
        owner = "AndroidNotification"
        if self.inbox_content is not None:
            _require(len(self.inbox_content) <= 5, f"{owner}.inbox_content allows 5 lines")
            _require(
                all(len(line) <= 1024 for line in self.inbox_content),
                f"{owner}.inbox_content lines must be ≤ 1024 characters",
            )
        if self.buttons is not None:
            _require(len(self.buttons) <= 3, f"{owner}.buttons allows at most 3 buttons")
        if self.vibrate_config is not None:
            _require(len(self.vibrate_config) <= 10, f"{owner}.vibrate_config allows 10 entries")
            for entry in self.vibrate_config:
                _check_vibrate(entry)
        if self.multi_lang_key is not None:
            for key, languages in self.multi_lang_key.items():
                _require(
                    len(languages) <= 3,
                    f"{owner}.multi_lang_key[{key!r}] allows at most 3 languages",
                )

    def _check_enums(self) -> None:
        owner = "AndroidNotification"
        if self.importance is not None:
            _require(
                self.importance in _IMPORTANCES, f"{owner}.importance must be LOW, NORMAL or HIGH"
            )
        if self.visibility is not None:
            _require(
                self.visibility in _VISIBILITIES,
                f"{owner}.visibility must be one of {', '.join(sorted(_VISIBILITIES))}",
            )


def _check_vibrate(entry: str) -> None:
    ok = _DURATION.fullmatch(entry) is not None
    if ok:
        seconds = float(entry.rstrip("sS"))
        ok = 0 < seconds <= 60
    _require(ok, f'AndroidNotification.vibrate_config entries must be 0 < n ≤ 60 s, got "{entry}"')


def _check_when(value: _dt.datetime | str) -> None:
    if isinstance(value, _dt.datetime):
        _require(value.tzinfo is not None, "AndroidNotification.when must be timezone-aware")
        return
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    _require(
        parsed is not None and value.endswith("Z"),
        f'AndroidNotification.when must be RFC 3339 UTC like "2024-01-02T03:04:05Z", got {value!r}',
    )


@dataclass(frozen=True, kw_only=True)
class AndroidConfig:
    """``message.android``: delivery options plus the Android notification.

    ``ttl`` is seconds (int or timedelta, at most 15 days); ``collapse_key`` −1 (cache
    all), 0 (latest only) or 1..100; ``urgency`` ``"HIGH"``/``"NORMAL"`` (the seed's
    default ``"NORMAL"``; None leaves it to Huawei);
    ``target_user_type`` 1 marks a test message; ``fast_app_target`` 1 dev / 2 prod.
    """

    collapse_key: int | None = None
    urgency: str | None = "NORMAL"
    category: str | None = None
    ttl: int | _dt.timedelta | None = None
    bi_tag: str | None = None
    receipt_id: str | None = None
    fast_app_target: int | None = None
    target_user_type: int | None = None
    data: str | None = None
    notification: AndroidNotification | None = None

    HIGH_PRIORITY = "HIGH"
    NORMAL_PRIORITY = "NORMAL"

    def __post_init__(self) -> None:
        owner = "AndroidConfig"
        if self.collapse_key is not None:
            _require(-1 <= self.collapse_key <= 100, f"{owner}.collapse_key must be -1..100")
        if self.urgency is not None:
            _require(self.urgency in ("HIGH", "NORMAL"), f"{owner}.urgency must be HIGH or NORMAL")
        if self.category is not None:
            _require(
                self.category in _CATEGORIES,
                f"{owner}.category must be one of {', '.join(sorted(_CATEGORIES))}",
            )
        if self.ttl is not None:
            seconds = ttl_seconds(self.ttl)
            _require(seconds >= 0, f"{owner}.ttl must not be negative")
            _require(seconds <= MAX_TTL_SECONDS, f"{owner}.ttl must be at most 15 days")
        if self.fast_app_target is not None:
            _require(self.fast_app_target in (1, 2), f"{owner}.fast_app_target must be 1 or 2")
        if self.target_user_type is not None:
            _require(self.target_user_type in (0, 1), f"{owner}.target_user_type must be 0 or 1")


def ttl_seconds(ttl: int | _dt.timedelta) -> int:
    """Whole seconds of a ttl given as int or timedelta."""
    if isinstance(ttl, _dt.timedelta):
        return int(ttl.total_seconds())
    _require(
        isinstance(ttl, int) and not isinstance(ttl, bool),
        f"AndroidConfig.ttl must be whole seconds (int or timedelta), got {ttl!r}",
    )
    return ttl
