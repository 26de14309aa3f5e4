"""Umeng U-Push: error codes → pullkin errors, and typed answers (pure).

Every answer is ``{"ret": "SUCCESS"|"FAIL", "data": {...}}``; failures come with
HTTP 400 and ``data.error_code`` (a string) — vendors/umeng.md §5–6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pullkin.errors import (
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)

__all__ = ["UmengChunk", "UmengListcastResult", "UmengResult", "UmengTaskStatus", "error_for"]

#: Timestamp expired / malformed / missing: re-sign with a fresh timestamp once.
STALE_TIMESTAMP_CODES = frozenset({"2028"})

_UNAUTHENTICATED = {
    "2000": "the app is disabled",
    "2004": "the server IP whitelist is not set",
    "2006": "validation token mismatch",
    "2007": "the request is not signed",
    "2021": "the appkey does not exist",
    "2027": "the signature is wrong: check app_master_secret",
    "2028": "the timestamp expired: check the system clock",
    "2032": "the APNs production certificate is missing",
    "2033": "the APNs development certificate is missing",
    "2034": "the APNs certificate expired",
    "2035": "the APNs certificate expired",
    "2054": "the caller's IP is not whitelisted",
    "5001": "the APNs certificate does not match the bundle id",
    "5007": "the APNs certificate was revoked",
    "5008": "APNs does not know the certificate",
    "5009": "the APNs handshake failed",
    "5010": "the APNs p8 key is missing",
}
_UNAVAILABLE = {
    "2017": "adding the tag failed: retry later",
    "2023": "the file upload failed: retry later",
    "4000": "system error: retry later",
    "4001": "the system is busy: retry later",
    "4009": "the queue is full: retry later",
    "4013": "asynchronous send failed: retry later",
    "4021": "internal timeout: retry later",
    "4023": "internal network error: retry later",
    "6002": "internal error (iOS certificate): retry later",
    "6003": "internal error (database): retry later",
    "6004": "internal error (file storage): retry later",
}
_UNREGISTERED = {
    "4020": "a device token is wrong (Android tokens are 44 characters)",
    "4025": "every device token failed",
    "5000": "a device token is wrong",
    "5005": "a device token is malformed",
}
_OTHER: dict[str, tuple[type[SendError], str]] = {
    "1014": (NotFoundError, "the task_id does not exist"),
    "2019": (NotFoundError, "the file_id does not exist (files are kept 2 months)"),
    "2022": (InvalidArgumentError, "the payload is too long"),
    "2050": (QuotaExceededError, "the send frequency limit is exceeded: retry later"),
    "2012": (QuotaExceededError, "broadcast limit per day exceeded"),
    "2026": (QuotaExceededError, "sends per minute limit exceeded"),
}


def _classify(code: str | None, http_status: int | None) -> tuple[type[SendError], str]:
    if code is not None:
        for table, cls in (
            (_UNAUTHENTICATED, UnauthenticatedError),
            (_UNAVAILABLE, UnavailableError),
            (_UNREGISTERED, UnregisteredError),
        ):
            if code in table:
                return cls, table[code]
        if code in _OTHER:
            return _OTHER[code]
        if code.isdigit() and 1000 <= int(code) < 7000:
            return InvalidArgumentError, "the request is invalid"
    if http_status is not None and http_status >= 500:
        return UnavailableError, "Umeng failed: retry later"
    if http_status == 429:
        return QuotaExceededError, "rate limited: retry later"
    return SendError, "Umeng refused the request"


def error_for(
    body: Mapping[str, Any] | str | None,
    *,
    http_status: int | None,
    retry_after: float | None = None,
) -> SendError:
    """The pullkin error for a ``"ret": "FAIL"`` answer (or a non-JSON failure)."""
    data = body.get("data") if isinstance(body, Mapping) else None
    data = data if isinstance(data, Mapping) else {}
    raw_code = data.get("error_code")
    code = None if raw_code is None else str(raw_code)
    cls, meaning = _classify(code, http_status)
    detail = data.get("error_msg")
    return cls(
        f"Umeng: {meaning}" + (f" ({detail})" if detail else ""),
        vendor="umeng",
        code=code,
        http_status=http_status,
        retry_after=retry_after,
        response=body,
    )


@dataclass(frozen=True)
class UmengResult:
    """A send accepted: ``msg_id`` for unicast-class sends, ``task_id`` for tasks."""

    msg_id: str | None = None
    task_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> UmengResult:
        msg_id, task_id = data.get("msg_id"), data.get("task_id")
        return cls(
            None if msg_id is None else str(msg_id),
            None if task_id is None else str(task_id),
            data,
        )


@dataclass(frozen=True)
class UmengChunk:
    """One listcast request: its tokens and either its ``msg_id`` or its ``error``."""

    tokens: tuple[str, ...]
    msg_id: str | None = None
    error: SendError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class UmengListcastResult:
    """What ``listcast`` returns: one chunk per request of at most 500 tokens.

    A chunk with an ``error`` was not accepted (or, after an earlier chunk failed, not
    attempted): resend only ``failed_tokens``.
    """

    chunks: tuple[UmengChunk, ...]

    @property
    def msg_ids(self) -> tuple[str, ...]:
        return tuple(c.msg_id for c in self.chunks if c.msg_id is not None)

    @property
    def succeeded(self) -> tuple[str, ...]:
        return tuple(t for c in self.chunks if c.ok for t in c.tokens)

    @property
    def failed_tokens(self) -> tuple[str, ...]:
        return tuple(t for c in self.chunks if not c.ok for t in c.tokens)


@dataclass(frozen=True)
class UmengTaskStatus:
    """``status``: 0 queued, 1 sending, 2 done, 3 failed, 4 cancelled, 5 expired,
    6 empty filter result, 7 timer not started.  Counts are ``None`` when absent
    (Android reports ``dismiss_count``, iOS ``total_count``)."""

    task_id: str
    status: int | None
    sent_count: int | None = None
    open_count: int | None = None
    dismiss_count: int | None = None
    total_count: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, data: Mapping[str, Any], task_id: str) -> UmengTaskStatus:
        def num(key: str) -> int | None:
            value = data.get(key)
            if isinstance(value, bool):
                return None
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
            return None

        return cls(
            task_id=str(data.get("task_id", task_id)),
            status=num("status"),
            sent_count=num("sent_count"),
            open_count=num("open_count"),
            dismiss_count=num("dismiss_count"),
            total_count=num("total_count"),
            raw=data,
        )
