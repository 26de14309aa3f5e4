"""The Stream seam: TLS with verification, port fallback, error mapping, memory pairs."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys

import pytest

from pullkin.emulator import Emulator
from pullkin.errors import ConnectError, ReadError, WriteError
from pullkin.mcs.transport import memory_stream_pair, open_stream

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_tls_stream_to_the_mcs_port(emu: Emulator) -> None:
    stream = await open_stream(emu.endpoints)
    await stream.send(b"\x2a")  # a version the server refuses: it closes the connection
    assert await stream.receive() == b""
    await stream.aclose()


async def test_falls_back_to_the_second_port_like_chrome(emu: Emulator) -> None:
    endpoints = emu.endpoints.replace(
        mcs_port=closed_port(), mcs_fallback_port=emu.endpoints.mcs_port
    )
    stream = await open_stream(endpoints)
    await stream.aclose()


async def test_unreachable_ports_raise_connect_error(emu: Emulator) -> None:
    endpoints = emu.endpoints.replace(mcs_port=closed_port(), mcs_fallback_port=None)
    with pytest.raises(ConnectError, match="cannot connect"):
        await open_stream(endpoints)


async def test_untrusted_certificate_is_a_connect_error_not_a_silent_accept(
    emu: Emulator,
) -> None:
    endpoints = emu.endpoints.replace(ssl_context=ssl.create_default_context())
    with pytest.raises(ConnectError, match="certificate"):
        await open_stream(endpoints)


async def test_memory_pair_carries_bytes_and_maps_errors() -> None:
    left, right = memory_stream_pair()
    await left.send(b"ping")
    assert await right.receive() == b"ping"
    await left.aclose()
    assert await right.receive() == b""  # the other end closed: end of stream
    with pytest.raises(WriteError):
        await left.send(b"x")
    with pytest.raises(ReadError):
        await left.receive()
    await right.aclose()


def test_what_anyio_loads_on_first_use_is_loaded_with_the_receiver() -> None:
    # Loaded lazily, anyio's backend, TLS stream and thread pool cost about 15 ms of the
    # first connection (and of the first plain handler) of every process.
    code = (
        "import sys, pullkin.client; "
        "print(sorted({'anyio._backends._asyncio', 'anyio.streams.tls', 'anyio.to_thread', "
        "'anyio._core._sockets'} - set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
