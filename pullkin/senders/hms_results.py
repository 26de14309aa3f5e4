"""Huawei HMS Push Kit: result codes → pullkin errors, and typed responses (pure).

Every HMS answer carries ``{"code", "msg", "requestId"}``; ``error_for`` maps a code
(or, without one, the HTTP status) to the error class of ``pullkin.errors``
(vendors/hms.md §5).  ``80100000`` is not an error: ``msg`` is then JSON *text*
naming the ``illegal_tokens``, which ``token_results`` turns into one result per
token, so callers never resend to the tokens that got the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pullkin.errors import (
    InvalidArgumentError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)
from pullkin.senders._common import class_for_status

__all__ = [
    "HmsSendResponse",
    "HmsTokenResult",
    "HmsTopic",
    "HmsTopicError",
    "HmsTopicListResponse",
    "HmsTopicResponse",
    "error_for",
    "oauth_error",
    "parse_partial",
    "token_results",
]

SUCCESS = "80000000"
PARTIAL_SUCCESS = "80100000"
ALL_TOKENS_INVALID = "80300007"
#: Codes after which a fresh OAuth token and one retry fix the request.
TOKEN_REFRESH_CODES = frozenset({"80200001", "80200003"})

_CODE_ERRORS: dict[str, tuple[type[SendError], str]] = {
    "80100001": (InvalidArgumentError, "a parameter is wrong"),
    "80100003": (InvalidArgumentError, "the message structure is wrong"),
    "80100004": (InvalidArgumentError, "the ttl lies in the past"),
    "80100013": (InvalidArgumentError, "collapse_key is wrong"),
    "80100016": (InvalidArgumentError, "the message contains sensitive content"),
    "80100017": (QuotaExceededError, "more than 100 topic sends are running: retry later"),
    "80100018": (InvalidArgumentError, "the content review signature does not match"),
    "80200001": (UnauthenticatedError, "the OAuth token is missing, invalid or for another app"),
    "80200003": (UnauthenticatedError, "the OAuth token expired"),
    "80200005": (UnauthenticatedError, "the service-account JWT expired"),
    "80300002": (
        UnauthenticatedError,
        "the app has no push permission (check the Push Kit service, region and client ID)",
    ),
    "80300007": (UnregisteredError, "every token is invalid: drop them"),
    "80300008": (InvalidArgumentError, "the message body exceeds 4096 bytes"),
    "80300010": (InvalidArgumentError, "too many tokens in one request"),
    "80300011": (InvalidArgumentError, "no permission for high-priority messages"),
    "80300013": (InvalidArgumentError, "the receipt URL or certificate is wrong"),
    "80600003": (UnauthenticatedError, "the OAuth service failed: check client ID and secret"),
    "81000001": (UnavailableError, "Huawei had an internal error: retry later"),
}


def error_for(
    code: str | None,
    *,
    msg: str = "",
    http_status: int | None = None,
    request_id: str | None = None,
    response: Mapping[str, Any] | str | None = None,
    retry_after: float | None = None,
) -> SendError:
    """The pullkin error for an HMS result *code* (or the HTTP status without one)."""
    known = _CODE_ERRORS.get(code or "")
    if known is not None:
        cls, meaning = known
    elif http_status == 503:
        cls, meaning = QuotaExceededError, "Huawei flow control: slow down and retry later"
    else:
        cls, meaning = class_for_status(http_status), "HMS refused the request"
    text = f"HMS: {meaning}" + (f" ({msg})" if msg else "")
    return cls(
        text,
        vendor="hms",
        code=code,
        http_status=http_status,
        retry_after=retry_after,
        request_id=request_id,
        response=response,
    )


def oauth_error(body: Mapping[str, Any] | str, http_status: int) -> SendError:
    """The error for a refused token request (``{"error": 1101, "sub_error": …}``)."""
    if http_status == 503:
        return QuotaExceededError(
            "HMS OAuth: token requests are rate limited (1000 per 5 minutes): retry later",
            vendor="hms",
            http_status=http_status,
            response=body,
        )
    fields = body if isinstance(body, Mapping) else {}
    sub = fields.get("sub_error")
    code = fields.get("error")
    detail = fields.get("error_description") or ""
    cls: type[SendError] = UnavailableError if http_status >= 500 else UnauthenticatedError
    return cls(
        "HMS OAuth refused the client credentials: check app_id (the OAuth client ID) "
        f"and app_secret{f' ({detail})' if detail else ''}",
        vendor="hms",
        code=str(sub if sub is not None else code) if (sub or code) is not None else None,
        http_status=http_status,
        response=body,
    )


def parse_partial(msg: Any) -> tuple[int, int, tuple[str, ...]]:
    """``(success, failure, illegal_tokens)`` from a partial-success ``msg``.

    ``msg`` is JSON text such as ``{"success":3,"failure":1,"illegal_tokens":["x"]}``;
    anything else raises ``SendError`` (we cannot tell which tokens got the message).
    """
    try:
        data = json.loads(msg) if isinstance(msg, str) else msg
        success = int(data.get("success", 0))
        failure = int(data.get("failure", 0))
        illegal = data.get("illegal_tokens", [])
        if not isinstance(illegal, list) or not all(isinstance(t, str) for t in illegal):
            raise TypeError("illegal_tokens is not a list of strings")
    except (ValueError, TypeError, AttributeError):
        raise SendError(
            "HMS answered partial success with an unreadable token report; "
            "check the response before resending",
            vendor="hms",
            code=PARTIAL_SUCCESS,
            response={"msg": msg} if isinstance(msg, str) else None,
        ) from None
    return success, failure, tuple(illegal)


@dataclass(frozen=True)
class HmsTokenResult:
    """The outcome for one token: ``error`` is None when Huawei accepted it."""

    token: str
    error: SendError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def token_results(
    tokens: Sequence[str], code: str, body: Mapping[str, Any], request_id: str | None
) -> tuple[HmsTokenResult, ...]:
    """Per-token results of one chunk answered with *code* (success or partial)."""
    if code != PARTIAL_SUCCESS:
        return tuple(HmsTokenResult(token) for token in tokens)
    _, _, illegal = parse_partial(body.get("msg"))
    dead = set(illegal)
    results = []
    for token in tokens:
        error = None
        if token in dead:
            error = UnregisteredError(
                "HMS: this token is invalid: drop it",
                vendor="hms",
                code=PARTIAL_SUCCESS,
                http_status=200,
                request_id=request_id,
                response=body,
            )
        results.append(HmsTokenResult(token, error))
    return tuple(results)


@dataclass(frozen=True)
class HmsSendResponse:
    """What ``HmsSender.send`` returns.

    ``code``/``msg`` are Huawei's (the last chunk's, for many tokens), ``request_ids``
    one per request sent.  ``results`` has one entry per token in input order (empty
    for topic and condition sends); a token whose ``error`` is an
    ``UnregisteredError`` is dead, any other error means it was not delivered and may
    be resent.
    """

    code: str
    msg: str
    request_ids: tuple[str, ...]
    results: tuple[HmsTokenResult, ...] = ()

    @property
    def request_id(self) -> str | None:
        return self.request_ids[0] if self.request_ids else None

    @property
    def reason(self) -> str:
        """Huawei's ``msg`` (the seed SDK's ``SendResponse.reason``)."""
        return self.msg

    @property
    def success_count(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failure_count(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    @property
    def succeeded(self) -> tuple[str, ...]:
        """Tokens Huawei accepted: never send this message to them again."""
        return tuple(r.token for r in self.results if r.ok)

    @property
    def illegal_tokens(self) -> tuple[str, ...]:
        """Dead tokens: remove them from your database."""
        return tuple(r.token for r in self.results if isinstance(r.error, UnregisteredError))

    @property
    def retryable(self) -> tuple[str, ...]:
        """Tokens not delivered for a reason other than being dead."""
        return tuple(
            r.token
            for r in self.results
            if r.error is not None and not isinstance(r.error, UnregisteredError)
        )


@dataclass(frozen=True)
class HmsTopicError:
    """One token a topic (un)subscribe refused: ``index`` into the request's tokens."""

    index: int
    token: str
    reason: str


@dataclass(frozen=True)
class HmsTopicResponse:
    """What ``subscribe_topic`` / ``unsubscribe_topic`` return."""

    code: str
    msg: str
    request_ids: tuple[str, ...]
    success_count: int
    failure_count: int
    errors: tuple[HmsTopicError, ...] = ()

    @property
    def request_id(self) -> str | None:
        return self.request_ids[0] if self.request_ids else None


@dataclass(frozen=True)
class HmsTopic:
    """One topic a token is subscribed to (``add_date`` as Huawei wrote it)."""

    name: str
    add_date: str


@dataclass(frozen=True)
class HmsTopicListResponse:
    """What ``query_subscribe_list`` returns."""

    code: str
    msg: str
    request_id: str | None
    topics: tuple[HmsTopic, ...]


def topic_errors(
    body: Mapping[str, Any], tokens: Sequence[str], offset: int
) -> tuple[HmsTopicError, ...]:
    """The ``errors`` array of a topic answer, indexed into the caller's whole list."""
    errors = []
    for item in body.get("errors") or []:
        if not isinstance(item, Mapping):
            continue
        index = item.get("index")
        if isinstance(index, int) and 0 <= index < len(tokens):
            errors.append(HmsTopicError(offset + index, tokens[index], str(item.get("reason"))))
    return tuple(errors)


def topic_list(body: Mapping[str, Any]) -> tuple[HmsTopic, ...]:
    topics = []
    for item in body.get("topics") or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            topics.append(HmsTopic(item["name"], str(item.get("addDate", ""))))
    return tuple(topics)
