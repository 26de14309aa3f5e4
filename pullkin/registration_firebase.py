"""Pure request builders and response parsers for Firebase Installations and FCM
registrations (``protocol/register.md`` parts B and C).

Like ``pullkin.registration``: builders return :class:`~pullkin.registration.HttpRequest`,
parsers take ``(status, headers, body)`` and return a model or raise the step's typed
error (``InstallationError``, ``FcmRegisterError``) with ``transient`` set for what a
retry may fix (429, 5xx).  Times come in as ``now`` so parsing stays deterministic.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pullkin._b64 import b64url_encode
from pullkin.endpoints import DEFAULT_VAPID_KEY
from pullkin.errors import FcmRegisterError, InstallationError, RegistrationError
from pullkin.models import AppCredentialsFcm, AppCredentialsKeys, FirebaseInstallation
from pullkin.registration import HttpRequest, is_transient_status

__all__ = [
    "ANDROID_SDK_VERSION",
    "WEB_SDK_VERSION",
    "fcm_create_request",
    "fcm_delete_request",
    "fcm_update_request",
    "fcm_web_body",
    "generate_fid",
    "installation_create_request",
    "installation_delete_request",
    "installation_token_request",
    "parse_fcm_delete_response",
    "parse_fcm_response",
    "parse_installation_delete_response",
    "parse_installation_response",
    "parse_installation_token_response",
]

#: ``sdkVersion`` of @firebase/installations that web receivers announce (GO).
WEB_SDK_VERSION = "w:0.6.17"
#: ``sdkVersion`` of the Android Installations SDK (LC).
ANDROID_SDK_VERSION = "a:17.0.0"
#: ``x-firebase-client``: an empty heartbeat list, standard base64 (FM; optional).
_WEB_CLIENT_HEADER = base64.b64encode(b'{"heartbeats": [], "version": 2}').decode()
_JSON = "application/json"
_MAX_DETAIL = 200


# --- Firebase Installations (part B) ---------------------------------------------------


def generate_fid(random_bytes: bytes | None = None) -> str:
    """A Firebase installation id (B.1): 17 random bytes, top nibble ``0111``,
    base64url, first 22 characters — always matches ``^[cdef][A-Za-z0-9_-]{21}$``."""
    raw = bytearray(random_bytes if random_bytes is not None else os.urandom(17))
    if len(raw) != 17:
        raise ValueError("generate_fid needs exactly 17 random bytes")
    raw[0] = 0x70 | (raw[0] & 0x0F)
    return b64url_encode(bytes(raw))[:22]


def _project_url(root: str, api: str, project_id: str, *parts: str) -> str:
    path = "/".join(quote(part, safe=":") for part in (project_id, api, *parts))
    return f"{root.rstrip('/')}/v1/projects/{path}"


def _fis_headers(
    api_key: str, android_package: str | None, android_cert: str | None
) -> dict[str, str]:
    headers = {"Content-Type": _JSON, "Accept": _JSON, "x-goog-api-key": api_key}
    if android_package:
        # The Android SDK identifies the app by package and signing certificate;
        # Google checks them against the API key's restrictions.
        headers["X-Android-Package"] = android_package
        headers["X-Android-Cert"] = android_cert or ""
    else:
        headers["x-firebase-client"] = _WEB_CLIENT_HEADER
    return headers


def _json_body(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def installation_create_request(
    root: str,
    *,
    project_id: str,
    api_key: str,
    app_id: str,
    fid: str,
    android_package: str | None = None,
    android_cert: str | None = None,
) -> HttpRequest:
    """B.1: create an installation.  With *android_package* it is the Android app's
    request (package and cert headers, ``a:`` SDK version), else the web SDK's.

    The API key always travels in the ``x-goog-api-key`` header (the Android SDK puts
    it in ``?key=``; Google accepts both) so it never lands in a URL or access log.
    """
    body = {
        "fid": fid,
        "authVersion": "FIS_v2",
        "appId": app_id,
        "sdkVersion": ANDROID_SDK_VERSION if android_package else WEB_SDK_VERSION,
    }
    url = _project_url(root, "installations", project_id)
    headers = _fis_headers(api_key, android_package, android_cert)
    return HttpRequest("POST", url, headers, _json_body(body))


def installation_token_request(
    root: str,
    *,
    project_id: str,
    api_key: str,
    installation: FirebaseInstallation,
    android_package: str | None = None,
    android_cert: str | None = None,
) -> HttpRequest:
    """B.2: a fresh FIS auth token, authorised by the installation's refresh token."""
    url, headers = _of_installation(
        root, project_id, api_key, installation, android_package, android_cert
    )
    sdk = ANDROID_SDK_VERSION if android_package else WEB_SDK_VERSION
    body = _json_body({"installation": {"sdkVersion": sdk}})
    return HttpRequest("POST", url + "/authTokens:generate", headers, body)


def installation_delete_request(
    root: str,
    *,
    project_id: str,
    api_key: str,
    installation: FirebaseInstallation,
    android_package: str | None = None,
    android_cert: str | None = None,
) -> HttpRequest:
    """B.3: delete the installation."""
    url, headers = _of_installation(
        root, project_id, api_key, installation, android_package, android_cert
    )
    return HttpRequest("DELETE", url, headers)


def _of_installation(
    root: str,
    project_id: str,
    api_key: str,
    installation: FirebaseInstallation,
    android_package: str | None,
    android_cert: str | None,
) -> tuple[str, dict[str, str]]:
    """URL and headers of a call about one installation (its refresh token authorises)."""
    headers = _fis_headers(api_key, android_package, android_cert)
    headers["Authorization"] = f"FIS_v2 {installation.refresh_token}"
    return _project_url(root, "installations", project_id, installation.fid), headers


def _google_error(
    cls: type[RegistrationError], what: str, status: int, body: bytes, hint: str
) -> RegistrationError:
    """Map a Google JSON error (``{"error": {code, message, status}}``) to *cls*."""
    code, message = "", ""
    try:
        error = json.loads(body).get("error", {})
        code, message = str(error.get("status", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        message = body.decode("utf-8", "replace").strip()
    message = message.replace("\n", " ")[:_MAX_DETAIL]
    transient = is_transient_status(status)
    advice = "retry later" if transient else hint
    text = f"{what} answered HTTP {status} {code}".rstrip() + f": {message or 'no detail'}"
    return cls(f"{text} — {advice}", transient=transient, http_status=status)


def _json_object(cls: type[RegistrationError], what: str, status: int, body: bytes) -> Any:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise cls(
            f"{what} answered HTTP 200 without a JSON object", transient=True, http_status=200
        )
    return data


def _expires_at(expires_in: Any, now: _dt.datetime) -> _dt.datetime:
    # Protobuf Duration JSON: decimal seconds followed by "s" ("604800s").
    if not isinstance(expires_in, str) or not expires_in.endswith("s"):
        raise ValueError("expiresIn is not a duration")
    return now + _dt.timedelta(seconds=float(expires_in[:-1]))


_FIS_HINT = (
    "check api_key, project_id and app_id (and, for an Android app, android_package "
    "and android_cert)"
)


def parse_installation_response(
    status: int, headers: Mapping[str, str], body: bytes, *, now: _dt.datetime
) -> FirebaseInstallation:
    """B.1 answer → ``FirebaseInstallation`` (the ``fid`` the server returned wins)."""
    what = "Firebase Installations create"
    if status != 200:
        raise _google_error(InstallationError, what, status, body, _FIS_HINT)
    data = _json_object(InstallationError, what, status, body)
    try:
        auth = data["authToken"]
        return FirebaseInstallation(
            fid=str(data["fid"]),
            refresh_token=str(data["refreshToken"]),
            auth_token=str(auth["token"]),
            expires_at=_expires_at(auth.get("expiresIn"), now),
            name=str(data.get("name", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise InstallationError(
            f"{what} answer lacks fid, refreshToken or authToken", transient=True, http_status=200
        ) from None


def parse_installation_token_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    installation: FirebaseInstallation,
    now: _dt.datetime,
) -> FirebaseInstallation:
    """B.2 answer → the installation with its new auth token.  401/404 mean the refresh
    token or the installation is gone: create a new installation."""
    what = "Firebase Installations generateAuthToken"
    if status != 200:
        hint = "create a new installation" if status in (401, 404) else _FIS_HINT
        raise _google_error(InstallationError, what, status, body, hint)
    data = _json_object(InstallationError, what, status, body)
    try:
        return FirebaseInstallation(
            fid=installation.fid,
            refresh_token=installation.refresh_token,
            auth_token=str(data["token"]),
            expires_at=_expires_at(data.get("expiresIn"), now),
            name=installation.name,
        )
    except (KeyError, TypeError, ValueError):
        raise InstallationError(
            f"{what} answer lacks token or expiresIn", transient=True, http_status=200
        ) from None


def parse_installation_delete_response(
    status: int, headers: Mapping[str, str], body: bytes
) -> None:
    """B.3: 200, 401 and 404 all mean the installation is gone."""
    if status not in (200, 401, 404):
        raise _google_error(
            InstallationError, "Firebase Installations delete", status, body, _FIS_HINT
        )


# --- FCM registrations (part C) -------------------------------------------------------


def fcm_web_body(
    endpoint: str, keys: AppCredentialsKeys, vapid_key: str | None = None
) -> dict[str, Any]:
    """The ``web`` registration document (C.1).  ``applicationPubKey`` is left out for
    the default key, as the JS SDK does: sending it makes the registration fail."""
    web = {"endpoint": endpoint, "p256dh": keys.public_key, "auth": keys.auth_secret}
    if vapid_key and vapid_key != DEFAULT_VAPID_KEY:
        web["applicationPubKey"] = vapid_key
    return {"web": web}


def _fcm_headers(api_key: str, fis_auth_token: str) -> dict[str, str]:
    return {
        "Content-Type": _JSON,
        "Accept": _JSON,
        "x-goog-api-key": api_key,
        "x-goog-firebase-installations-auth": f"FIS {fis_auth_token}",
    }


def fcm_create_request(
    root: str,
    *,
    project_id: str,
    api_key: str,
    fis_auth_token: str,
    body: Mapping[str, Any],
) -> HttpRequest:
    """C.1: mint an FCM token for a web push subscription (*body* from :func:`fcm_web_body`)."""
    url = _project_url(root, "registrations", project_id)
    return HttpRequest("POST", url, _fcm_headers(api_key, fis_auth_token), _json_body(body))


def fcm_update_request(
    root: str,
    *,
    project_id: str,
    api_key: str,
    fis_auth_token: str,
    token: str,
    body: Mapping[str, Any],
) -> HttpRequest:
    """C.2: refresh a registration (the JS SDK does it weekly); may return a new token."""
    url = _project_url(root, "registrations", project_id, token)
    return HttpRequest("PATCH", url, _fcm_headers(api_key, fis_auth_token), _json_body(body))


def fcm_delete_request(
    root: str, *, project_id: str, api_key: str, fis_auth_token: str, token: str
) -> HttpRequest:
    """C.2: delete a registration."""
    url = _project_url(root, "registrations", project_id, token)
    return HttpRequest("DELETE", url, _fcm_headers(api_key, fis_auth_token))


_FCM_HINT = "check api_key and project_id, and that the installation belongs to this project"


def parse_fcm_response(
    status: int, headers: Mapping[str, str], body: bytes, *, now: _dt.datetime
) -> AppCredentialsFcm:
    """C.1/C.2 answer → ``AppCredentialsFcm`` (token, name, created_at = *now*)."""
    what = "FCM registrations"
    if status != 200:
        raise _google_error(FcmRegisterError, what, status, body, _FCM_HINT)
    data = _json_object(FcmRegisterError, what, status, body)
    if "error" in data:
        raise _google_error(FcmRegisterError, what, status, body, _FCM_HINT)
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise FcmRegisterError(f"{what} answer holds no token", transient=True, http_status=200)
    return AppCredentialsFcm(token=token, created_at=now, name=str(data.get("name", "")))


def parse_fcm_delete_response(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """C.2 delete: done on 200 (or 404: already gone); an ``error`` member is a failure."""
    if status == 404:
        return
    if status != 200:
        raise _google_error(FcmRegisterError, "FCM registrations delete", status, body, _FCM_HINT)
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        data = {}
    if isinstance(data, dict) and "error" in data:
        raise _google_error(FcmRegisterError, "FCM registrations delete", status, body, _FCM_HINT)
