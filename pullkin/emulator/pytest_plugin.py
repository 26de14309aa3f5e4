"""pytest plugin: the ``pullkin_emulator`` fixture (entry point ``pytest11``).

``pullkin_emulator`` is an async, function-scoped fixture that yields a started
``Emulator`` (127.0.0.1, ephemeral ports, in-memory state) and closes it after the
test.  It runs under anyio's pytest plugin on the asyncio backend::

    @pytest.mark.anyio
    async def test_push(pullkin_emulator):
        name = await pullkin_emulator.send(token, data={"k": "v"})
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pullkin.emulator import Emulator
from pullkin.errors import ConfigError

__all__ = ["pullkin_emulator"]


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
