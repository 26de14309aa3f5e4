"""From a ``DataMessageStanza`` to the ``Message`` handlers receive.  Pure.

Web registrations (fcm-send.md §3.1): the stanza is encrypted (aesgcm for FCM API
sends, aes128gcm for Web Push); the plaintext of an FCM API send is a JSON object with
``notification``, ``data``, ``from``, ``fcmMessageId``, ``priority``,
``collapse_key``; a direct Web Push body is whatever the application server sent
(often a JSON object, not necessarily).  Android-app registrations (§3.2): plain
app_data with notification fields under ``gcm.n.`` (or the older
``gcm.notification.``) and the data keys verbatim.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pullkin import crypto
from pullkin.errors import DecryptionError
from pullkin.mcs.events import app_data_of
from pullkin.models import AppCredentialsKeys, Message, Notification
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = ["IDLE_CATEGORY", "app_data_of", "build_message", "build_messages"]

#: Category of messages meant for the MCS client itself (mcs.md §8).
IDLE_CATEGORY = "com.google.android.gsf.gtalkservice"

_FCM_KEYS = frozenset({"notification", "data", "fcmMessageId", "from", "collapse_key"})
_NOTIFICATION_FIELDS = frozenset(
    {"title", "body", "image", "icon", "click_action", "tag", "color", "sound"}
)
_RESERVED_PREFIXES = ("google.", "gcm.")
_RESERVED_KEYS = frozenset({"from", "message_type", "collapse_key"})
_CRYPTO_KEYS = frozenset({"content-encoding", "encryption", "crypto-key", "_googRawData"})
_T = TypeVar("_T")
_NEW = object.__new__
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner
_BLANKS = re.compile(r"[ \t\n\r]*").match  # json.decoder.WHITESPACE
# Every field of Notification but ``extra``, unset (None): the start of each one built.
_NO_NOTIFICATION = {f.name: None for f in dataclasses.fields(Notification) if f.name != "extra"}


def _trusted(cls: type[_T], values: dict[str, Any]) -> _T:
    """An instance of the frozen model *cls* holding *values*: every field, each
    already valid by construction (what ``__post_init__`` checks holds).

    The hot path's constructor: a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``, which cost more than the rest of turning a
    decrypted FCM document into a ``Message``.  ``tests/test_payload.py`` checks that
    what it builds equals (and re-validates as) what the public constructor builds."""
    instance = _NEW(cls)
    instance.__dict__.update(values)
    return instance


def build_message(
    stanza: DataMessageStanza,
    keys: AppCredentialsKeys | None,
    *,
    sender_id: str | None = None,
    app_data: Mapping[str, str] | None = None,
) -> Message:
    """Decrypt (when encrypted) and parse one stanza; raises ``DecryptionError``.

    *sender_id* is recorded on the message; *app_data* saves re-reading the stanza's
    app_data when the caller already has it as a mapping.
    """
    if app_data is None:
        app_data = app_data_of(stanza)
    if not _is_encrypted(stanza, app_data):
        return _from_clear(stanza, app_data, sender_id)
    plaintext = crypto.decrypt(stanza.raw_data, app_data, _keys_for(keys))
    return _from_plaintext(stanza, plaintext, sender_id)


def build_messages(
    stanzas: Sequence[DataMessageStanza],
    keys: AppCredentialsKeys | None,
    *,
    sender_id: str | None = None,
    app_data: Sequence[Mapping[str, str]] | None = None,
) -> list[Message | DecryptionError]:
    """``build_message`` for a burst: per stanza, the message or why it failed.

    The encrypted ones are decrypted together by ``crypto.decrypt_many`` (phase by
    phase, which costs less CPU than one after another); the results are in order.
    *app_data*, when given, holds each stanza's app_data as a mapping (what
    ``mcs.events.DataMessage.app_data`` carries), in the same order.
    """
    mappings = [app_data_of(s) for s in stanzas] if app_data is None else app_data
    items = [(s, a, _is_encrypted(s, a)) for s, a in zip(stanzas, mappings, strict=True)]
    sealed = [(s.raw_data, a) for s, a, encrypted in items if encrypted]
    plaintexts = iter(_decrypt_all(sealed, keys))
    results: list[Message | DecryptionError] = []
    for stanza, mapping, encrypted in items:
        if not encrypted:
            results.append(_from_clear(stanza, mapping, sender_id))
        elif isinstance(plaintext := next(plaintexts), DecryptionError):
            results.append(plaintext)
        else:
            results.append(_from_plaintext(stanza, plaintext, sender_id))
    return results


def _decrypt_all(
    sealed: list[tuple[bytes, Mapping[str, str]]], keys: AppCredentialsKeys | None
) -> list[bytes | DecryptionError]:
    if not sealed:
        return []
    try:
        usable = _keys_for(keys)
    except DecryptionError as exc:
        return [exc] * len(sealed)
    return crypto.decrypt_many(sealed, usable)


def _is_encrypted(stanza: DataMessageStanza, app_data: Mapping[str, str]) -> bool:
    """Encrypted as Chrome decides (``crypto.encoding_of``), or an encrypted body that
    lacks one of its two headers: ``crypto.decrypt`` then says the message is
    incomplete, instead of it reaching handlers as an empty message."""
    if app_data.get("message_type") not in (None, "gcm"):
        return False
    raw_data = stanza.raw_data
    if crypto.encoding_of(app_data, raw_data) is not None:
        return True
    return bool(raw_data) and ("encryption" in app_data or "crypto-key" in app_data)


def _keys_for(keys: AppCredentialsKeys | None) -> AppCredentialsKeys:
    if keys is None:
        raise DecryptionError(
            "message is encrypted but this registration has no Web Push keys "
            "(an Android-app registration cannot decrypt it)"
        )
    return keys


def _from_clear(
    stanza: DataMessageStanza, app_data: Mapping[str, str], sender_id: str | None
) -> Message:
    message_type = app_data.get("message_type")
    if message_type not in (None, "gcm"):
        return _special(stanza, app_data, message_type, sender_id)
    return _from_app_data(stanza, app_data, sender_id)


def _common(stanza: DataMessageStanza, sender_id: str | None) -> dict[str, Any]:
    return {
        "sender_id": sender_id,
        "from_": getattr(stanza, "from") or None,
        "persistent_id": stanza.persistent_id or None,
        "sent_at": _sent_at(stanza.sent) if stanza.HasField("sent") else None,
        "collapse_key": stanza.token or None,
    }


def _sent_at(value: int) -> _dt.datetime | None:
    # Units are UNCERTAIN (mcs.md §4): seconds per the proto, milliseconds observed.
    if value <= 0:
        return None
    seconds = value / 1000 if value > 100_000_000_000 else value
    try:
        return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _from_plaintext(stanza: DataMessageStanza, plaintext: bytes, sender_id: str | None) -> Message:
    try:
        document = _json(plaintext.decode())
    except ValueError:  # not UTF-8, or not JSON: a plain Web Push body
        document = None
    if not isinstance(document, dict):
        return Message(**_common(stanza, sender_id), payload=plaintext)
    if _FCM_KEYS.isdisjoint(document):
        # A direct Web Push JSON body: string values become data, title/body a
        # notification, like a service worker would read it.
        notification = _notification(document) if ("title" in document) else None
        return Message(
            **_common(stanza, sender_id),
            notification=notification,
            data=_strings(document),
            payload=plaintext,
            raw=document,
        )
    # An FCM API send, the hot path: the stanza's fields are read only where needed,
    # and the message is built without re-checking what is valid by construction
    # (``data`` maps str to str, ``sent_at`` is aware).
    get = document.get
    notification = get("notification")
    return _trusted(
        Message,
        {
            "notification": (
                _notification(notification) if isinstance(notification, dict) else None
            ),
            "data": _strings(get("data")),
            "from_": _text(get("from")) or getattr(stanza, "from") or None,
            "priority": _text(get("priority")),
            "fcm_message_id": _text(get("fcmMessageId")),
            "collapse_key": _text(get("collapse_key")) or stanza.token or None,
            "sent_at": _sent_at(stanza.sent) if stanza.HasField("sent") else None,
            "persistent_id": stanza.persistent_id or None,
            "message_type": None,
            "sender_id": sender_id,
            "payload": plaintext,
            "raw": document,
        },
    )


def _json(text: str) -> Any:
    """``json.loads(text)``, without its three Python-level calls around the C scanner
    (a quarter of the cost of a small document): the same value, or ``ValueError``."""
    try:
        document, end = _SCAN(text, _BLANKS(text, 0).end())  # type: ignore[union-attr]
    except StopIteration:
        raise ValueError("no JSON value") from None
    if _BLANKS(text, end).end() != len(text):  # type: ignore[union-attr]  # * always matches
        raise ValueError("extra data after the JSON value")
    return document


def _from_app_data(
    stanza: DataMessageStanza, app_data: Mapping[str, str], sender_id: str | None
) -> Message:
    common = _common(stanza, sender_id)
    fields: dict[str, str] = {}
    for prefix in ("gcm.notification.", "gcm.n."):  # the newer prefix wins
        for key, value in app_data.items():
            if key.startswith(prefix):
                fields[key[len(prefix) :]] = value
    fields.pop("e", None)  # display flag
    if "sound2" in fields:
        fields["sound"] = fields.pop("sound2")
    data = {
        key: value
        for key, value in app_data.items()
        if not key.startswith(_RESERVED_PREFIXES)
        and key not in _RESERVED_KEYS
        and key not in _CRYPTO_KEYS
        and key != "subtype"
    }
    priority = app_data.get("google.delivered_priority") or app_data.get("google.original_priority")
    return Message(
        **{**common, "from_": app_data.get("from") or common["from_"]},
        notification=_notification(fields) if fields else None,
        data=data,
        priority=priority,
        fcm_message_id=app_data.get("google.message_id") or stanza.id or None,
        raw=dict(app_data),
    )


def _special(
    stanza: DataMessageStanza, app_data: Mapping[str, str], kind: str, sender_id: str | None
) -> Message:
    return Message(**_common(stanza, sender_id), message_type=kind, raw=dict(app_data))


def _notification(source: Mapping[str, Any]) -> Notification:
    fields: dict[str, Any] = dict(_NO_NOTIFICATION)
    extra: dict[str, Any] = {}
    for key, value in source.items():
        if key in _NOTIFICATION_FIELDS:
            fields[key] = value if value is None or isinstance(value, str) else str(value)
        else:
            extra[key] = value
    fields["extra"] = extra
    return _trusted(Notification, fields)


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
