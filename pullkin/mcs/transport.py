"""The Stream seam: the only place in pullkin.mcs that touches sockets.

``open_stream(endpoints)`` opens TLS to the MCS host (verification on, the SSL context
from ``Endpoints``), trying ``mcs_port`` and then ``mcs_fallback_port`` like Chrome,
with TCP keep-alive so a dead peer is noticed even on an idle link.
``memory_stream_pair()`` gives two connected in-memory ends for tests.  Every socket
or TLS exception is mapped here, and only here, to a ``TransportError`` subclass;
end of stream is ``b""``.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import anyio

# anyio imports its event-loop backend, TLS stream and thread pool on first use: that
# was about 15 ms inside the first connection (and the first plain handler) of every
# process, so they are imported with pullkin instead.
import anyio._backends._asyncio
import anyio.abc
import anyio.streams.tls
import anyio.to_thread
from anyio.streams.stapled import StapledObjectStream

from pullkin.endpoints import Endpoints
from pullkin.errors import ConnectError, ReadError, TransportTimeout, WriteError

__all__ = ["AnyioStream", "MemoryStream", "Stream", "memory_stream_pair", "open_stream"]

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 16
_T = TypeVar("_T")
_KEEPALIVE = (  # (option name, value): idle 60 s, probe every 20 s, 3 probes
    ("TCP_KEEPIDLE", 60),
    ("TCP_KEEPINTVL", 20),
    ("TCP_KEEPCNT", 3),
)


class Stream(Protocol):
    """A byte stream; what the receiver needs from a connection."""

    async def receive(self) -> bytes:
        """Up to 64 KiB as soon as any bytes are available; ``b""`` at end of stream."""
        ...

    async def send(self, data: bytes) -> None: ...

    async def aclose(self) -> None: ...


async def _mapped(
    action: Callable[[], Awaitable[_T]], error: type[ReadError | WriteError], what: str
) -> _T:
    try:
        return await action()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise error(f"{what} failed: connection is broken or closed") from exc
    except ssl.SSLError as exc:
        raise error(f"{what} failed: TLS error {exc.reason or exc}") from exc
    except TimeoutError as exc:
        raise TransportTimeout(f"{what} timed out") from exc
    except OSError as exc:
        raise error(f"{what} failed: {exc.strerror or exc}") from exc


class AnyioStream:
    """A connected anyio byte stream (TLS over TCP in production)."""

    def __init__(self, stream: anyio.abc.ByteStream, peer: str) -> None:
        self._stream = stream
        self.peer = peer

    def __repr__(self) -> str:
        return f"<AnyioStream {self.peer}>"

    async def receive(self) -> bytes:
        async def read() -> bytes:
            try:
                return await self._stream.receive(_READ_SIZE)
            except anyio.EndOfStream:
                return b""

        return await _mapped(read, ReadError, "read")

    async def send(self, data: bytes) -> None:
        await _mapped(lambda: self._stream.send(data), WriteError, "write")

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except (OSError, anyio.BrokenResourceError, ssl.SSLError):
            log.debug("ignoring an error while closing %s", self.peer)


def _enable_keepalive(stream: anyio.abc.ByteStream) -> None:
    try:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    except anyio.TypedAttributeLookupError:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE:
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


async def _connect(
    host: str, port: int, context: ssl.SSLContext, connect_timeout: float
) -> AnyioStream:
    peer = f"{host}:{port}"
    try:
        with anyio.fail_after(connect_timeout):
            stream = await anyio.connect_tcp(
                host, port, ssl_context=context, tls_standard_compatible=False, tls_hostname=host
            )
    except TimeoutError as exc:
        raise TransportTimeout(
            f"connecting to {peer} timed out after {connect_timeout:g} s"
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise ConnectError(
            f"TLS certificate of {peer} was rejected ({exc.verify_message}); pass an "
            "Endpoints.ssl_context that trusts the server's CA"
        ) from exc
    except anyio.EndOfStream as exc:  # e.g. a handshake-failure alert
        raise ConnectError(f"{peer} closed the connection during the TLS handshake") from exc
    except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
        raise ConnectError(f"cannot connect to {peer}: {exc}") from exc
    _enable_keepalive(stream)
    return AnyioStream(stream, peer)


async def open_stream(endpoints: Endpoints, *, connect_timeout: float = 15.0) -> Stream:
    """TLS to the MCS host on ``mcs_port``, falling back to ``mcs_fallback_port``."""
    context = endpoints.ssl_context or ssl.create_default_context()
    ports = [endpoints.mcs_port]
    if endpoints.mcs_fallback_port is not None and endpoints.mcs_fallback_port not in ports:
        ports.append(endpoints.mcs_fallback_port)
    for port in ports[:-1]:
        try:
            return await _connect(endpoints.mcs_host, port, context, connect_timeout)
        except (ConnectError, TransportTimeout) as exc:
            log.info("MCS port %d unreachable (%s); trying the fallback port", port, exc)
    return await _connect(endpoints.mcs_host, ports[-1], context, connect_timeout)


class MemoryStream:
    """One end of an in-memory connection (tests)."""

    def __init__(self, objects: StapledObjectStream[bytes]) -> None:
        self._objects = objects
        self._closed = False

    async def receive(self) -> bytes:
        if self._closed:
            raise ReadError("read failed: stream is closed")
        try:
            return await self._objects.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return b""

    async def send(self, data: bytes) -> None:
        if self._closed:
            raise WriteError("write failed: stream is closed")
        try:
            await self._objects.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise WriteError("write failed: the other end is closed") from exc

    async def aclose(self) -> None:
        self._closed = True
        await self._objects.aclose()


def memory_stream_pair(buffer: int = 1024) -> tuple[MemoryStream, MemoryStream]:
    """Two connected in-memory streams: what one sends, the other receives."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](buffer)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](buffer)
    return (
        MemoryStream(StapledObjectStream(a_send, a_receive)),
        MemoryStream(StapledObjectStream(b_send, b_receive)),
    )
