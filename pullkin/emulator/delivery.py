"""How a sent message becomes the ``DataMessageStanza`` a device receives.

Facts: ../shared/protocol/fcm-send.md §3 (and §3.4, the emulator's rules) and
webpush.md §1, §8.  Three shapes:

* FCM v1 → web registration: the JSON document of §3.1, encrypted with **aesgcm** to
  the registration's p256dh/auth; app_data ``google.source``, ``encryption``,
  ``subtype``, ``crypto-key`` (the order of the FM fixture).
* FCM v1 → Android-app registration: no encryption; data keys verbatim plus the
  ``gcm.n.*`` notification keys and ``google.*`` keys of §3.2.
* RFC 8030 Web Push → web registration: the body untouched in ``raw_data`` with its
  content coding in app_data.

The JSON/app_data builders are pure.  Encryption is the costly step of the send path:
the ECDH agreement with a registration's key is reused for up to a minute
(``KeyAgreements``, one per emulator; a fresh salt per message still gives every
message its own content key), which keeps a v1 send far below a millisecond.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pullkin.crypto import EncryptedPayload, KeyAgreement, seal
from pullkin.emulator.mailbox import id_bytes
from pullkin.emulator.state import FcmRegistration, GcmRegistration
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "KeyAgreements",
    "android_app_data",
    "android_stanza",
    "new_message_id",
    "padded",
    "web_json",
    "web_payload",
    "web_seal",
    "web_sealed_stanza",
    "webpush_stanza",
]

#: FCM keeps messages 4 weeks by default, which is also the maximum (fcm-send.md §1.2).
MAX_TTL = 2_419_200
DEFAULT_TTL = MAX_TTL

_PRIORITY_NUMBER = {"PRIORITY_MIN": "-2", "PRIORITY_LOW": "-1", "PRIORITY_DEFAULT": "0",
                    "PRIORITY_HIGH": "1", "PRIORITY_MAX": "2"}  # fmt: skip
_VISIBILITY_NUMBER = {"PRIVATE": "0", "PUBLIC": "1", "SECRET": "-1"}
# AndroidNotification field → app_data key (§3.2); others map to "gcm.n.<name>".
_ANDROID_KEYS = {"channel_id": "gcm.n.android_channel_id", "sound": "gcm.n.sound2"}
_SKIPPED_ANDROID_FIELDS = frozenset({"proxy", "bypass_proxy_notification"})


class KeyAgreements:
    """One ephemeral sender key per registration key for *seconds* (a fresh salt per
    message still gives every message its own content key): saves an ECDH on each
    send.  Each emulator has its own."""

    def __init__(self, seconds: float = 60.0, size: int = 4096) -> None:
        self._seconds = seconds
        self._size = size
        self._cache: dict[bytes, tuple[KeyAgreement, float]] = {}

    def get(self, receiver: bytes, now: float) -> KeyAgreement:
        cached = self._cache.get(receiver)
        if cached is None or now - cached[1] > self._seconds:
            if len(self._cache) >= self._size:
                self._cache.clear()
            cached = self._cache[receiver] = (KeyAgreement.make(receiver), now)
        return cached[0]


def new_message_id() -> str:
    """A random (version 4) UUID as text, the shape of ``fcmMessageId``."""
    raw = bytearray(id_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def web_json(payload: Mapping[str, Any]) -> bytes:
    """The §3.1 document as FCM serialises it (compact)."""
    return _compact_json(payload).encode()


_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _stanza(
    sender: str,
    category: str,
    ttl: int,
    now: float,
    items: Iterable[tuple[str, str]],
    **fields: Any,
) -> DataMessageStanza:
    # One constructor call (app_data as dicts) costs about half of building it up.
    fields["from"] = sender  # "from" is a Python keyword
    return DataMessageStanza(
        id=id_bytes(4).hex().upper(),
        category=category,
        ttl=ttl,
        sent=int(now * 1000),
        app_data=[{"key": key, "value": value} for key, value in items],
        **fields,
    )


# --- FCM v1 → web registration ------------------------------------------------------


def web_payload(message: Mapping[str, Any], sender_id: str, message_id: str) -> dict[str, Any]:
    """The JSON document FCM encrypts for a web registration (§3.1).

    *message* is a validated v1 message in snake_case (see ``fcm.validate``).
    """
    webpush: Mapping[str, Any] = message.get("webpush") or {}
    options: Mapping[str, Any] = webpush.get("fcm_options") or {}
    notification = dict(message.get("notification") or {})
    notification.update(webpush.get("notification") or {})
    if "link" in options:
        notification["click_action"] = options["link"]
    data = dict(message.get("data") or {})
    data.update(webpush.get("data") or {})
    headers: Mapping[str, str] = webpush.get("headers") or {}
    payload: dict[str, Any] = {}
    if notification:
        payload["notification"] = notification
    if data:
        payload["data"] = data
    payload["from"] = sender_id
    payload["fcmMessageId"] = message_id
    payload["priority"] = "high" if headers.get("Urgency", "").lower() == "high" else "normal"
    # Real FCM always sets it on web deliveries (the JS SDK's MessagePayload.collapseKey
    # is a required string); without a Topic it is "do_not_collapse".
    payload["collapse_key"] = headers.get("Topic") or "do_not_collapse"
    fcm_options = {**(message.get("fcm_options") or {}), **options}
    if fcm_options:
        payload["fcmOptions"] = fcm_options
    return payload


def web_seal(
    agreements: KeyAgreements, fcm: FcmRegistration, plaintext: bytes, now: float
) -> EncryptedPayload:
    """*plaintext* (the §3.1 JSON) encrypted with aesgcm to *fcm*'s keys."""
    receiver = fcm.p256dh_bytes
    agreement = agreements.get(receiver, now)
    return seal(plaintext, receiver, fcm.auth_bytes, "aesgcm", agreement=agreement)


def web_sealed_stanza(
    gcm: GcmRegistration, payload: EncryptedPayload, ttl: int, now: float
) -> DataMessageStanza:
    """The stanza carrying a ``web_seal`` result, as FCM delivers it: the key order
    of the captured FM fixture, and its padded base64url (``salt=…==``, ``dh=…=``) —
    a receiver that decodes with ``urlsafe_b64decode`` as-is needs the padding."""
    items = [("google.source", "webpush"), ("encryption", padded(payload.encryption or ""))]
    if gcm.subtype:
        items.append(("subtype", gcm.subtype))
    items.append(("crypto-key", padded(payload.crypto_key or "")))
    return _stanza(gcm.sender, gcm.app, ttl, now, items, raw_data=payload.body)


def padded(parameter: str) -> str:
    """``name=<base64url>`` (optionally followed by ``;rs=…``) with the base64 value
    padded to a multiple of 4 characters, the way FCM writes ``encryption`` and
    ``crypto-key``."""
    head, sep, tail = parameter.partition(";")
    return head + "=" * (-len(head.partition("=")[2]) % 4) + sep + tail


# --- FCM v1 → Android-app registration ------------------------------------------------


def _flag(value: Any) -> str:
    return "true" if value else "false"


def _millis(duration: str) -> int:
    return round(float(duration.rstrip("s")) * 1000)


def _notification_value(name: str, value: Any) -> str:
    if name == "notification_priority":
        return _PRIORITY_NUMBER.get(value, "0")
    if name == "visibility":
        return _VISIBILITY_NUMBER.get(value, "0")
    if name == "vibrate_timings":
        return json.dumps([_millis(item) for item in value])
    if name == "light_settings":
        color = value.get("color") or {}
        rgb = "".join(
            f"{round(float(color.get(c, 0)) * 255):02x}" for c in ("red", "green", "blue")
        )
        return json.dumps(
            [f"#{rgb}", _millis(value.get("light_on_duration", "0s")),
             _millis(value.get("light_off_duration", "0s"))]
        )  # fmt: skip
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def android_app_data(
    message: Mapping[str, Any], sender_id: str, priority: str
) -> list[tuple[str, str]]:
    """The app_data of an Android-app delivery (§3.2), data keys first."""
    android: Mapping[str, Any] = message.get("android") or {}
    data = dict(message.get("data") or {})
    data.update(android.get("data") or {})
    items = list(data.items())
    notification = dict(message.get("notification") or {})
    notification.update(android.get("notification") or {})
    if notification:
        items.append(("gcm.n.e", "1"))
        for name, value in notification.items():
            if name not in _SKIPPED_ANDROID_FIELDS:
                key = _ANDROID_KEYS.get(name, f"gcm.n.{name}")
                items.append((key, _notification_value(name, value)))
    items += [
        ("google.c.sender.id", sender_id),
        ("google.original_priority", priority),
        ("google.delivered_priority", priority),
    ]
    return items


def android_stanza(
    gcm: GcmRegistration,
    items: list[tuple[str, str]],
    collapse_key: str,
    ttl: int,
    now: float | None = None,
) -> DataMessageStanza:
    now = time.time() if now is None else now
    return _stanza(gcm.sender, gcm.app, ttl, now, items, token=collapse_key)


# --- RFC 8030 Web Push ------------------------------------------------------------------


def webpush_stanza(
    gcm: GcmRegistration,
    body: bytes,
    coding: Mapping[str, str],
    ttl: int,
    topic: str = "",
    now: float | None = None,
) -> DataMessageStanza:
    """Forward a Web Push body untouched; *coding* is its ``content-encoding`` or
    ``encryption`` + ``crypto-key`` app_data."""
    items = list(coding.items())
    if gcm.subtype:
        items.append(("subtype", gcm.subtype))
    now = time.time() if now is None else now
    return _stanza(gcm.sender, gcm.app, ttl, now, items, raw_data=body, token=topic)
