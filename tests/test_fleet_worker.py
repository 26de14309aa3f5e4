"""``FleetWorker`` in this process, against a real PostgreSQL and the emulator: its
heartbeat renews the leases whatever the planner is busy with, and what it hands the
sink carries the apps' true sender id."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza
from _services import POSTGRES_DSN, need_postgres, unique

from pullkin.emulator import Emulator
from pullkin.errors import ConfigError
from pullkin.fleet import FleetWorker, PgStore, StoredApp
from pullkin.sinks import Sink, SinkRecord

pytestmark = pytest.mark.anyio

SENDER = "424242424242"


class _SlowStore(PgStore):
    """A PgStore whose ``apps_of`` waits for the test: a device start that takes as
    long as the test wants (longer than a TTL, here)."""

    entered: asyncio.Event
    proceed: asyncio.Event

    async def apps_of(self, android_ids: Sequence[int]) -> dict[int, list[StoredApp]]:
        self.entered.set()
        await self.proceed.wait()
        return await super().apps_of(android_ids)


class _ListSink(Sink):
    name = "list"

    def __init__(self) -> None:
        super().__init__()
        self.records: list[SinkRecord] = []

    async def _send(self, record: SinkRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def slow_store() -> AsyncIterator[_SlowStore]:
    need_postgres()
    store = await _SlowStore.open(f"{POSTGRES_DSN}?schema={unique('worker')}")
    store.entered, store.proceed = asyncio.Event(), asyncio.Event()
    yield store
    await store.pool.execute(f"DROP SCHEMA IF EXISTS {store.schema} CASCADE")
    await store.aclose()


async def _leases(store: PgStore) -> list[Any]:
    return list(
        await store.pool.fetch(
            f"SELECT owner, expires_at > now() AS live FROM {store.schema}.leases"
        )
    )


async def test_leases_stay_renewed_while_devices_start_for_longer_than_the_ttl(
    slow_store: _SlowStore, emu: Emulator
) -> None:
    devices = [register_direct(emu) for _ in range(3)]
    await slow_store.add_apps(SENDER, devices)
    sink = _ListSink()
    worker = FleetWorker(slow_store, sink, endpoints=emu.endpoints, ttl=0.6, session_config=FAST)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(slow_store.entered.is_set)
        rounds = worker.rounds
        await wait_for(lambda: worker.rounds >= rounds + 4)  # more than a TTL went by
        assert [(row["owner"], row["live"]) for row in await _leases(slow_store)] == [
            (worker.worker_id, True)
        ] * 3
        slow_store.proceed.set()
        await wait_for(lambda: all(emu.connected(c.gcm.android_id) for c in devices))
        pid = send(emu, devices[1], web_stanza(devices[1], data={"n": "1"}))
        await wait_for(lambda: len(sink.records) == 1)
        assert (sink.records[0].persistent_id, sink.records[0].sender_id) == (pid, SENDER)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert [row["owner"] for row in await _leases(slow_store)] == [None] * 3  # handed back


async def test_a_worker_holds_no_more_devices_than_its_room(
    slow_store: _SlowStore, emu: Emulator
) -> None:
    """A device is a socket: a worker never takes more than ``max_devices`` (by default
    its open-file limit's room); the rest wait for another worker."""
    slow_store.proceed.set()
    await slow_store.add_apps(SENDER, [register_direct(emu) for _ in range(5)])
    worker = FleetWorker(slow_store, _ListSink(), endpoints=emu.endpoints, ttl=0.6,
                         session_config=FAST, max_devices=2)  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: len(worker.devices) == 2)
        rounds = worker.rounds
        await wait_for(lambda: worker.rounds >= rounds + 3)  # a few rounds more: no more taken
        owners = Counter(row["owner"] for row in await _leases(slow_store))
        assert owners == {None: 3, worker.worker_id: 2}
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    with pytest.raises(ConfigError, match="max_devices must be positive"):
        FleetWorker(slow_store, _ListSink(), max_devices=0)
