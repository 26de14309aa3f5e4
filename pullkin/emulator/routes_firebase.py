"""Firebase Installations and FCM registrations, as the Firebase SDKs call them.

Facts: ../shared/protocol/register.md B.1–B.4 (FIS) and C.1–C.3 (fcmregistrations).

FIS: ``POST /v1/projects/{p}/installations`` (API key; Android callers also name their
package and cert), ``POST …/installations/{fid}/authTokens:generate`` and ``DELETE
…/installations/{fid}`` (both ``Authorization: FIS_v2 <refreshToken>``).  A FID that
does not match ``^[cdef][A-Za-z0-9_-]{21}$`` is replaced by a conforming one.

FCM registrations: ``POST /v1/projects/{p}/registrations`` and ``GET/PATCH/DELETE
…/registrations/{token}`` (API key + FIS auth token, with or without ``FIS ``).  PATCH
keeps the token and updates the subscription it stands for (the real service may mint
a new one; clients must use the token in the answer either way).  Deleting a token
or an installation makes its tokens "deleted" (FCM v1: ``UNREGISTERED``).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.emulator.routes_common import (
    GoogleApiError,
    check_android_client,
    check_api_key,
    emulator_of,
    forget_token,
    invalid_argument,
    json_response,
    new_fid,
    new_registration_token,
    not_found,
    project_is_emulated,
    read_json,
)
from pullkin.emulator.state import FcmRegistration, Installation

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["add_routes"]

_FID = re.compile(r"[cdef][A-Za-z0-9_-]{21}")
_AUTH_TOKEN_SECONDS = 604800
_EXPIRES_IN = f"{_AUTH_TOKEN_SECONDS}s"
#: Origins of the push endpoints Chromium hands out (GetGcmEndpointForChannel): Google's,
#: and the staging host of every channel but Stable.
_PUSH_ORIGINS = ("https://fcm.googleapis.com", "https://jmt17.google.com")
_PUSH_PATH = re.compile(r"/(?:fcm/send|wp|preprod/wp)/([^/]+)")


def add_routes(app: web.Application) -> None:
    base = "/v1/projects/{project}/installations"
    app.router.add_post(base, _create_installation, name="installations")
    app.router.add_post(
        base + "/{fid}/authTokens:generate", _generate_auth_token, name="installation_token"
    )
    app.router.add_delete(base + "/{fid}", _delete_installation, name="installation_delete")
    registrations = "/v1/projects/{project}/registrations"
    app.router.add_post(registrations, _create_registration, name="registrations")
    resource = app.router.add_resource(registrations + "/{token}", name="registration")
    resource.add_route("GET", _get_registration)
    resource.add_route("PATCH", _patch_registration)
    resource.add_route("DELETE", _delete_registration)


# --- Firebase Installations -------------------------------------------------------


def _check_project(emu: Emulator, project: str) -> None:
    if not project_is_emulated(emu, project):
        raise GoogleApiError(
            403, "PERMISSION_DENIED", f"Permission denied on resource project {project}."
        )


def _new_auth_token(emu: Emulator, installation_fid: str, app_id: str, expires: float) -> str:
    # Shaped like the real (JWT-like) FIS auth token; the emulator only compares it.
    header = b64url_encode(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    claims = {
        "appId": app_id,
        "exp": int(expires),
        "fid": installation_fid,
        "projectNumber": int(emu.firebase_config.sender_id),
    }
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{secrets.token_urlsafe(64)}"


async def _create_installation(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    check_api_key(request, emu)
    check_android_client(request, emu)
    _check_project(emu, request.match_info["project"])
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_argument()
    app_id, fid = body.get("appId"), body.get("fid")
    known_apps = (emu.firebase_config.app_id, emu.android_config.app_id)
    if app_id not in known_apps or body.get("authVersion") != "FIS_v2":
        raise invalid_argument()
    if fid is not None and not isinstance(fid, str):
        raise invalid_argument()
    if not fid or not _FID.fullmatch(fid):
        fid = new_fid()  # the server may replace a non-conforming FID (B.1)
    expires = time.time() + _AUTH_TOKEN_SECONDS
    installation = Installation(
        fid=fid,
        project_id=emu.firebase_config.project_id,
        app_id=app_id,
        refresh_token="1_" + secrets.token_urlsafe(48),
        auth_token=_new_auth_token(emu, fid, app_id, expires),
        expires_at=expires,
    )
    emu.state.installations[fid] = installation
    emu.store.put(installation)
    return json_response(
        {
            "name": f"projects/{emu.firebase_config.sender_id}/installations/{fid}",
            "fid": fid,
            "refreshToken": installation.refresh_token,
            "authToken": {"token": installation.auth_token, "expiresIn": _EXPIRES_IN},
        }
    )


def _installation_by_refresh(request: web.Request, emu: Emulator) -> Installation:
    """The installation of the path whose refresh token is in ``Authorization: FIS_v2``."""
    check_api_key(request, emu)
    check_android_client(request, emu)
    _check_project(emu, request.match_info["project"])
    scheme, _, refresh = request.headers.get("Authorization", "").partition(" ")
    if scheme != "FIS_v2" or not refresh.strip():
        raise GoogleApiError(
            401, "UNAUTHENTICATED", "Request is missing required authentication credential."
        )
    installation = emu.state.installations.get(request.match_info["fid"])
    if installation is None:
        raise not_found()
    if not secrets.compare_digest(installation.refresh_token.encode(), refresh.strip().encode()):
        raise GoogleApiError(
            401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
        )
    return installation


async def _generate_auth_token(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    installation = _installation_by_refresh(request, emu)
    body = await read_json(request, allow_empty=True)
    if not isinstance(body, dict):
        raise invalid_argument()
    installation.expires_at = time.time() + _AUTH_TOKEN_SECONDS
    installation.auth_token = _new_auth_token(
        emu, installation.fid, installation.app_id, installation.expires_at
    )
    emu.store.put(installation)
    return json_response({"token": installation.auth_token, "expiresIn": _EXPIRES_IN})


async def _delete_installation(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    installation = _installation_by_refresh(request, emu)
    del emu.state.installations[installation.fid]
    emu.store.remove("installation", installation.fid)
    # Tokens minted for this installation die with it.
    doomed = [t.token for t in emu.state.fcm.values() if t.fid == installation.fid]
    doomed += [g.token for g in emu.state.gcm.values() if g.fid == installation.fid]
    for token in doomed:
        forget_token(emu, token)
    return json_response({})


# --- FCM registrations ------------------------------------------------------------


def _installation_by_auth(request: web.Request, emu: Emulator) -> Installation:
    """API key + ``x-goog-firebase-installations-auth`` (with or without ``FIS ``)."""
    check_api_key(request, emu)
    _check_project(emu, request.match_info["project"])
    header = request.headers.get("x-goog-firebase-installations-auth", "").strip()
    token = header[4:] if header.startswith("FIS ") else header
    if not token:
        raise GoogleApiError(
            401, "UNAUTHENTICATED", "Request is missing required authentication credential."
        )
    installation = emu.state.installation_by_auth_token(token, time.time())
    if installation is None:
        raise GoogleApiError(
            401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
        )
    return installation


def _b64_field(web_part: dict[str, Any], name: str, size: int, required: bool = True) -> str | None:
    value = web_part.get(name)
    if value is None or value == "":
        if required:
            raise _bad_field(name, "is required")
        return None
    if not isinstance(value, str):
        raise _bad_field(name, "must be a string")
    try:
        raw = b64decode_any(value)
    except ValueError:
        raise _bad_field(name, "is not valid base64") from None
    if len(raw) != size or (size == 65 and raw[0] != 4):
        raise _bad_field(name, f"must decode to {size} bytes")
    return b64url_encode(raw)


def _bad_field(name: str, problem: str) -> GoogleApiError:
    return invalid_argument(violations=[(f"web.{name}", f"web.{name} {problem}")])


def _gcm_token_of(emu: Emulator, endpoint: Any) -> str:
    """The GCM token a subscription endpoint names; it must be a known web registration."""
    if not isinstance(endpoint, str) or not endpoint:
        raise _bad_field("endpoint", "is required")
    parts = urlsplit(endpoint)
    match = _PUSH_PATH.fullmatch(parts.path)
    origin = f"{parts.scheme}://{parts.netloc}"
    if match is None or origin not in (*_PUSH_ORIGINS, emu.url):
        raise _bad_field("endpoint", "is not a push endpoint of this service")
    token = match.group(1)
    registration = emu.state.gcm.get(token)
    if registration is None or registration.kind != "web":
        raise _bad_field("endpoint", "names an unknown registration")
    return token


def _parse_web(emu: Emulator, body: Any) -> tuple[dict[str, Any], str, str, str, str | None]:
    web_part = body.get("web") if isinstance(body, dict) else None
    if not isinstance(web_part, dict):
        raise invalid_argument(violations=[("web", "web is required")])
    gcm_token = _gcm_token_of(emu, web_part.get("endpoint"))
    p256dh = _b64_field(web_part, "p256dh", 65)
    auth = _b64_field(web_part, "auth", 16)
    app_key = _b64_field(web_part, "applicationPubKey", 65, required=False)
    assert p256dh is not None
    assert auth is not None
    return web_part, gcm_token, p256dh, auth, app_key


def _registration_json(emu: Emulator, registration: FcmRegistration, web_part: Any) -> Any:
    project = emu.firebase_config.project_id
    if registration.by_fid:
        # FID-based (SDK 13 register()): named by the installation, sent to by FID.
        return {"name": f"projects/{project}/registrations/{registration.fid}", "web": web_part}
    return {
        "name": f"projects/{project}/registrations/{registration.token}",
        "token": registration.token,
        "web": web_part,
        "fid": registration.fid,
    }


async def _create_registration(request: web.Request) -> web.Response:
    """Token-based (``getToken``) or, with ``fcm_sdk_version`` in the body, FID-based
    (SDK 13 ``register()``: one registration per installation, replaced on renewal)."""
    emu = emulator_of(request)
    installation = _installation_by_auth(request, emu)
    body = await read_json(request)
    web_part, gcm_token, p256dh, auth, app_key = _parse_web(emu, body)
    by_fid = "fcm_sdk_version" in body
    project = emu.firebase_config.project_id
    for existing in list(emu.state.fcm.values()):
        same = (existing.gcm_token, existing.p256dh, existing.auth) == (gcm_token, p256dh, auth)
        if same and existing.by_fid == by_fid:
            return json_response(_registration_json(emu, existing, web_part))
        if by_fid and existing.by_fid and existing.fid == installation.fid:
            forget_token(emu, existing.token)  # the installation's new subscription
    registration = FcmRegistration(
        token=new_registration_token(installation.fid),
        project_id=project,
        gcm_token=gcm_token,
        p256dh=p256dh,
        auth=auth,
        application_pub_key=app_key,
        fid=installation.fid,
        by_fid=by_fid,
    )
    emu.state.fcm[registration.token] = registration
    emu.store.put(registration)
    return json_response(_registration_json(emu, registration, web_part))


def _registration_of(request: web.Request, emu: Emulator) -> FcmRegistration:
    """By token, or (FID-based registrations) by the installation's FID."""
    key = request.match_info["token"]
    registration = emu.state.fcm.get(key)
    if registration is None:
        registration = next((r for r in emu.state.fcm.values() if r.by_fid and r.fid == key), None)
    if registration is None:
        raise not_found()
    return registration


async def _get_registration(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    _installation_by_auth(request, emu)
    registration = _registration_of(request, emu)
    web_part = {"endpoint": emu.endpoints.webpush_url(registration.gcm_token),
                "p256dh": registration.p256dh, "auth": registration.auth}  # fmt: skip
    if registration.application_pub_key:
        web_part["applicationPubKey"] = registration.application_pub_key
    return json_response(_registration_json(emu, registration, web_part))


async def _patch_registration(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    _installation_by_auth(request, emu)
    registration = _registration_of(request, emu)
    web_part, gcm_token, p256dh, auth, app_key = _parse_web(emu, await read_json(request))
    replacement = FcmRegistration(
        token=registration.token,
        project_id=registration.project_id,
        gcm_token=gcm_token,
        p256dh=p256dh,
        auth=auth,
        application_pub_key=app_key,
        fid=registration.fid,
        created_at=time.time(),
    )
    emu.state.fcm[registration.token] = replacement  # new object: fresh cached key bytes
    emu.store.put(replacement)
    return json_response(_registration_json(emu, replacement, web_part))


async def _delete_registration(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    _installation_by_auth(request, emu)
    registration = _registration_of(request, emu)
    forget_token(emu, registration.token)
    return json_response({})
