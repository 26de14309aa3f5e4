"""The one exception tree of pullkin.

Two axes, like firebase-admin: the *kind* of failure is the class, the vendor's own
code travels on the instance (``SendError.code``).  Catch ``PullkinError`` for
everything, ``UnregisteredError`` to drop a dead token whatever the vendor, or
``UnavailableError`` for what is worth retrying later.

Messages say what was wrong and what to do about it.  Nothing here carries a token,
key or secret in its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CheckinError",
    "ConfigError",
    "ConnectError",
    "DecryptionError",
    "FcmRegisterError",
    "GcmRegisterError",
    "InstallationError",
    "InvalidArgumentError",
    "LocalProtocolError",
    "LoginError",
    "NotFoundError",
    "ProtocolError",
    "PullkinError",
    "QuotaExceededError",
    "ReadError",
    "RegistrationError",
    "RemoteProtocolError",
    "SendError",
    "SinkError",
    "StoreError",
    "TransportError",
    "TransportTimeout",
    "UnauthenticatedError",
    "UnavailableError",
    "UnexpectedResponseError",
    "UnregisteredError",
    "WriteError",
]


class PullkinError(Exception):
    """Root of every exception pullkin raises on purpose."""


class ConfigError(PullkinError, ValueError):
    """Bad arguments, missing or unreadable credentials, a corrupt credentials file.

    Also a ``ValueError``, so code that validates input generically still catches it.
    """


# --- protocol ---------------------------------------------------------------------


class ProtocolError(PullkinError):
    """A protocol rule was broken; see the two subclasses for who broke it."""


class LocalProtocolError(ProtocolError):
    """We misused the codec (sent an event that is invalid in the current state)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent a malformed, oversized or unknown frame; the connection is dead."""


# --- transport (raised only at the transport seam) ---------------------------------


class TransportError(PullkinError):
    """The network failed; always worth a reconnect."""


class ConnectError(TransportError):
    """Could not open the TCP/TLS connection (DNS, refused, handshake, certificate)."""


class ReadError(TransportError):
    """Reading from an open connection failed (reset, TLS alert)."""


class WriteError(TransportError):
    """Writing to an open connection failed."""


class TransportTimeout(TransportError):
    """A connect, read or write did not finish in time."""


# --- registration -----------------------------------------------------------------


class RegistrationError(PullkinError):
    """A registration step failed.

    ``transient`` tells whether retrying the same request later may succeed;
    ``http_status`` is the answer's status when there was one.
    ``untrusted_certificate`` is set when the server's TLS certificate was not trusted:
    final for one call (fix ``Endpoints.ssl_context``), but a long-running receiver
    retries it like any network trouble (a captive portal passes).
    """

    untrusted_certificate: bool = False

    def __init__(
        self, message: str, *, transient: bool = False, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.http_status = http_status


class CheckinError(RegistrationError):
    """``/checkin`` failed.

    ``device_gone`` is True only when the answer says the stored device is dead (HTTP
    401 to a returning device, or a new android_id): its registrations must be made
    again.  Nothing else — network or TLS trouble, a 400, a 5xx — means that.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        http_status: int | None = None,
        device_gone: bool = False,
    ) -> None:
        super().__init__(message, transient=transient, http_status=http_status)
        self.device_gone = device_gone


class GcmRegisterError(RegistrationError):
    """``c2dm/register3`` answered ``Error=<reason>`` (e.g. ``PHONE_REGISTRATION_ERROR``)."""

    def __init__(
        self,
        message: str,
        reason: str,
        *,
        transient: bool = False,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, transient=transient, http_status=http_status)
        self.reason = reason


class InstallationError(RegistrationError):
    """Firebase Installations refused a create, token refresh or delete."""


class FcmRegisterError(RegistrationError):
    """``fcmregistrations.googleapis.com`` refused to mint or refresh the FCM token."""


class LoginError(RegistrationError):
    """The MCS server refused the LoginRequest (stale or wrong device credentials)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


# --- payloads ---------------------------------------------------------------------


class DecryptionError(PullkinError):
    """A push payload could not be decrypted: bad headers, keys or ciphertext."""


# --- sinks and stores ---------------------------------------------------------------


class SinkError(PullkinError):
    """A sink (Redis Streams, NATS JetStream, webhook) did not confirm a message.

    Raised inside a sink's retry loop and logged; the message is retried, never dropped,
    and is acknowledged to FCM only once the sink confirms it.
    """


class StoreError(PullkinError):
    """A fleet store (PostgreSQL) is unreachable or refused an operation."""


# --- sending ----------------------------------------------------------------------


class SendError(PullkinError):
    """A vendor refused or failed a send.

    ``vendor`` ("fcm", "webpush", "hms", "baidu", "umeng", "azure"), ``code`` (the
    vendor's own error code as a string, e.g. ``"UNREGISTERED"`` or ``"80300007"``),
    ``http_status``, ``retry_after`` (seconds, when the vendor said), ``request_id``
    (ours or the vendor's, for support tickets) and ``response`` (the decoded body).
    """

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        response: Mapping[str, Any] | str | None = None,
    ) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        self.request_id = request_id
        self.response = response

    def __str__(self) -> str:
        details = [f"vendor={self.vendor}"]
        if self.code is not None:
            details.append(f"code={self.code}")
        if self.http_status is not None:
            details.append(f"http={self.http_status}")
        if self.request_id is not None:
            details.append(f"request_id={self.request_id}")
        return f"{super().__str__()} ({', '.join(details)})"


class InvalidArgumentError(SendError):
    """The request was malformed or too large; fix it, do not retry."""


class UnauthenticatedError(SendError):
    """Credentials were rejected (bad key, expired token, wrong signature)."""


class NotFoundError(SendError):
    """The addressed resource does not exist."""


class UnregisteredError(NotFoundError):
    """The device token is dead: remove it from your database."""


class QuotaExceededError(SendError):
    """A rate or quota limit was hit; retry later (see ``retry_after``)."""


class UnavailableError(SendError):
    """The vendor is temporarily unavailable (5xx, timeouts); retryable."""


class UnexpectedResponseError(SendError):
    """The vendor's answer could not be used: a success whose body is not what the
    vendor documents, or an answer over the size limit.  With a 2xx ``http_status``
    the request was accepted — a push was probably delivered — so it is never
    repeated automatically; do not resend it blindly."""
