"""The emulator's HTTPS port: ALPN picks HTTP/2 or HTTP/1.1 per connection.

Theory of operation.  One TLS listener offers ``h2`` and ``http/1.1``.  Once the
handshake is done, ``_Dispatch`` looks at the protocol the client chose and hands the
transport over: ``http/1.1`` (or no ALPN) to aiohttp's own protocol, unchanged — the
HTTP/1.1 path costs nothing extra per request — and ``h2`` to ``H2Server``
(``_h2.py``), which speaks HTTP/2 with python-hyper's ``h2`` and answers each stream
by running it through the same aiohttp application (every route, middleware and fault
plan alike).  ``h2`` is the optional ``pullkin[emulator]`` extra: without it the port
offers ``http/1.1`` only, and says so once in the log.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["BRIDGE_HEADER", "AlpnServer", "h2_available"]

log = logging.getLogger("pullkin.emulator")

#: Marks a request the HTTP/2 front forwards: ``<secret> <peer address>``.
BRIDGE_HEADER = "X-Pullkin-H2"


def h2_available() -> bool:
    """Whether python-hyper's ``h2`` (the ``pullkin[emulator]`` extra) is installed."""
    try:
        import h2.connection  # noqa: F401
    except ImportError:
        return False
    return True


class _Dispatch(asyncio.Protocol):
    """Lives only until the handshake is done: then it hands the transport on."""

    def __init__(self, server: AlpnServer) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol = self._server.make_h2() if alpn == "h2" else self._server.make_http1()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


class AlpnServer:
    """The TLS listener.  *http1* makes aiohttp's protocol (``runner.server``);
    *h2_factory*, when given, makes the HTTP/2 one."""

    def __init__(
        self,
        http1: Callable[[], asyncio.Protocol],
        h2_factory: Callable[[], asyncio.Protocol] | None,
    ) -> None:
        self.make_http1 = http1
        self._make_h2 = h2_factory
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[Any] = set()
        #: HTTP/2 connections accepted so far (introspection for tests).
        self.h2_connections = 0

    @property
    def h2(self) -> bool:
        return self._make_h2 is not None

    def make_h2(self) -> asyncio.Protocol:
        assert self._make_h2 is not None  # only offered by ALPN when available
        protocol = self._make_h2()
        self._connections.add(protocol)
        self.h2_connections += 1
        return protocol

    def forget(self, protocol: Any) -> None:
        self._connections.discard(protocol)

    @staticmethod
    def offer(context: ssl.SSLContext, with_h2: bool) -> None:
        context.set_alpn_protocols(["h2", "http/1.1"] if with_h2 else ["http/1.1"])

    async def start(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Dispatch(self), sock=sock, ssl=context, ssl_handshake_timeout=10
        )

    def close(self) -> None:
        """Stop listening and end the HTTP/2 connections (GOAWAY); aiohttp's runner
        ends the HTTP/1.1 ones, then ``wait_closed``."""
        if self._server is not None:
            self._server.close()
        for protocol in list(self._connections):
            protocol.shutdown()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
