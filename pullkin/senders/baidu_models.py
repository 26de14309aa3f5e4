"""Baidu Cloud Push: typed ``msg`` contents and the constants of the REST 3.0 API.

``msg`` is always a string on the wire: pass-through text (``msg_type`` 0), or for a
notification (``msg_type`` 1) JSON — ``BaiduAndroidNotification`` or
``BaiduIosNotification`` here, encoded by ``encode_msg`` (vendors/baidu.md §3).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pullkin.errors import InvalidArgumentError

__all__ = [
    "BaiduAndroidNotification",
    "BaiduIosNotification",
    "DeployStatus",
    "DeviceType",
    "MsgType",
    "encode_msg",
]


class DeviceType(enum.IntEnum):
    """Baidu 3.0 splits every app by platform; ``device_type`` picks one."""

    ANDROID = 3
    IOS = 4


class DeployStatus(enum.IntEnum):
    """iOS only: which APNs environment (``deploy_status``)."""

    DEVELOPMENT = 1
    PRODUCTION = 2


class MsgType(enum.IntEnum):
    """``msg_type``: 0 pass-through message (透传), 1 notification."""

    MESSAGE = 0
    NOTIFICATION = 1


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="baidu")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message, vendor="baidu")


@dataclass(frozen=True, kw_only=True)
class BaiduAndroidNotification:
    """An Android notification ``msg``.

    ``open_type``: 0 nothing, 1 open ``url`` (``user_confirm`` 1 asks first), 2 open
    the app (``pkg_content``: an intent URI, or the launcher when absent).
    ``notification_basic_style`` (bit flags 4 ring, 2 vibrate, 1 clearable) applies
    with the default builder (``notification_builder_id`` 0) only.
    """

    description: str
    title: str | None = None
    notification_builder_id: int | None = None
    notification_basic_style: int | None = None
    open_type: int | None = None
    url: str | None = None
    user_confirm: int | None = None
    pkg_content: str | None = None
    custom_content: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        owner = "BaiduAndroidNotification"
        _require(bool(self.description), f"{owner}.description must not be empty")
        if self.notification_basic_style is not None:
            _require(
                0 <= self.notification_basic_style <= 7,
                f"{owner}.notification_basic_style must be 0..7 (bit flags 4|2|1)",
            )
            _require(
                not self.notification_builder_id,
                f"{owner}.notification_basic_style needs notification_builder_id 0",
            )
        if self.open_type is not None:
            _require(self.open_type in (0, 1, 2), f"{owner}.open_type must be 0, 1 or 2")
        if self.open_type == 1:
            _require(bool(self.url), f"{owner}.open_type 1 needs a url")
        if self.url is not None:
            _require(self.url.startswith(("http://", "https://")), f"{owner}.url must be http(s)")
        if self.user_confirm is not None:
            _require(self.user_confirm in (0, 1), f"{owner}.user_confirm must be 0 or 1")
        if self.custom_content is not None:
            object.__setattr__(self, "custom_content", dict(self.custom_content))

    def to_json(self) -> dict[str, Any]:
        fields = {
            "title": self.title,
            "description": self.description,
            "notification_builder_id": self.notification_builder_id,
            "notification_basic_style": self.notification_basic_style,
            "open_type": self.open_type,
            "url": self.url,
            "user_confirm": self.user_confirm,
            "pkg_content": self.pkg_content,
            "custom_content": self.custom_content,
        }
        return {key: value for key, value in fields.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class BaiduIosNotification:
    """An iOS notification ``msg``: the APNs ``aps`` plus custom top-level keys."""

    alert: str | Mapping[str, Any] | None = None
    sound: str | None = None
    badge: int | None = None
    content_available: bool | None = None
    custom: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        owner = "BaiduIosNotification"
        _require(
            self.alert is not None or bool(self.content_available),
            f"{owner} needs an alert (or content_available for a silent push)",
        )
        if self.badge is not None:
            _require(self.badge >= 0, f"{owner}.badge must not be negative")
        if self.custom is not None:
            _require("aps" not in self.custom, f"{owner}.custom must not hold 'aps'")
            object.__setattr__(self, "custom", dict(self.custom))

    def to_json(self) -> dict[str, Any]:
        aps: dict[str, Any] = {}
        if self.alert is not None:
            aps["alert"] = self.alert if isinstance(self.alert, str) else dict(self.alert)
        if self.sound is not None:
            aps["sound"] = self.sound
        if self.badge is not None:
            aps["badge"] = self.badge
        if self.content_available is not None:
            aps["content-available"] = int(self.content_available)
        return {"aps": aps, **(self.custom or {})}


Msg = str | Mapping[str, Any] | BaiduAndroidNotification | BaiduIosNotification


def encode_msg(msg: Msg) -> str:
    """The ``msg`` string: text as is, models and mappings as compact JSON."""
    if isinstance(msg, str):
        return msg
    if isinstance(msg, (BaiduAndroidNotification, BaiduIosNotification)):
        value: Any = msg.to_json()
    elif isinstance(msg, Mapping):
        value = dict(msg)
    else:
        raise _invalid(f"Baidu msg must be a str, a mapping or a notification, got {msg!r}")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def is_notification(msg: Msg) -> bool:
    return isinstance(msg, (BaiduAndroidNotification, BaiduIosNotification))
