"""An HTTP/2 load client for bench/emulator.py: pre-built requests on a few connections,
many streams in flight on each (python-hyper's ``h2``, the client side)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Protocol
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events


class Load(Protocol):
    requests: list[bytes]
    unsent: int
    unanswered: int
    finished: asyncio.Future[None]

    def fail(self, error: BaseException) -> None: ...


class H2Poster(asyncio.Protocol):
    """One HTTP/2 connection keeping *in_flight* streams busy until the load is sent."""

    def __init__(self, load: Load, headers: list[tuple[str, str]], in_flight: int) -> None:
        self._load = load
        self._headers = headers
        self._in_flight = in_flight
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self._transport: asyncio.Transport | None = None
        self._statuses: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._h2.initiate_connection()
        transport.write(self._h2.data_to_send())

    def start(self) -> None:
        for _ in range(self._in_flight):
            self._next()
        self._flush()

    def _next(self) -> None:
        load = self._load
        if load.unsent <= 0:
            return
        load.unsent -= 1
        body = load.requests[load.unsent % len(load.requests)]
        stream = self._h2.get_next_available_stream_id()
        self._h2.send_headers(stream, [*self._headers, ("content-length", str(len(body)))])
        self._h2.send_data(stream, body, end_stream=True)

    def data_received(self, data: bytes) -> None:
        for event in self._h2.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                self._statuses[event.stream_id] = dict(event.headers)[b":status"]
            elif isinstance(event, h2.events.DataReceived):
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._answered(self._statuses.pop(event.stream_id, b"?"))
        self._flush()

    def _answered(self, status: bytes) -> None:
        load = self._load
        if status != b"200":
            load.fail(AssertionError(f"HTTP/2 answer {status!r}"))
        load.unanswered -= 1
        if load.unanswered == 0 and not load.finished.done():
            load.finished.set_result(None)
        self._next()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)


async def connect(
    url: str, token: str, load: Load, connections: int, in_flight: int, context: ssl.SSLContext
) -> list[tuple[Any, H2Poster]]:
    """*connections* HTTP/2 connections to *url* (ALPN h2), ready to ``start()``."""
    parts = urlsplit(url)
    headers = [(":method", "POST"), (":path", parts.path), (":scheme", "https"),
               (":authority", parts.netloc), ("authorization", f"Bearer {token}"),
               ("content-type", "application/json")]  # fmt: skip
    h2_context = ssl.create_default_context()
    h2_context.load_verify_locations(cadata=_ca_pem(context))
    h2_context.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    opened = []
    for _ in range(connections):
        transport, poster = await loop.create_connection(
            lambda: H2Poster(load, headers, in_flight), parts.hostname, parts.port, ssl=h2_context
        )
        assert transport.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        opened.append((transport, poster))
    return opened


def _ca_pem(context: ssl.SSLContext) -> str:
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in context.get_ca_certs(binary_form=True))
