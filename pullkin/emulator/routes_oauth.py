"""The OAuth 2.0 token endpoint: the service-account JWT bearer grant (``POST /token``).

Facts: ../shared/protocol/fcm-send.md §2.  The assertion must be an RS256 JWT signed
with the service account the emulator issued (``emu.service_account_info``):
``iss`` its ``client_email``, ``aud`` the token URI (the emulator's or Google's),
at most one hour between ``iat`` and ``exp``, not expired.  The answer is a random
access token valid for an hour; errors are RFC 6749 JSON (``invalid_grant`` …).
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import web

from pullkin.emulator.routes_common import emulator_of, json_response, read_form
from pullkin.emulator.state import OAuthToken

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["JWT_BEARER", "add_routes"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_GOOGLE_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
)
_TOKEN_SECONDS = 3600
_MAX_ASSERTION_SECONDS = 3600
_LEEWAY = 10  # seconds of clock skew tolerated around iat/exp
_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


class _GrantError(Exception):
    """An RFC 6749 error answer (always HTTP 400 here)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def add_routes(app: web.Application) -> None:
    app.router.add_post("/token", _token, name="oauth_token")


async def _token(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    form = await read_form(request) or {}
    try:
        claims = _verified_claims(emu, form)
    except _GrantError as exc:
        return json_response({"error": exc.error, "error_description": exc.description}, 400)
    token = OAuthToken(
        token="ya29." + secrets.token_urlsafe(96),
        client_email=claims["iss"],
        project_id=emu.firebase_config.project_id,
        expires_at=time.time() + _TOKEN_SECONDS,
        scope=claims.get("scope", ""),
    )
    emu.state.oauth_tokens[token.token] = token
    emu.store.put(token)
    return json_response(
        {"access_token": token.token, "expires_in": _TOKEN_SECONDS - 1, "token_type": "Bearer"}
    )


def _verified_claims(emu: Emulator, form: dict[str, str]) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _GrantError("invalid_request", "Missing required parameter: grant_type")
    if grant_type != JWT_BEARER:
        raise _GrantError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    assertion = form.get("assertion")
    if not assertion:
        raise _GrantError("invalid_request", "Missing required parameter: assertion")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _GrantError("invalid_grant", "Invalid JWT: malformed assertion") from None
    if unverified.get("iss") != emu.service_account_info["client_email"]:
        raise _GrantError("invalid_grant", "Invalid grant: account not found")
    claims = _decode(emu, assertion)
    if not isinstance(claims.get("iat"), int) or not isinstance(claims.get("exp"), int):
        raise _GrantError("invalid_grant", _TIMEFRAME)
    if claims["exp"] - claims["iat"] > _MAX_ASSERTION_SECONDS:
        raise _GrantError("invalid_grant", _TIMEFRAME)
    scope = claims.get("scope")
    if not isinstance(scope, str) or not scope.strip():
        raise _GrantError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return claims


def _decode(emu: Emulator, assertion: str) -> dict[str, Any]:
    audiences = [emu.endpoints.oauth_token, *_GOOGLE_AUDIENCES]
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            emu.service_public_key,
            algorithms=["RS256"],
            audience=audiences,
            leeway=_LEEWAY,
            options={"require": ["iss", "aud", "iat", "exp"]},
        )
    except jwt.InvalidSignatureError:
        raise _GrantError("invalid_grant", "Invalid JWT Signature.") from None
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
        raise _GrantError("invalid_grant", _TIMEFRAME) from None
    except jwt.InvalidAudienceError:
        raise _GrantError("invalid_grant", "Invalid JWT: Failed audience check.") from None
    except jwt.PyJWTError as exc:
        raise _GrantError("invalid_grant", f"Invalid JWT: {exc}") from None
    return claims
