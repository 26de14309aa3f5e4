"""The emulator's one aiohttp middleware: armed HTTP faults, then the handler.

A request the HTTP/2 front forwarded (``_h2``) gets its https scheme and peer back.

A fault answers with its status (or register3's ``Error=``), or stalls first
(``http_delay``) or for good (``http_hang``: until the client gives up or the emulator
stops).  A client that leaves during a stall, or while its request is being read, is
one log line — not aiohttp's "Error handling request" traceback.  A handler's
``GoogleApiError`` becomes Google's JSON error answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pullkin.emulator._http_front import BRIDGE_HEADER
from pullkin.emulator.faults import HttpFault
from pullkin.emulator.routes_common import GoogleApiError

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["fault_answer", "fault_middleware"]

log = logging.getLogger("pullkin.emulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_POLL = 0.02
#: Status of an answer nobody will read (the client has gone), nginx's convention.
_CLIENT_GONE = 499


def fault_middleware(emu: Emulator) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        mark = request.headers.get(BRIDGE_HEADER)
        if mark is not None:  # from the HTTP/2 front: https, and the real peer
            secret, _, peer = mark.partition(" ")
            if hmac.compare_digest(secret, emu.bridge_secret):
                request = request.clone(scheme="https", remote=peer)
        route = request.match_info.route
        name = route.name if route is not None else None
        fault = emu.faults.take_http(name) if name else None
        if fault is not None:
            if fault.delay and not await _stall(request, fault.delay, emu.closing):
                return _gone(request, "during an injected " + _kind(fault))
            if fault.status is not None or fault.register_error is not None:
                return fault_answer(fault)
        try:
            return await handler(request)
        except GoogleApiError as exc:
            return exc.response()
        except ConnectionResetError:
            return _gone(request, "before its request was read")

    return middleware


def _kind(fault: HttpFault) -> str:
    return "hang" if math.isinf(fault.delay) else f"{fault.delay:g} s delay"


def _gone(request: web.Request, when: str) -> web.Response:
    log.info("%s %s: the client went away %s", request.method, request.path, when)
    return web.Response(status=_CLIENT_GONE)


async def _stall(request: web.Request, seconds: float, closing: asyncio.Event) -> bool:
    """Wait *seconds* (forever if infinite); False if the client left meanwhile (or
    the emulator is stopping: a hung request must not hold up its shutdown)."""
    deadline = time.monotonic() + seconds
    while True:
        transport = request.transport
        if transport is None or transport.is_closing() or closing.is_set():
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, _POLL))


def fault_answer(fault: HttpFault) -> web.Response:
    if fault.register_error is not None:
        return web.Response(text=f"Error={fault.register_error}")
    headers = {}
    if fault.retry_after is not None:
        # whole seconds, rounded up: RFC 9110's delta-seconds, as the real services send
        headers["Retry-After"] = str(math.ceil(fault.retry_after))
    status = fault.status or 503
    body = fault.body
    if body is None:
        body = json.dumps(
            {
                "error": {
                    "code": status,
                    "message": "Injected fault (pullkin emulator)",
                    "status": "UNAVAILABLE" if status >= 500 else "RESOURCE_EXHAUSTED",
                }
            }
        )
    return web.Response(status=status, text=body, headers=headers, content_type="application/json")
