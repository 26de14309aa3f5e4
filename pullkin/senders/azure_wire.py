"""Azure Notification Hubs wire shapes: send headers, batch bodies, outcomes, errors.

Pure helpers of ``pullkin.senders.azure`` (facts: vendors/azure-nh.md §3, §6):
the headers a send carries, the ``multipart/mixed`` body of a direct batch, the
``NotificationOutcome`` read from a send's answer, and the status/``<Error>`` → error
mapping (403 and 409 are the service's throttling answers, hence retryable quota
errors).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pullkin.errors import InvalidArgumentError, QuotaExceededError, SendError, UnavailableError
from pullkin.senders._http import HttpResponse, error_for_status
from pullkin.senders.azure_models import AzureNotification
from pullkin.senders.azure_records import NotificationOutcome, parse_outcome

__all__ = [
    "bad_response",
    "classify_azure",
    "debug_request",
    "debug_response",
    "direct_handle_headers",
    "guess_wns_type",
    "multipart_batch",
    "outcome",
    "parse_body",
    "send_headers",
]

T = TypeVar("T")

_WNS_GUESS = (("<toast", "wns/toast"), ("<tile", "wns/tile"), ("<badge", "wns/badge"))


def classify_azure(response: HttpResponse) -> SendError | None:
    """Status + ``<Error><Code/><Detail/></Error>`` → error (azure-nh.md §6)."""
    if response.status < 400:
        return None
    code, detail = _error_fields(response.body)
    status = response.status
    if status in (403, 409):  # quota / rate too high: the service's throttling answers
        return QuotaExceededError(
            f"Notification Hubs throttled the request (HTTP {status}): {detail or 'no detail'}",
            vendor="azure",
            code=code or f"HTTP_{status}",
            response=response.text()[:2000],
        )
    return error_for_status(
        response, "azure", code=code, message=detail, body=response.text()[:2000]
    )


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None, None
    return root.findtext("Code") or root.findtext(".//Code"), root.findtext(".//Detail")


def send_headers(notification: AzureNotification) -> dict[str, str]:
    headers = dict(notification.headers)
    headers["ServiceBusNotification-Format"] = notification.format
    headers["Content-Type"] = notification.content_type
    return headers


def direct_handle_headers(fmt: str, handle: str | Mapping[str, str]) -> dict[str, str]:
    if fmt == "browser":
        if not isinstance(handle, Mapping) or not {"endpoint", "p256dh", "auth"} <= set(handle):
            raise InvalidArgumentError(
                "a direct browser send needs the subscription {endpoint, p256dh, auth}",
                vendor="azure", code="INVALID_ARGUMENT",
            )  # fmt: skip
        return {
            "ServiceBusNotification-DeviceHandle": handle["endpoint"],
            "Auth": handle["auth"],
            "P256DH": handle["p256dh"],
        }
    if not isinstance(handle, str) or not handle:
        raise InvalidArgumentError(
            "device_handle must be the PNS handle string", vendor="azure", code="INVALID_ARGUMENT"
        )
    return {"ServiceBusNotification-DeviceHandle": handle}


def multipart_batch(boundary: str, notification: AzureNotification, handles: list[str]) -> bytes:
    def part(name: str, content_type: str, body: bytes) -> bytes:
        head = (
            f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Disposition: inline; name={name}\r\n\r\n"
        )
        return head.encode() + body + b"\r\n"

    devices = json.dumps(handles).encode()
    return (
        part("notification", notification.content_type, notification.encoded_body())
        + part("devices", "application/json", devices)
        + f"--{boundary}--\r\n".encode()
    )


def guess_wns_type(payload: str | bytes) -> str:
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    for marker, kind in _WNS_GUESS:
        if marker in text:
            return kind
    raise InvalidArgumentError(
        "cannot tell the WNS type of this payload: pass wns_type='wns/toast' (or tile, badge, raw)",
        vendor="azure",
        code="INVALID_ARGUMENT",
    )


def outcome(response: HttpResponse, state: str) -> NotificationOutcome:
    location = response.headers.get("Location")
    notification_id = None
    if location:
        notification_id = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1] or None
    success = failure = None
    results: tuple[Any, ...] = ()
    if state == "DetailedStateAvailable" and response.body.strip():
        success, failure, results = parse_body(response, parse_outcome, "a NotificationOutcome")
    return NotificationOutcome(
        state=state,
        notification_id=notification_id,
        location=location,
        tracking_id=response.headers.get("TrackingId"),
        correlation_id=response.headers.get("x-ms-correlation-request-id"),
        success=success,
        failure=failure,
        results=results,
    )


def parse_body(response: HttpResponse, parser: Callable[[bytes], T], what: str) -> T:
    try:
        return parser(response.body)
    except (ValueError, InvalidArgumentError):
        raise bad_response(response, what) from None


def bad_response(response: HttpResponse, what: str) -> SendError:
    return UnavailableError(
        f"Notification Hubs answered HTTP {response.status} without {what}",
        vendor="azure",
        code="BAD_RESPONSE",
        http_status=response.status,
        request_id=response.request_id,
        response=response.text()[:2000],
    )


# --- debug dumps (the sample's ``debug`` flag) -------------------------------------------

_SECRET_HEADERS = frozenset({"authorization", "servicebusnotification-devicehandle"})
# Device handles in installation JSON and registration XML: tokens, never logged.
_HANDLE_JSON = re.compile(r'("pushChannel"\s*:\s*)"[^"]*"')
_HANDLE_XML = re.compile(
    r"(<(\w*(?:RegistrationId|DeviceToken|ChannelUri|ChannelId|Handle))>)[^<]*(</\2>)"
)
_REDACTED = "<redacted>"


def redact_body(body: bytes | str | Any) -> str:
    """A request or response body as text, device handles replaced."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", "replace")
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, ensure_ascii=False)
    text = _HANDLE_JSON.sub(rf'\1"{_REDACTED}"', text)
    return _HANDLE_XML.sub(rf"\1{_REDACTED}\3", text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: _REDACTED if k.lower() in _SECRET_HEADERS else v for k, v in headers.items()}


def debug_request(method: str, url: str, headers: Mapping[str, str], body: Any) -> str:
    """The sample's "--- REQUEST ---" dump, without a secret (the SAS token is added
    by the client and shown redacted)."""
    shown = {**redact_headers(headers), "Authorization": _REDACTED}
    text = "" if body is None else redact_body(body)
    return f"--- REQUEST ---\n{method} {url}\n{json.dumps(shown, indent=2)}\n{text}"


def debug_response(status: int | None, headers: Mapping[str, str], body: Any) -> str:
    text = "" if body is None else redact_body(body)
    shown = json.dumps(redact_headers(headers), indent=2)
    return f"--- RESPONSE ---\n{status}\n{shown}\n{text}"
