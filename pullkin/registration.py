"""Pure request builders and response parsers for check-in and ``c2dm/register3``.

Nothing here does I/O: a builder returns an :class:`HttpRequest` value, a parser takes
``(status, headers, body)`` and returns the result or raises the typed error of its
step with ``transient`` set the way the facts sheets say (``protocol/checkin.md`` §5,
``protocol/register.md`` A.5).  ``pullkin.core`` sends the requests and owns retries.
Firebase Installations and FCM registrations live in ``pullkin.registration_firebase``.

Variants of register3 (register.md A.2–A.6):

* :func:`gcm_register_request` — Chrome GCM style (what Chrome-emulating receivers send);
* :func:`instance_id_token_request` — Chrome InstanceID ``GetToken``: what Chrome sends
  for ``PushManager.subscribe()`` and what pullkin's web flow sends (with
  :func:`new_instance_id` and :func:`web_push_app_id`);
* :func:`android_register_request` — Android app via Google Play services, carrying the
  Firebase Installations token; the answer is the FCM token itself;
* :func:`gcm_unregister_request`, :func:`instance_id_delete_request`,
  :func:`android_unregister_request` — the matching deletions.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, quote_plus

from google.protobuf.message import DecodeError

from pullkin.endpoints import CHROME_VERSION
from pullkin.errors import CheckinError, GcmRegisterError
from pullkin.models import AppCredentialsGcm
from pullkin.proto import android_checkin_pb2, checkin_pb2

__all__ = [
    "ANDROID_GMS_VERSION",
    "EMPTY_SETTINGS_DIGEST",
    "HttpRequest",
    "android_register_request",
    "android_unregister_request",
    "checkin_request",
    "gcm_from_checkin",
    "gcm_register_request",
    "gcm_unregister_request",
    "instance_id_delete_request",
    "instance_id_token_request",
    "is_transient_status",
    "new_instance_id",
    "parse_checkin_response",
    "parse_register_response",
    "parse_unregister_response",
    "register_error_is_transient",
    "web_push_app_id",
]

#: Digest of the empty G-services table, which Chrome sends on every check-in
#: (checkin.md §6: ``"1-"`` + SHA-1 of nothing).
EMPTY_SETTINGS_DIGEST = "1-" + hashlib.sha1(b"").hexdigest()

#: GmsCore version code sent as ``gcm_ver``/``X-gmsv`` in the Android-app variant (PK).
ANDROID_GMS_VERSION = "231114044"

_FORM = "application/x-www-form-urlencoded"
_PROTOBUF = "application/x-protobuf"
#: Firebase Android SDK version announced as ``X-cliv`` (PK).
_ANDROID_CLIENT_VERSION = "fcm-23.1.1"
#: ``X-firebase-app-name-hash``: base64url(SHA-1("[DEFAULT]")), the default FirebaseApp.
_DEFAULT_APP_NAME_HASH = (
    base64.urlsafe_b64encode(hashlib.sha1(b"[DEFAULT]").digest()).rstrip(b"=").decode()
)
_ANDROID_USER_AGENT = "Android-GCM/1.5 (generic_x86 QSR1.210802.001)"
_MAX_DETAIL = 200


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, ready to send.  ``repr`` shows no header or body: they hold
    secrets (``AidLogin``, API keys, FIS tokens)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        # Frozen means frozen: a caller cannot edit the headers after the fact.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def form(self) -> dict[str, str]:
        """The form fields of a register3 body (for tests and debugging)."""
        return dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True))


def is_transient_status(status: int) -> bool:
    """HTTP statuses worth retrying: timeouts, rate limits and server errors."""
    return status in (408, 429) or status >= 500


def _detail(body: bytes) -> str:
    """A short printable excerpt of an error body (never a success body: no tokens)."""
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:_MAX_DETAIL] + ("…" if len(text) > _MAX_DETAIL else "")


# --- check-in (checkin.md) ------------------------------------------------------------


def checkin_request(
    url: str, credentials: AppCredentialsGcm | None = None, *, chrome_version: str | None = None
) -> HttpRequest:
    """An ``AndroidCheckinRequest`` exactly as Chrome on Linux fills it (checkin.md §2.4).

    A first check-in sends ``id`` and ``security_token`` as explicit zeros; a returning
    client sends its stored pair so the server confirms it.
    """
    version = chrome_version or (credentials.chrome_version if credentials else CHROME_VERSION)
    message = checkin_pb2.AndroidCheckinRequest()
    message.id = credentials.android_id if credentials else 0
    message.security_token = credentials.security_token if credentials else 0
    message.digest = EMPTY_SETTINGS_DIGEST
    message.version = 3
    message.user_serial_number = 0
    build = message.checkin.chrome_build
    message.checkin.type = android_checkin_pb2.DEVICE_CHROME_BROWSER
    build.platform = android_checkin_pb2.ChromeBuildProto.PLATFORM_LINUX
    build.chrome_version = version
    build.channel = android_checkin_pb2.ChromeBuildProto.CHANNEL_STABLE
    return HttpRequest("POST", url, {"Content-Type": _PROTOBUF}, message.SerializeToString())


def parse_checkin_response(
    status: int, headers: Mapping[str, str], body: bytes, *, returning: bool = True
) -> checkin_pb2.AndroidCheckinResponse:
    """The check-in answer, or ``CheckinError`` (checkin.md §5).

    400 and 401 are final (malformed request; for a *returning* device, 401 means its
    android_id/security_token were rejected: ``device_gone``, register again);
    everything else that is not a parsable 200 with both ids non-zero is worth a
    retry, as Chrome does.
    """
    if status in (400, 401):
        if status == 400:
            hint = "the server rejected the request as malformed"
        elif returning:
            hint = "the stored android_id/security_token were rejected: register again"
        else:
            hint = "the server refused to check in a new device (is Endpoints.checkin right?)"
        raise CheckinError(
            f"check-in answered HTTP {status}: {hint}",
            http_status=status,
            device_gone=status == 401 and returning,
        )
    if status != 200:
        raise CheckinError(
            f"check-in answered HTTP {status}: {_detail(body)}", transient=True, http_status=status
        )
    response = checkin_pb2.AndroidCheckinResponse()
    try:
        response.ParseFromString(body)
    except DecodeError:
        raise CheckinError(
            "check-in answer is not an AndroidCheckinResponse", transient=True, http_status=status
        ) from None
    if not response.android_id or not response.security_token:
        raise CheckinError(
            "check-in answered a zero android_id or security_token", transient=True, http_status=200
        )
    return response


def gcm_from_checkin(
    response: checkin_pb2.AndroidCheckinResponse,
    previous: AppCredentialsGcm | None = None,
    *,
    chrome_version: str | None = None,
) -> AppCredentialsGcm:
    """Device credentials from a check-in answer.

    For a returning client (*previous* given) the pair must come back unchanged:
    a new android_id would invalidate every token registered under the old one
    (checkin.md §3), so that raises ``CheckinError`` telling the caller to register again.
    """
    if previous is None:
        return AppCredentialsGcm(
            android_id=response.android_id,
            security_token=response.security_token,
            chrome_version=chrome_version or CHROME_VERSION,
        )
    if (response.android_id, response.security_token) != (
        previous.android_id,
        previous.security_token,
    ):
        raise CheckinError(
            "check-in assigned a new android_id/security_token: the stored "
            "registration is no longer valid, register again",
            device_gone=True,
        )
    return previous


# --- register3 (register.md part A) ---------------------------------------------------


def new_instance_id() -> str:
    """A Chrome InstanceID: 8 random bytes, top nibble 0111, base64url without padding
    (11 characters, the first one of ``cdef``) — InstanceIDImpl::EnsureIDGenerated."""
    raw = bytearray(secrets.token_bytes(8))
    raw[0] = 0x70 | (raw[0] & 0x0F)
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def web_push_app_id(origin: str) -> str:
    """Chrome's app id of a Push API subscription, sent as register3 ``X-subtype``:
    ``wp:`` + the origin's URL (``https://host/``) + ``#`` + an upper-case GUID whose
    last three characters are ``-V2`` (InstanceID based) — push_messaging AppIdentifier."""
    guid = str(uuid.uuid4()).upper()
    return f"wp:{origin}#{guid[:-3]}-V2"


def _form_body(fields: Sequence[tuple[str, str]]) -> bytes:
    # Chrome's BuildFormEncoding: literal keys, values form-escaped (space -> '+').
    return "&".join(f"{key}={quote_plus(value, safe='')}" for key, value in fields).encode()


def _register3(
    url: str,
    device: AppCredentialsGcm,
    fields: Sequence[tuple[str, str]],
    extra_headers: Mapping[str, str] | None = None,
) -> HttpRequest:
    headers = {
        "Authorization": f"AidLogin {device.android_id}:{device.security_token}",
        "Content-Type": _FORM,
        **(extra_headers or {}),
    }
    return HttpRequest("POST", url, headers, _form_body(fields))


def _chrome_head(device: AppCredentialsGcm) -> list[tuple[str, str]]:
    # Chrome's order: app, X-subtype (when there is one), device.
    head = [("app", device.app_name)]
    if device.app_id:
        head.append(("X-subtype", device.app_id))
    head.append(("device", str(device.android_id)))
    return head


def gcm_register_request(url: str, device: AppCredentialsGcm) -> HttpRequest:
    """A.2, Chrome GCM style: ``app``, ``X-subtype`` (= ``device.app_id``), ``device``,
    ``sender`` (= ``device.sender``: the VAPID key, or a numeric sender id)."""
    return _register3(url, device, [*_chrome_head(device), ("sender", device.sender)])


def instance_id_token_request(
    url: str,
    device: AppCredentialsGcm,
    *,
    instance_id: str,
    scope: str = "GCM",
    options: Mapping[str, str] | None = None,
) -> HttpRequest:
    """A.3, what real Chrome sends for a Push API subscription (InstanceID GetToken)."""
    fields = [*_chrome_head(device), ("scope", scope), ("X-scope", scope)]
    fields += [(f"X-{key}", value) for key, value in (options or {}).items()]
    fields += [
        ("gmsv", device.chrome_version.split(".", 1)[0]),
        ("appid", instance_id),
        ("sender", device.sender),
    ]
    return _register3(url, device, fields)


def _android_fields(
    device: AppCredentialsGcm, cert: str, app_id: str, fid: str, fis_auth_token: str
) -> list[tuple[str, str]]:
    return [
        ("app", device.app_name),
        ("cert", cert),
        ("device", str(device.android_id)),
        ("app_ver", "1"),
        ("gcm_ver", ANDROID_GMS_VERSION),
        ("target_ver", "28"),
        ("sender", device.sender),
        ("X-subtype", device.app_id or device.sender),
        ("X-scope", "*"),
        ("X-gmp_app_id", app_id),
        ("X-gmsv", ANDROID_GMS_VERSION),
        ("X-osv", "29"),
        ("X-app_ver", "1"),
        ("X-app_ver_name", "1.0"),
        ("X-cliv", _ANDROID_CLIENT_VERSION),
        ("X-appid", fid),
        ("X-Goog-Firebase-Installations-Auth", fis_auth_token),
        ("X-firebase-app-name-hash", _DEFAULT_APP_NAME_HASH),
    ]


def _android_headers(device: AppCredentialsGcm) -> dict[str, str]:
    # GmsCore duplicates app and gcm_ver as headers (MG RegisterRequest, PK).
    return {
        "User-Agent": _ANDROID_USER_AGENT,
        "app": device.app_name,
        "gcm_ver": ANDROID_GMS_VERSION,
    }


def android_register_request(
    url: str,
    device: AppCredentialsGcm,
    *,
    cert: str,
    app_id: str,
    fid: str,
    fis_auth_token: str,
) -> HttpRequest:
    """A.4, an Android app through Google Play services: the answer is the FCM token.

    ``device.app_name`` is the Android package, ``device.sender`` the numeric sender
    id (also the ``X-subtype``), *cert* the SHA-1 of the signing certificate (hex),
    *app_id* the Firebase app id (``X-gmp_app_id``, the Android SDK's spelling),
    *fid* / *fis_auth_token* the Firebase installation (raw token, no prefix).
    """
    fields = _android_fields(device, cert, app_id, fid, fis_auth_token)
    return _register3(url, device, fields, _android_headers(device))


def android_unregister_request(
    url: str,
    device: AppCredentialsGcm,
    *,
    cert: str,
    app_id: str,
    fid: str,
    fis_auth_token: str,
) -> HttpRequest:
    """A.4 with ``delete``/``X-delete``: drop an Android-app token."""
    fields = _android_fields(device, cert, app_id, fid, fis_auth_token)
    fields += [("delete", "1"), ("X-delete", "1")]
    return _register3(url, device, fields, _android_headers(device))


def gcm_unregister_request(url: str, device: AppCredentialsGcm) -> HttpRequest:
    """A.6, Chrome GCM-style unregister: ``app``, [``X-subtype``], ``device``,
    ``delete=true``, ``gcm_unreg_caller=false``."""
    fields = [*_chrome_head(device), ("delete", "true"), ("gcm_unreg_caller", "false")]
    return _register3(url, device, fields)


def instance_id_delete_request(
    url: str,
    device: AppCredentialsGcm,
    *,
    instance_id: str,
    scope: str = "GCM",
    sender: str | None = None,
) -> HttpRequest:
    """A.6, Chrome InstanceID DeleteToken; ``sender="*", scope="*"`` is DeleteID (every
    token of the instance), what ``PushSubscription.unsubscribe()`` sends."""
    fields = [
        *_chrome_head(device),
        ("delete", "true"),
        ("appid", instance_id),
        ("sender", device.sender if sender is None else sender),
        ("scope", scope),
        ("X-scope", scope),
        ("gmsv", device.chrome_version.split(".", 1)[0]),
    ]
    return _register3(url, device, fields)


# Substring -> transient?  (register.md A.5; Chrome maps by substring, first match wins.)
_REGISTER_ERRORS: tuple[tuple[str, bool], ...] = (
    # Common right after a fresh check-in and gone a few seconds later (EN #44).
    ("PHONE_REGISTRATION_ERROR", True),
    # Chrome retries this one, but it means the AidLogin pair was rejected (and is
    # what our emulator answers for one): retrying the same pair cannot help, so for
    # us it is final and the caller checks in / registers again.
    ("AUTHENTICATION_FAILED", False),
    ("INVALID_SENDER", False),
    ("INVALID_PARAMETERS", False),
    ("InternalServerError", True),
    ("INTERNAL_SERVER_ERROR", True),  # Android spelling (AN GmsRpc)
    ("SERVICE_NOT_AVAILABLE", True),
    ("QUOTA_EXCEEDED", False),
    ("TOO_MANY_REGISTRATIONS", False),
    ("TOO_MANY_SUBSCRIBERS", False),
)

_REGISTER_HINTS = {
    "PHONE_REGISTRATION_ERROR": "the device is not (yet) known to GCM; retry after a short wait",
    "AUTHENTICATION_FAILED": "the android_id/security_token were rejected: check in again",
    "INVALID_SENDER": "the sender (VAPID key or sender id) is not acceptable",
    "INVALID_PARAMETERS": "a required register3 field is missing or malformed",
    "QUOTA_EXCEEDED": "too many registrations: wait before trying again",
    "TOO_MANY_REGISTRATIONS": "this device holds too many registrations: unregister some",
}


def register_error_is_transient(reason: str) -> bool:
    """Whether register3's ``Error=<reason>`` is worth retrying (unknown ones are)."""
    for needle, transient in _REGISTER_ERRORS:
        if needle in reason:
            return transient
    return True


def _register_error(status: int, body: bytes) -> GcmRegisterError | None:
    text = body.decode("utf-8", "replace")
    if "Error=" in text:
        # "Error=" anywhere wins, whatever the status: some errors come with HTTP 200.
        reason = text.split("Error=", 1)[1].strip()[:_MAX_DETAIL] or "UNKNOWN_ERROR"
        hint = next((h for k, h in _REGISTER_HINTS.items() if k in reason), "retry later")
        return GcmRegisterError(
            f"register3 answered Error={reason}: {hint}",
            reason,
            transient=register_error_is_transient(reason),
            http_status=status,
        )
    if status != 200:
        # EN #18 saw a stray 404 page between PHONE_REGISTRATION_ERRORs, so 404 counts
        # as transient here too; other 4xx will not get better by asking again.
        transient = is_transient_status(status) or status == 404
        return GcmRegisterError(
            f"register3 answered HTTP {status}: {_detail(body)}",
            f"HTTP_{status}",
            transient=transient,
            http_status=status,
        )
    return None


def _value_after(body: bytes, key: str) -> str | None:
    text = body.decode("utf-8", "replace")
    if f"{key}=" not in text:
        return None
    return text.split(f"{key}=", 1)[1].strip()


def parse_register_response(status: int, headers: Mapping[str, str], body: bytes) -> str:
    """The token of a register3 answer (A.5), or ``GcmRegisterError``."""
    error = _register_error(status, body)
    if error is not None:
        raise error
    token = _value_after(body, "token")
    if not token:
        raise GcmRegisterError(
            "register3 answer holds neither token= nor Error=",
            "RESPONSE_PARSING_FAILED",
            transient=True,
            http_status=status,
        )
    return token


def parse_unregister_response(
    status: int, headers: Mapping[str, str], body: bytes, *, accept: Collection[str]
) -> None:
    """Check a register3 delete answer: ``deleted=<app>`` or ``unregistered=<package>``
    naming one of *accept* (A.4/A.6); InstanceID deletes answer ``token=``."""
    error = _register_error(status, body)
    if error is not None:
        raise error
    if _value_after(body, "token") is not None:
        return
    for key in ("deleted", "unregistered"):
        value = _value_after(body, key)
        if value is None:
            continue
        if value in accept:
            return
        raise GcmRegisterError(
            f"register3 deleted a different app than the one asked for ({value!r})",
            "INCORRECT_APP_ID",
            http_status=status,
        )
    raise GcmRegisterError(
        "register3 delete answer holds neither deleted= nor Error=",
        "RESPONSE_PARSING_FAILED",
        transient=True,
        http_status=status,
    )
