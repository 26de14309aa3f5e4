"""pytest plugin (entry point ``pytest11``): ``pullkin_emulator``, ``pullkin_receiver``,
``pullkin_chromium``.

``pullkin_emulator`` is an async, function-scoped fixture that yields a started
``Emulator`` (127.0.0.1, ephemeral ports, in-memory state) and closes it after the
test.  ``pullkin_receiver`` yields a ``ReceiverHarness``: an app registered on that
emulator, connected, recording what it receives, with test timing (``FAST_SESSION``,
``FAST_REGISTRATION``: an outage is noticed and healed within about a second).  Both
run under anyio's pytest plugin on the asyncio backend::

    @pytest.mark.anyio
    async def test_push(pullkin_emulator, pullkin_receiver):
        await pullkin_emulator.send(pullkin_receiver.token, data={"k": "v"})
        assert (await pullkin_receiver.next_message()).data == {"k": "v"}

``pullkin_chromium`` yields a headless system Chromium (``pullkin.emulator.chromium``)
whose push service is ``pullkin_emulator``, in a throw-away profile; it is closed,
with all its processes, after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pullkin.emulator import Emulator
from pullkin.emulator.chromium import Chromium
from pullkin.emulator.harness import ReceiverHarness
from pullkin.errors import ConfigError

__all__ = ["pullkin_chromium", "pullkin_emulator", "pullkin_receiver"]


@pytest.fixture
async def pullkin_emulator(anyio_backend_name: str) -> AsyncIterator[Emulator]:
    """A running emulator for one test (asyncio only: it serves with aiohttp)."""
    if anyio_backend_name != "asyncio":
        raise ConfigError(
            f"pullkin_emulator needs the asyncio backend, not {anyio_backend_name!r}: "
            "set the anyio_backend fixture to 'asyncio'"
        )
    async with Emulator() as emulator:
        yield emulator


@pytest.fixture
async def pullkin_receiver(pullkin_emulator: Emulator) -> AsyncIterator[ReceiverHarness]:
    """A web app registered on ``pullkin_emulator``, connected, recording messages."""
    harness = await ReceiverHarness.start(pullkin_emulator)
    try:
        yield harness
    finally:
        await harness.aclose()


@pytest.fixture
async def pullkin_chromium(pullkin_emulator: Emulator) -> AsyncIterator[Chromium]:
    """A headless Chromium on ``pullkin_emulator`` (``ConfigError`` if none is installed)."""
    async with Chromium(pullkin_emulator) as browser:
        yield browser
