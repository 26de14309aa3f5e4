"""What the emulated Google HTTP endpoints share: Google's JSON error shape, the API-key,
Android-client and OAuth bearer checks, JSON bodies, and the id formats Google hands out.

Facts: ../shared/protocol/register.md B.4, C.3 and fcm-send.md §1.4, §2, §6.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from pullkin._b64 import b64url_encode
from pullkin.errors import (
    InvalidArgumentError,
    NotFoundError,
    PullkinError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator
    from pullkin.emulator.state import OAuthToken


__all__ = [
    "BAD_REQUEST_TYPE",
    "FCM_ERROR_TYPE",
    "FCM_SCOPES",
    "INVALID_ARGUMENT_TEXT",
    "NOT_FOUND_TEXT",
    "GoogleApiError",
    "attach_emulator",
    "check_android_client",
    "check_api_key",
    "check_bearer",
    "emulator_of",
    "forget_token",
    "invalid_argument",
    "json_response",
    "new_fid",
    "new_registration_token",
    "not_found",
    "project_is_emulated",
    "read_form",
    "read_json",
]

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

#: OAuth scopes that allow FCM sends (fcm-send.md §1.1).
FCM_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)

# Google's standard texts for a missing / rejected OAuth credential.
_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
INVALID_ARGUMENT_TEXT = "Request contains an invalid argument."
NOT_FOUND_TEXT = "Requested entity was not found."

_APP_KEY: web.AppKey[Emulator] = web.AppKey("pullkin_emulator")


class GoogleApiError(PullkinError):
    """An answer in Google's JSON error format (``{"error": {code, message, status}}``).

    ``fcm_code`` adds an ``FcmError`` detail (what firebase-admin maps to its exception
    classes); ``violations`` adds a ``google.rpc.BadRequest`` detail.
    """

    def __init__(
        self,
        http_status: int,
        status: str,
        message: str,
        *,
        fcm_code: str | None = None,
        violations: Sequence[tuple[str | None, str]] = (),
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message
        self.fcm_code = fcm_code
        self.violations = tuple(violations)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        details: list[dict[str, Any]] = []
        if self.fcm_code is not None:
            details.append({"@type": FCM_ERROR_TYPE, "errorCode": self.fcm_code})
        if self.violations:
            fields = []
            for field, description in self.violations:
                item = {"description": description}
                if field is not None:
                    item = {"field": field, **item}
                fields.append(item)
            details.append({"@type": BAD_REQUEST_TYPE, "fieldViolations": fields})
        if details:
            error["details"] = details
        return {"error": error}

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.http_status)

    def to_send_error(self) -> SendError:
        """The ``pullkin.errors`` class a client of the real service would raise."""
        code = self.fcm_code or self.status
        cls: type[SendError] = _SEND_ERRORS.get(code, SendError)
        return cls(self.message, vendor="fcm", code=code, http_status=self.http_status,
                   response=self.body())  # fmt: skip


_SEND_ERRORS: dict[str, type[SendError]] = {
    "UNREGISTERED": UnregisteredError,
    "INVALID_ARGUMENT": InvalidArgumentError,
    "NOT_FOUND": NotFoundError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "THIRD_PARTY_AUTH_ERROR": UnauthenticatedError,
    "QUOTA_EXCEEDED": QuotaExceededError,
    "RESOURCE_EXHAUSTED": QuotaExceededError,
    "UNAVAILABLE": UnavailableError,
    "INTERNAL": UnavailableError,
}


def invalid_argument(message: str = INVALID_ARGUMENT_TEXT, **kwargs: Any) -> GoogleApiError:
    return GoogleApiError(400, "INVALID_ARGUMENT", message, **kwargs)


def not_found(message: str = NOT_FOUND_TEXT, **kwargs: Any) -> GoogleApiError:
    return GoogleApiError(404, "NOT_FOUND", message, **kwargs)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode(), content_type="application/json"
    )


def attach_emulator(app: web.Application, emu: Emulator) -> None:
    app[_APP_KEY] = emu


def emulator_of(request: web.Request) -> Emulator:
    return request.app[_APP_KEY]


# --- request bodies ---------------------------------------------------------------


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """The JSON body; invalid JSON is a 400 the way Google's front end reports it."""
    raw = await request.read()
    if not raw.strip() and allow_empty:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        message = "Invalid JSON payload received. Unexpected token."
        raise invalid_argument(message, violations=[(None, message)]) from None


async def read_form(request: web.Request) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` body (whatever the Content-Type says).

    ``None`` when the body is not UTF-8.  A repeated key keeps its first value.
    """
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    form: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(key, value)
    return form


# --- credentials ------------------------------------------------------------------


def project_is_emulated(emu: Emulator, project: str) -> bool:
    """The path names the emulated project (by id or by number)."""
    config = emu.firebase_config
    return project in (config.project_id, config.sender_id)


def check_api_key(request: web.Request, emu: Emulator) -> None:
    """``x-goog-api-key`` header or ``key`` query must be the project's API key (B.4)."""
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if not key:
        raise GoogleApiError(403, "PERMISSION_DENIED", "The request is missing a valid API key.")
    if not secrets.compare_digest(key.encode(), emu.firebase_config.api_key.encode()):
        raise GoogleApiError(
            403, "PERMISSION_DENIED", "API key not valid. Please pass a valid API key."
        )


def _cert_form(cert: str) -> str:
    return cert.replace(":", "").strip().upper()


def check_android_client(request: web.Request, emu: Emulator) -> None:
    """Android callers name their package and signing cert; they must be the app's."""
    package = request.headers.get("X-Android-Package")
    cert = request.headers.get("X-Android-Cert")
    config = emu.android_config
    if package is not None and package != config.android_package:
        raise GoogleApiError(
            403,
            "PERMISSION_DENIED",
            f"Requests from this Android client application {package} are blocked.",
        )
    if cert is not None and _cert_form(cert) != _cert_form(config.android_cert or ""):
        raise GoogleApiError(
            403,
            "PERMISSION_DENIED",
            f"Requests from this Android client application {package or ''} are blocked.",
        )


def check_bearer(
    request: web.Request, emu: Emulator, project: str, scopes: frozenset[str] = FCM_SCOPES
) -> OAuthToken:
    """An unexpired access token from the emulated OAuth endpoint, for *project*."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise GoogleApiError(401, "UNAUTHENTICATED", _MISSING_CREDENTIAL)
    token = emu.state.oauth_tokens.get(value.strip())
    if token is None or token.expires_at <= time.time():
        raise GoogleApiError(401, "UNAUTHENTICATED", _INVALID_CREDENTIAL)
    if not project_is_emulated(emu, project) or token.project_id != emu.firebase_config.project_id:
        raise GoogleApiError(
            403,
            "PERMISSION_DENIED",
            f"Permission 'cloudmessaging.messages.create' denied on resource "
            f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
        )
    if scopes and not scopes.intersection(token.scope.split()):
        raise GoogleApiError(
            403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
        )
    return token


# --- ids --------------------------------------------------------------------------


def new_registration_token(instance_id: str | None = None) -> str:
    """``<instance id>:APA91b<134 chars>``: the shape of real GCM/FCM tokens (A.5).

    The part before the colon is the instance the token was made for — the ``appid`` a
    client sent, or an FID — else a fresh instance id shaped as Chrome makes them: 8
    random bytes whose top nibble is 0111, base64url, 11 characters.  Either way it
    starts with a letter (never ``-``, which a command line would take for an option).
    """
    if not instance_id or not _INSTANCE_ID.fullmatch(instance_id):
        raw = bytearray(secrets.token_bytes(8))
        raw[0] = 0x70 | (raw[0] & 0x0F)
        instance_id = b64url_encode(bytes(raw))
    return f"{instance_id}:APA91b{secrets.token_urlsafe(101)[:134]}"


_INSTANCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def new_fid() -> str:
    """A conforming FID: 17 random bytes, top nibble 0111, base64url, 22 chars (B.1)."""
    raw = bytearray(secrets.token_bytes(17))
    raw[0] = 0x70 | (raw[0] & 0x0F)
    return b64url_encode(bytes(raw))[:22]


# --- deleting registrations -------------------------------------------------------


def forget_token(emu: Emulator, token: str) -> None:
    """Delete a GCM or FCM token and everything that delivers through it.

    The token (and the FCM tokens minted on top of a GCM token) become "deleted": Web
    Push answers 410 and FCM v1 ``UNREGISTERED`` for them from now on.
    """
    state = emu.state
    doomed = [token]
    if state.gcm.pop(token, None) is not None:
        emu.store.remove("gcm", token)
        doomed += [fcm.token for fcm in state.fcm.values() if fcm.gcm_token == token]
    for fcm_token in doomed:
        if state.fcm.pop(fcm_token, None) is not None:
            emu.store.remove("fcm", fcm_token)
    for dead in doomed:
        state.deleted_tokens.add(dead)
        emu.store.add_deleted(dead)
        _unsubscribe_everywhere(emu, dead)


def _unsubscribe_everywhere(emu: Emulator, token: str) -> None:
    topics: Mapping[str, set[str]] = emu.state.topics
    for name, members in list(topics.items()):
        if token in members:
            members.discard(token)
            emu.store.put_topic(name, members)
            if not members:
                del emu.state.topics[name]
