"""A vendor's HTTP answer and the default status -> ``SendError`` mapping.  Pure.

Split from ``_http`` (which re-exports every name): ``HttpResponse`` is what a
classifier sees, ``error_for_status`` the mapping vendors start from.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pullkin._backoff import parse_retry_after
from pullkin.errors import (
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnexpectedResponseError,
)

__all__ = [
    "Classifier",
    "HttpResponse",
    "default_classify",
    "error_for_status",
    "is_retryable",
    "not_json",
]


# --- responses --------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    """A complete answer: status, headers (case-insensitive), the whole body.

    ``request_id`` is the vendor's id when its headers carried one, else ours.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    url: str = ""

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The decoded JSON body, or ``None`` when the body is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError:
            return None

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


# --- error mapping ----------------------------------------------------------------

#: Classifier: ``None`` for success, else the error the answer means.
Classifier = Callable[[HttpResponse], SendError | None]

_INVALID = frozenset({400, 411, 413, 414, 415, 422})


def error_for_status(
    response: HttpResponse,
    vendor: str,
    *,
    code: str | None = None,
    message: str | None = None,
    not_found: type[NotFoundError] = NotFoundError,
    body: Mapping[str, Any] | str | None = None,
) -> SendError:
    """The default status → error mapping (vendors pass their own code/message).

    400/411/413/414/415/422 → ``InvalidArgumentError``; 401/403 →
    ``UnauthenticatedError``; 404/410 → *not_found*; 408 and 5xx →
    ``UnavailableError``; 429 → ``QuotaExceededError``; any other status ``SendError``.
    """
    status = response.status
    cls: type[SendError]
    if status in _INVALID:
        cls = InvalidArgumentError
    elif status in (401, 403):
        cls = UnauthenticatedError
    elif status in (404, 410):
        cls = not_found
    elif status == 429:
        cls = QuotaExceededError
    elif status == 408 or status >= 500:
        cls = UnavailableError
    else:
        cls = SendError
    text = message or _snippet(response)
    return cls(
        f"{vendor} answered HTTP {status}: {text}",
        vendor=vendor,
        code=code or f"HTTP_{status}",
        http_status=status,
        retry_after=response.retry_after,
        request_id=response.request_id,
        response=body if body is not None else _decoded(response),
    )


def default_classify(vendor: str) -> Classifier:
    """A classifier that treats 2xx/3xx as success and maps the rest by status."""

    def classify(response: HttpResponse) -> SendError | None:
        if response.status < 400:
            return None
        return error_for_status(response, vendor)

    return classify


def not_json(response: HttpResponse, vendor: str, name: str) -> UnexpectedResponseError:
    """The error for a success status whose body is not the JSON the vendor promised:
    the request was accepted, so it must not be repeated."""
    return UnexpectedResponseError(
        f"{name} answered HTTP {response.status} (accepted) with a body that is not JSON; "
        "the request is not repeated: check whether it took effect before resending",
        vendor=vendor, code="BAD_RESPONSE", response=response.text()[:500],
    )  # fmt: skip


def is_retryable(error: SendError) -> bool:
    """The default: retry unavailability (5xx, timeouts) and quota (429) errors."""
    return isinstance(error, (UnavailableError, QuotaExceededError))


def _decoded(response: HttpResponse) -> Mapping[str, Any] | str:
    data = response.json()
    return data if isinstance(data, dict) else response.text()[:2000]


def _snippet(response: HttpResponse) -> str:
    text = " ".join(response.text().split())
    return (text[:200] + "…") if len(text) > 200 else (text or "(empty body)")
