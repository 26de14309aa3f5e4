"""Shared by the vendor tests: the emulator, a session that trusts it, senders built
from its vendor credentials (``emu_hub``: Azure's, on an emulator of its own) and the
``pullkin send`` CLI pointed at it.

A test module uses the fixtures with ``pytest_plugins = ["_vendor_support"]`` (an
imported fixture would look unused to the linters) and imports the functions.  Being
imported before pytest loads it as a plugin, it asks not to be assertion-rewritten
(it asserts nothing): PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import pytest

from pullkin.emulator import Emulator
from pullkin.senders._http import RetryPolicy
from pullkin.senders.azure import AzureNotificationHub

_Sender = TypeVar("_Sender")


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=emu.endpoints.ssl_context)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def vendor_sender(
    cls: Callable[..., _Sender], vendor: str, emu: Emulator, **overrides: Any
) -> _Sender:
    """A sender with the emulator's *vendor* credentials (and *overrides*), trusting its CA."""
    credentials: dict[str, Any] = {**emu.vendor(vendor), **overrides}
    return cls(**credentials, ssl_context=emu.endpoints.ssl_context)


def parse_cli(command: _Command, *argv: str) -> argparse.Namespace:
    """*argv* parsed the way ``pullkin send <vendor>`` (the module *command*) parses it."""
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return parser.parse_args(argv)


def emulator_config_file(emu: Emulator, tmp_path: Path) -> Path:
    """The JSON line ``pullkin emulator`` prints, saved where ``--emulator`` can read it."""
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps({**emu.config(), "vendors": emu.vendor_credentials}))
    return path


@pytest.fixture
async def emu_hub() -> AsyncIterator[tuple[Emulator, AzureNotificationHub]]:
    async with Emulator() as emu:
        creds = emu.vendor("azure")
        nh = AzureNotificationHub(
            creds["connection_string"], creds["hub_name"], base_url=creds["base_url"],
            ssl_context=emu.endpoints.ssl_context, retry=RetryPolicy(attempts=1),
        )  # fmt: skip
        async with nh:
            yield emu, nh
