"""``FcmSender``: FCM HTTP v1 sends, batches and topic subscriptions, async and retrying.

What firebase-admin does with google-auth and a thread pool, done with one pooled
aiohttp session: a service-account JWT (RS256, PyJWT) is exchanged for an OAuth2
access token (protocol/fcm-send.md §2), cached and renewed five minutes before it
expires — one fetch however many sends wait for it.  Messages are validated by
their models (``pullkin.senders.fcm_models``) before anything is sent, and Google's
error body is mapped to the ``SendError`` tree by its ``FcmError`` code (§1.4).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pullkin.endpoints import Endpoints
from pullkin.errors import (
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnexpectedResponseError,
    UnregisteredError,
)
from pullkin.senders._http import (
    BatchResult,
    HttpClient,
    HttpResponse,
    RetryPolicy,
    _OwnsHttpClient,
    error_for_status,
    run_each,
)
from pullkin.senders._token import AccessToken
from pullkin.senders.fcm_encode import encode_message
from pullkin.senders.fcm_models import (
    AndroidConfig,
    AndroidFcmOptions,
    AndroidNotification,
    ApnsConfig,
    ApnsFcmOptions,
    FcmOptions,
    LightSettings,
    Message,
    Notification,
    WebpushConfig,
    WebpushFcmOptions,
    normalize_topic,
)

__all__ = [
    "AndroidConfig",
    "AndroidFcmOptions",
    "AndroidNotification",
    "ApnsConfig",
    "ApnsFcmOptions",
    "FcmOptions",
    "FcmSender",
    "LightSettings",
    "Message",
    "Notification",
    "TopicManagementResult",
    "WebpushConfig",
    "WebpushFcmOptions",
    "load_service_account",
]

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/firebase.messaging",)
_REFRESH_MARGIN = 300.0  # renew this long before the token expires
_IID_BATCH = 1000
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# FcmError.errorCode → error class (protocol/fcm-send.md §1.4).
_FCM_CODES: dict[str, type[SendError]] = {
    "UNREGISTERED": UnregisteredError,
    "INVALID_ARGUMENT": InvalidArgumentError,
    "SENDER_ID_MISMATCH": UnauthenticatedError,
    "QUOTA_EXCEEDED": QuotaExceededError,
    "UNAVAILABLE": UnavailableError,
    "INTERNAL": UnavailableError,
    "THIRD_PARTY_AUTH_ERROR": UnauthenticatedError,
    "APNS_AUTH_ERROR": UnauthenticatedError,
}
# Canonical status when no FcmError detail came with the answer.
_CANONICAL: dict[str, type[SendError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "PERMISSION_DENIED": UnauthenticatedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": QuotaExceededError,
    "UNAVAILABLE": UnavailableError,
    "INTERNAL": UnavailableError,
}


# --- service account and OAuth ----------------------------------------------------


def load_service_account(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Read a service-account key: a dict, a path to its JSON file, or the JSON text."""
    if not isinstance(source, (Mapping, str, Path)):
        raise ConfigError(
            f"a service account is needed (a dict, a path to the key file or its JSON text), "
            f"got {type(source).__name__}: download a key from the Firebase console "
            "(Project settings > Service accounts)"
        )
    if isinstance(source, Mapping):
        info = dict(source)
    elif isinstance(source, Path) or not str(source).lstrip().startswith(("{", "[")):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the service account file {str(path)!r}: {exc.strerror}"
            ) from None
        info = _parse_json(text, f"service account file {str(path)!r}")
    else:
        info = _parse_json(str(source), "service account JSON")
    for key in ("client_email", "private_key"):
        if not isinstance(info.get(key), str) or not info[key]:
            raise ConfigError(
                f"the service account has no {key!r}: download a key of type "
                "'service_account' from the Firebase console (Project settings > Service accounts)"
            )
    return info


def _parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"the {what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the {what} must be a JSON object")
    return data


def _rsa_key(info: Mapping[str, Any]) -> rsa.RSAPrivateKey:
    try:
        key = load_pem_private_key(info["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("the service account's private_key is not a readable PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("the service account's private_key must be an RSA key")
    return key


class _AccessTokens:
    """Cached OAuth2 access tokens from a service-account JWT bearer grant."""

    def __init__(
        self,
        http: HttpClient,
        info: Mapping[str, Any],
        token_url: str,
        scopes: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._key = _rsa_key(info)
        self._email: str = info["client_email"]
        self._key_id = info.get("private_key_id")
        self._token_url = token_url
        self._scope = " ".join(scopes)
        self._token = AccessToken(self._request, _parse_token, clock, _REFRESH_MARGIN)

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._token.get()}"}

    async def _request(self) -> HttpResponse:
        return await self._http.request(
            "POST",
            self._token_url,
            data=f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
            f"&assertion={self._assertion()}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            classify=_classify_oauth,
        )

    def _assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self._email,
            "scope": self._scope,
            "aud": self._token_url,
            "iat": now,
            "exp": now + 3600,
        }
        headers = {"kid": self._key_id} if self._key_id else None
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)


def _parse_token(response: HttpResponse) -> tuple[str, float]:
    data = response.json()
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise UnauthenticatedError(
            "the OAuth token endpoint answered without an access_token",
            vendor="fcm",
            code="NO_ACCESS_TOKEN",
            http_status=response.status,
            request_id=response.request_id,
        )
    lifetime = data.get("expires_in", 3600)
    return token, float(lifetime) if isinstance(lifetime, (int, float)) else 3600.0


def _classify_oauth(response: HttpResponse) -> SendError | None:
    if response.status < 400:
        return None
    data = response.json()
    code = data.get("error") if isinstance(data, dict) else None
    if response.status in (400, 401, 403) and code:
        detail = data.get("error_description") or code
        return UnauthenticatedError(
            f"the OAuth token endpoint refused the service account: {detail}; "
            "check the key is current and belongs to this project",
            vendor="fcm",
            code=str(code),
            response=data,
        )
    return error_for_status(response, "fcm", code=str(code) if code else None)


# --- FCM errors ------------------------------------------------------------------


def classify_fcm(response: HttpResponse) -> SendError | None:
    """Map a v1 answer to ``None`` (success) or the error its ``FcmError`` code means."""
    if response.status < 400:
        return None
    data = response.json()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return error_for_status(response, "fcm")
    fcm_code = _fcm_error_code(error.get("details"))
    status = error.get("status")
    message = str(error.get("message") or status or "no message")
    cls = _FCM_CODES.get(fcm_code or "") or _CANONICAL.get(str(status))
    code = fcm_code or (str(status) if status else None)
    if cls is None:
        return error_for_status(response, "fcm", code=code, message=message, body=data)
    return cls(f"FCM refused the message: {message}", vendor="fcm", code=code, response=data)


def _fcm_error_code(details: Any) -> str | None:
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == _FCM_ERROR_TYPE:
            code = detail.get("errorCode")
            return str(code) if code else None
    return None


# --- topic management -------------------------------------------------------------


@dataclass(frozen=True)
class TopicManagementResult:
    """Outcome of a (un)subscribe: counts and ``errors`` as (index, reason) pairs."""

    success_count: int
    failure_count: int
    errors: list[tuple[int, str]] = field(default_factory=list)


# --- the sender -------------------------------------------------------------------


class FcmSender(_OwnsHttpClient):
    """Send through FCM HTTP v1 as a service account.

    ``service_account``: a dict, a path to the key JSON, or its text.  ``project_id``
    defaults to the key's.  ``endpoints`` (e.g. ``emu.endpoints``) replaces every URL
    and the TLS trust; without it the key's ``token_uri`` and Google's FCM are used.
    ``ssl_context`` adds trust; one that does not verify needs ``insecure=True``.
    ``retry=RetryPolicy(repeat_sends=False)`` never repeats a send that may have
    arrived (see ``senders._http``).
    """

    def __init__(
        self,
        service_account: Mapping[str, Any] | str | Path,
        project_id: str | None = None,
        endpoints: Endpoints | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        scopes: Sequence[str] = SCOPES,
    ) -> None:
        info = load_service_account(service_account)
        project = project_id or info.get("project_id")
        if not isinstance(project, str) or not project:
            raise ConfigError("no project_id: pass project_id= or use a key that names one")
        self.project_id = project
        urls = endpoints or Endpoints()
        token_url = urls.oauth_token if endpoints else info.get("token_uri") or urls.oauth_token
        self._send_url = urls.fcm_send_url(project)
        self._iid_url = urls.iid.rstrip("/") + "/iid/v1"
        self._http = HttpClient(
            "fcm",
            session=session,
            timeout=timeout,
            retry=retry,
            ssl=ssl_context or urls.ssl_context,
            insecure=insecure or urls.insecure,
            classify=classify_fcm,
        )
        self._tokens = _AccessTokens(self._http, info, token_url, scopes)

    async def _auth(self) -> dict[str, str]:
        headers = await self._tokens.headers()
        headers["X-GOOG-API-FORMAT-VERSION"] = "2"
        return headers

    async def send(self, message: Message, validate_only: bool = False) -> str:
        """Send one message; returns its name (``projects/<p>/messages/<id>``)."""
        if not isinstance(message, Message):
            raise ConfigError("FcmSender.send needs a pullkin.senders.fcm.Message")
        response = await self._http.request(
            "POST",
            self._send_url,
            json=encode_message(message, validate_only=validate_only),
            auth=self._auth,
            idempotent=validate_only,
        )
        data = response.json()
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str):
            raise UnexpectedResponseError(
                f"FCM answered HTTP {response.status} (accepted) without a message name; the "
                "message was probably sent and is not repeated",
                vendor="fcm", code="BAD_RESPONSE", http_status=response.status,
                request_id=response.request_id, response=response.text()[:500],
            )  # fmt: skip
        return name

    async def send_each(
        self, messages: Iterable[Message], validate_only: bool = False, *, concurrency: int = 16
    ) -> BatchResult[str]:
        """Send every message (at most *concurrency* at once); per-item results."""

        async def one(message: Message) -> str:
            return await self.send(message, validate_only)

        return await run_each(messages, one, concurrency=concurrency)

    async def subscribe_to_topic(
        self, tokens: str | Sequence[str], topic: str
    ) -> TopicManagementResult:
        """Subscribe registration tokens to *topic* (IID ``:batchAdd``, 1000 per call)."""
        return await self._manage_topic(tokens, topic, "batchAdd")

    async def unsubscribe_from_topic(
        self, tokens: str | Sequence[str], topic: str
    ) -> TopicManagementResult:
        """Unsubscribe registration tokens from *topic* (IID ``:batchRemove``)."""
        return await self._manage_topic(tokens, topic, "batchRemove")

    async def _manage_topic(
        self, tokens: str | Sequence[str], topic: str, operation: str
    ) -> TopicManagementResult:
        token_list = [tokens] if isinstance(tokens, str) else list(tokens)
        if not token_list or not all(isinstance(t, str) and t for t in token_list):
            raise InvalidArgumentError(
                "tokens must be a non-empty list of non-empty strings",
                vendor="fcm", code="INVALID_ARGUMENT",
            )  # fmt: skip
        to = f"/topics/{normalize_topic(topic)}"
        errors: list[tuple[int, str]] = []
        for start in range(0, len(token_list), _IID_BATCH):
            chunk = token_list[start : start + _IID_BATCH]
            results = await self._iid_call(operation, to, chunk)
            for offset, result in enumerate(results):
                if isinstance(result, dict) and result.get("error"):
                    errors.append((start + offset, str(result["error"])))
        return TopicManagementResult(len(token_list) - len(errors), len(errors), errors)

    async def _iid_call(self, operation: str, to: str, tokens: list[str]) -> list[Any]:
        async def auth() -> dict[str, str]:
            headers = await self._tokens.headers()
            headers["access_token_auth"] = "true"
            return headers

        response = await self._http.request(
            "POST",
            f"{self._iid_url}:{operation}",
            json={"to": to, "registration_tokens": tokens},
            auth=auth,
            classify=_classify_iid,
        )
        data = response.json()
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list) or len(results) != len(tokens):
            raise UnavailableError(
                "the IID service answered without one result per token",
                vendor="fcm", code="BAD_RESPONSE", request_id=response.request_id,
            )  # fmt: skip
        return results

    def __repr__(self) -> str:
        return f"<FcmSender project={self.project_id} {self._http!r}>"


def _classify_iid(response: HttpResponse) -> SendError | None:
    if response.status < 400:
        return None
    data = response.json()
    code = data.get("error") if isinstance(data, dict) else None
    return error_for_status(response, "fcm", code=str(code) if isinstance(code, str) else None)
