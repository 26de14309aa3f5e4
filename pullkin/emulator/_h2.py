"""HTTP/2 for the emulator's HTTPS port: python-hyper's ``h2`` in front of aiohttp.

Theory of operation.  ``H2Server`` is the asyncio protocol of one ``h2`` connection
(``_http_front`` hands it the transport after ALPN).  It collects each stream's
headers and body; when the stream ends it forwards the request, as HTTP/1.1, to the
same aiohttp application the HTTP/1.1 clients reach, over an in-process socket pair
(``Bridge``: aiohttp's own protocol on one end, a minimal HTTP/1.1 client on the other,
one pair per concurrent stream, reused).  So every route, middleware and fault plan
serves both protocols, and aiohttp stays the only HTTP implementation of the routes.
The answer goes back on the stream within the peer's flow-control window.  A reset
stream or a lost connection cancels its forwards, which closes their socket pairs —
the handler sees its client go away, exactly as over HTTP/1.1.

A bridged request carries ``X-Pullkin-H2: <secret> <peer address>``; the emulator's
middleware turns it back into the https scheme and the real peer address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from pullkin.emulator._http_front import BRIDGE_HEADER

__all__ = ["Bridge", "H2Server"]

log = logging.getLogger("pullkin.emulator")

MAX_BODY = (1 << 20) + 1  # aiohttp's client_max_size is 1 MiB: one byte more is refused
MAX_STREAMS = 100
_IDLE_MAX = 8  # bridge connections kept per HTTP/2 connection after a burst
# Not forwarded: hop-by-hop headers, what the bridge sets itself, and Expect (the
# whole body is already here: a 100 Continue would only get in the way).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
     "host", "content-length", "expect", BRIDGE_HEADER.lower()}
)  # fmt: skip


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool


class Bridge:
    """HTTP/1.1 connections into the aiohttp app over socket pairs, kept for reuse."""

    def __init__(self, http1: Callable[[], asyncio.Protocol], secret: str, peer: str) -> None:
        self._http1 = http1
        self._mark = f"{secret} {peer}"
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(self._http1, theirs)
            return await asyncio.open_connection(sock=ours)
        except BaseException:
            ours.close()
            theirs.close()
            raise

    async def forward(
        self, method: str, path: str, authority: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Answer:
        connection = self._reusable() or await self._open()
        reader, writer = connection
        try:
            writer.write(_request(method, path, authority, headers, body, self._mark))
            answer = await _read_answer(reader, method)
        except BaseException:
            writer.close()
            raise
        if answer.keep_alive and len(self._idle) < _IDLE_MAX:
            self._idle.append(connection)
        else:
            writer.close()
        return answer

    def _reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """An idle connection aiohttp has not closed meanwhile (its keep-alive timeout)."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def _request(
    method: str,
    path: str,
    authority: str,
    headers: list[tuple[str, str]],
    body: bytes,
    mark: str,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}", f"{BRIDGE_HEADER}: {mark}"]
    lines += [f"{name}: {value}" for name, value in headers if name not in _HOP_BY_HOP]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_answer(reader: asyncio.StreamReader, method: str) -> _Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head[:-4].split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    fields = dict(headers)
    keep_alive = fields.get("connection", "").lower() != "close"
    if method == "HEAD" or status in (204, 304) or status < 200:
        body = b""
    elif "chunked" in fields.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in fields:
        body = await reader.readexactly(int(fields["content-length"]))
    else:
        body, keep_alive = await reader.read(), False
    kept = [(name, value) for name, value in headers if name not in _HOP_BY_HOP]
    return _Answer(status, kept, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # trailers: not forwarded
            return bytes(body)
        body += (await reader.readexactly(size + 2))[:-2]


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    task: asyncio.Task[None] | None = None


class H2Server(asyncio.Protocol):
    """One HTTP/2 connection (server side); *http1* makes aiohttp's protocol for the
    bridge, *secret* marks bridged requests, *on_close* is told when it ends."""

    def __init__(
        self,
        http1: Callable[[], asyncio.Protocol],
        secret: str,
        on_close: Callable[[H2Server], None],
    ) -> None:
        self._http1, self._secret = http1, secret
        self._bridge = Bridge(http1, secret, "-")
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config=config)
        self._streams: dict[int, _Stream] = {}
        self._window_open = asyncio.Event()

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._bridge = Bridge(self._http1, self._secret, str(peer[0]) if peer else "-")
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS},
        )
        self._h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("HTTP/2 connection ended: the client broke the protocol (%s)", exc)
            self._flush()
            self._close()
            return
        for event in events:
            self._on_event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._close()  # marks the TLS transport closed (Python 3.10 warns otherwise)
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self._streams.clear()
        self._bridge.close()
        self._window_open.set()
        self._on_close(self)

    def shutdown(self) -> None:
        """GOAWAY, then close (the emulator is stopping)."""
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection()
        self._flush()
        self._close()

    # --- events ----------------------------------------------------------------------

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = [(str(k), str(v)) for k, v in event.headers or ()]
            self._streams[event.stream_id] = _Stream(headers)
        elif isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None and stream.task is None:
                stream.task = asyncio.create_task(self._answer(event.stream_id, stream))
        elif isinstance(event, h2.events.StreamReset):
            self._forget(event.stream_id)
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window_open.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._close()

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        self._h2.acknowledge_received_data(event.flow_controlled_length or 0, stream_id)
        stream = self._streams.get(stream_id)
        if stream is None or stream.task is not None:
            return
        stream.body += event.data or b""
        if len(stream.body) > MAX_BODY:  # answered now; the rest is not read
            stream.task = asyncio.create_task(self._refuse_too_large(stream_id))

    def _forget(self, stream_id: int | None) -> None:
        stream = self._streams.pop(stream_id or 0, None)
        if stream is not None and stream.task is not None:
            stream.task.cancel()

    # --- answering ------------------------------------------------------------------

    async def _answer(self, stream_id: int, stream: _Stream) -> None:
        pseudo = {k: v for k, v in stream.headers if k.startswith(":")}
        plain = [(k, v) for k, v in stream.headers if not k.startswith(":")]
        if any(_unsafe(k) or _unsafe(v) for k, v in stream.headers):
            await self._send(stream_id, _Answer(400, [], b"bad header\n", True))
            return
        try:
            answer = await self._bridge.forward(
                pseudo.get(":method", "GET"),
                pseudo.get(":path", "/"),
                pseudo.get(":authority", "localhost"),
                plain,
                bytes(stream.body),
            )
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            log.warning("HTTP/2 stream %d: the application did not answer (%s)", stream_id, exc)
            answer = _Answer(502, [], b"", True)
        await self._send(stream_id, answer)

    async def _refuse_too_large(self, stream_id: int) -> None:
        await self._send(stream_id, _Answer(413, [], b"request body over 1 MiB\n", True))

    async def _send(self, stream_id: int, answer: _Answer) -> None:
        try:
            headers = [(":status", str(answer.status)), *answer.headers]
            headers.append(("content-length", str(len(answer.body))))
            self._h2.send_headers(stream_id, headers, end_stream=not answer.body)
            self._flush()
            await self._send_body(stream_id, answer.body)
        except h2.exceptions.StreamClosedError:
            pass  # the client reset the stream meanwhile
        finally:
            self._streams.pop(stream_id, None)

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        while view:
            if self._transport is None or self._transport.is_closing():
                return
            window = self._h2.local_flow_control_window(stream_id)
            size = min(window, self._h2.max_outbound_frame_size, len(view))
            if size <= 0:
                self._window_open.clear()
                await self._window_open.wait()
                continue
            self._h2.send_data(stream_id, bytes(view[:size]), end_stream=size == len(view))
            view = view[size:]
            self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _unsafe(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text
