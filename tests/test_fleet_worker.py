"""``FleetWorker`` in this process, against a real PostgreSQL and the emulator: its
heartbeat renews the leases whatever the planner is busy with, and what it hands the
sink carries the apps' true sender id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza
from _services import POSTGRES_DSN, need_postgres, unique

from pullkin.emulator import Emulator
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
