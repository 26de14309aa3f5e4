"""Umeng U-Push: request bodies and their signature (pure).

``sign = md5("POST" + url + body + app_master_secret)`` over the *exact* body bytes
(vendors/umeng.md §2).  The seed SDKs sign one ``json.dumps`` and send another; here
``dumps`` serialises once, ``sign`` hashes those bytes and the sender sends the very
same bytes, never re-serialising after signing.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pullkin.errors import InvalidArgumentError
from pullkin.senders._common import dumps
from pullkin.senders.umeng_models import AndroidPayload, Payload, Policy, payload_json

__all__ = [
    "MAX_LISTCAST_TOKENS",
    "dumps",
    "send_fields",
    "sign",
    "signed_url",
    "timestamp_ms",
]

#: device_tokens per listcast and aliases per customizedcast.
MAX_LISTCAST_TOKENS = 500
MAX_ALIASES = 500
TASK_TYPES = frozenset({"broadcast", "groupcast", "filecast"})
_IOS_TOKEN = re.compile(r"[0-9A-Fa-f]{64,200}")


def sign(method: str, url: str, body: bytes, app_master_secret: str) -> str:
    """Lower-case hex MD5 of ``METHOD + url + body + secret``; *url* without query."""
    data = method.upper().encode() + url.encode() + body + app_master_secret.encode()
    # MD5 is the vendor's protocol, not our choice of hash.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def signed_url(url: str, body: bytes, app_master_secret: str) -> str:
    """*url* with ``?sign=…`` for a POST of *body*."""
    return f"{url}?sign={sign('POST', url, body, app_master_secret)}"


def timestamp_ms(now: float) -> str:
    """The 13-digit millisecond ``timestamp`` field."""
    return str(int(now * 1000))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message, vendor="umeng")


def check_tokens(tokens: Sequence[str], payload: Payload, limit: int) -> str:
    """Comma-joined device tokens: Android tokens are 44 characters, iOS hex."""
    _require(not isinstance(tokens, str), "Umeng device_tokens must be a list, not a string")
    items = list(tokens)
    _require(0 < len(items) <= limit, f"Umeng device_tokens must hold 1..{limit} tokens")
    _require(len(set(items)) == len(items), "Umeng device_tokens must not repeat a token")
    for token in items:
        if isinstance(payload, AndroidPayload):
            ok = isinstance(token, str) and len(token) == 44 and "," not in token
            _require(ok, f"Umeng Android device tokens are 44 characters, got {token!r}")
        else:
            ok = isinstance(token, str) and _IOS_TOKEN.fullmatch(token) is not None
            _require(ok, f"Umeng iOS device tokens are 64+ hex digits, got {token!r}")
    return ",".join(items)


def check_aliases(alias: str | Sequence[str]) -> str:
    items = [alias] if isinstance(alias, str) else list(alias)
    _require(0 < len(items) <= MAX_ALIASES, f"Umeng alias must hold 1..{MAX_ALIASES} aliases")
    for item in items:
        _require(
            isinstance(item, str) and bool(item) and "," not in item,
            f"Umeng aliases must be non-empty and comma-free, got {item!r}",
        )
    return ",".join(items)


def send_fields(
    *,
    app_key: str,
    timestamp: str,
    type: str,
    targets: Mapping[str, Any],
    payload: Payload,
    policy: Policy | None,
    production_mode: bool,
    description: str | None,
    mipush: bool | None = None,
    mi_activity: str | None = None,
    extra_fields: Mapping[str, Any] | None = None,
    now: _dt.datetime,
) -> dict[str, Any]:
    """The ``/api/send`` fields in Umeng's documented order, then *extra_fields*: any
    other top-level field of the API (what the seed's ``setPredefinedKeyValue`` sets,
    e.g. ``receipt_url``, ``receipt_type``, ``channel_properties``), sent as given."""
    task = type in TASK_TYPES or (type == "customizedcast" and "file_id" in targets)
    if policy is not None:
        policy.check(now=now, task=task)
    if mipush is not None or mi_activity is not None:
        _require(isinstance(payload, AndroidPayload), "Umeng mipush applies to Android only")
    fields: dict[str, Any] = {"appkey": app_key, "timestamp": timestamp, "type": type}
    fields.update(targets)
    fields["payload"] = payload_json(payload)
    if policy is not None:
        fields["policy"] = policy.to_json()
    fields["production_mode"] = "true" if production_mode else "false"
    if description is not None:
        fields["description"] = description
    if mipush is not None:
        fields["mipush"] = "true" if mipush else "false"
    if mi_activity is not None:
        fields["mi_activity"] = mi_activity
    fields.update(_extra_fields(extra_fields or {}))
    return fields


#: Top-level fields built from their own arguments (the name to use instead).
_BUILT = {
    "appkey": "the sender's app_key",
    "timestamp": "nothing (it is stamped at sending)",
    "type": "the cast method",
    "device_tokens": "the cast's tokens",
    "alias_type": "customizedcast's alias_type",
    "alias": "customizedcast's alias",
    "file_id": "file_id",
    "filter": "groupcast's filter",
    "payload": "payload",
    "policy": "policy=Policy(...)",
    "production_mode": "production_mode=",
    "description": "description=",
    "mipush": "mipush=",
    "mi_activity": "mi_activity=",
}


def _extra_fields(extra: Mapping[str, Any]) -> dict[str, Any]:
    _require(isinstance(extra, Mapping), "Umeng extra_fields must be a mapping")
    for key in extra:
        _require(isinstance(key, str) and bool(key), "Umeng extra_fields keys must be names")
        _require(
            key not in _BUILT, f"Umeng field {key!r} has its own argument: use {_BUILT.get(key)}"
        )
    return dict(extra)
