"""The pytest plugin's ``pullkin_emulator`` fixture, run in a throw-away pytest session."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

_TESTS = """
import aiohttp
import pytest

from pullkin.emulator import Emulator


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_fixture_gives_a_running_emulator(pullkin_emulator):
    assert isinstance(pullkin_emulator, Emulator)
    connector = aiohttp.TCPConnector(ssl=pullkin_emulator.endpoints.ssl_context)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(pullkin_emulator.endpoints.checkin, data=b"junk") as response:
            assert response.status == 400


@pytest.mark.anyio
async def test_each_test_gets_a_fresh_emulator(pullkin_emulator):
    assert pullkin_emulator.devices() == []
"""


@pytest.fixture(autouse=True)
def _explicit_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Load exactly the plugins named with -p, whether or not pullkin's pytest11 entry
    # point is installed (loading it twice is an error).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_pullkin_emulator_fixture_serves_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_uses_plugin=_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "anyio.pytest_plugin", "-p", "pullkin.emulator.pytest_plugin", "-W", "error",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
