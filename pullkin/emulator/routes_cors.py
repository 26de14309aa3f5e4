"""CORS on the Google APIs a web page calls directly: Firebase Installations, FCM
registrations (the Firebase JS SDK's ``getToken``) and the rest under ``/v1/``.

Google's API front end answers a preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) with the origin echoed, the methods
``DELETE,GET,HEAD,PATCH,POST,PUT``, the requested headers echoed and a max age of an
hour — but only when every requested header is one it accepts: an unknown custom
header (an extension or monitoring library adding one) gets an answer without
``Access-Control-Allow-Origin``, and the browser reports the CORS error users see
(firebase/firebase-js-sdk#8976).  Every answer to a request with ``Origin``, errors
included, carries ``Access-Control-Allow-Origin`` so the page can read it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["ALLOWED_REQUEST_HEADERS", "cors_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Request headers a preflight may ask for (lower case).
ALLOWED_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "cache-control",
        "content-language",
        "content-type",
        "x-client-version",
        "x-firebase-appcheck",
        "x-firebase-client",
        "x-firebase-client-log-type",
        "x-firebase-gmpid",
        "x-goog-api-client",
        "x-goog-api-key",
        "x-goog-firebase-installations-auth",
        "x-goog-request-params",
        "x-goog-user-project",
    }
)
_PREFIXES = ("/v1/",)
_METHODS = "DELETE,GET,HEAD,PATCH,POST,PUT"
_MAX_AGE = "3600"
_VARY = "Origin, X-Origin, Referer"


def _allow(headers: web.StreamResponse | web.HTTPException, origin: str) -> None:
    headers.headers["Access-Control-Allow-Origin"] = origin
    headers.headers["Vary"] = _VARY


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(_PREFIXES):
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return _preflight(request, origin)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _allow(exc, origin)
        raise
    _allow(response, origin)
    return response


def _preflight(request: web.Request, origin: str) -> web.Response:
    wanted = request.headers["Access-Control-Request-Method"].upper()
    refused = web.Response(status=200, headers={"Vary": _VARY})
    if wanted not in _METHODS.split(",") or wanted not in _methods_of(request):
        return refused
    asked = request.headers.get("Access-Control-Request-Headers", "")
    names = [name.strip() for name in asked.split(",") if name.strip()]
    if any(name.lower() not in ALLOWED_REQUEST_HEADERS for name in names):
        return refused
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": _METHODS,
        "Access-Control-Max-Age": _MAX_AGE,
        "Vary": _VARY,
    }
    if names:
        headers["Access-Control-Allow-Headers"] = ",".join(names)
    return web.Response(status=200, headers=headers)


def _methods_of(request: web.Request) -> frozenset[str]:
    """The methods the path has routes for (the router answered OPTIONS with 405)."""
    error = request.match_info.http_exception
    if isinstance(error, web.HTTPMethodNotAllowed):
        return frozenset(error.allowed_methods)
    return frozenset()
