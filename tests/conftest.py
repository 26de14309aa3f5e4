"""Shared fixtures: every async test runs on asyncio through anyio's pytest plugin;
``emu`` is a fresh emulator per test (files that need another setup define their own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pullkin.emulator import Emulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator
