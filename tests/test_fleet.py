"""A real fleet: 3 `pullkin fleet run` processes share 300 emulated devices through
PostgreSQL and write into a real sink; one is SIGKILLed mid-stream.  Nothing may be
lost, duplicates may only be messages the dead worker had handed to the sink without
a durable mark (sent before the kill, to its devices), and its devices must be served
again once its leases expire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _receiver_support import register_direct
from _services import (
    NATS_URL,
    POSTGRES_DSN,
    REDIS_URL,
    need_nats,
    need_postgres,
    need_redis,
    unique,
)

from pullkin.emulator import Emulator
from pullkin.fleet import FleetKey, PgStore

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DEVICES = 300
MESSAGES = 900
TTL = 3.0


class _Fleet:
    def __init__(self, tmp: Path, store_url: str, sink_url: str, emulator_config: Path) -> None:
        self.tmp = tmp
        self.args = ["--store", store_url, "--sink", sink_url, "--ttl", str(TTL),
                     "--emulator", str(emulator_config)]  # fmt: skip
        self.env = {**os.environ, "PULLKIN_FLEET_KEY": FleetKey.generate()[1]}
        self.workers: list[asyncio.subprocess.Process] = []

    async def start(self, n: int) -> None:
        self.workers = list(await asyncio.gather(*(self._spawn(i) for i in range(n))))

    async def _spawn(self, i: int) -> asyncio.subprocess.Process:
        with (self.tmp / f"worker{i}.log").open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pullkin", "fleet", "run", "-v", *self.args,
                stdout=asyncio.subprocess.PIPE, stderr=stderr, env=self.env,
            )  # fmt: skip
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"worker_id" in line, self.logs()
        process.worker_id = json.loads(line)["worker_id"]  # type: ignore[attr-defined]
        return process

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in self.tmp.glob("worker*.log")
        )

    async def aclose(self) -> None:
        for process in self.workers:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _owners(store: PgStore) -> dict[int, str]:
    rows = await store.pool.fetch(
        f"SELECT android_id, owner FROM {store.schema}.leases "
        "WHERE owner IS NOT NULL AND expires_at > now()"
    )
    return {row[0]: row[1] for row in rows}


class _RedisSink:
    def __init__(self) -> None:
        self.stream = unique("pullkin_fleet")
        self.url = f"{REDIS_URL}/{self.stream}?dedup=0"  # keep duplicates to count them

    async def read(self) -> list[dict[str, Any]]:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.from_url(REDIS_URL)
        try:
            entries = await client.xrange(self.stream)
        finally:
            await client.aclose()
        return [json.loads(fields[b"message"]) for _, fields in entries]

    async def count(self) -> int:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.from_url(REDIS_URL)
        try:
            return int(await client.xlen(self.stream))
        finally:
            await client.aclose()

    async def aclose(self) -> None:
        import redis.asyncio as redis_asyncio

        client = redis_asyncio.from_url(REDIS_URL)
        await client.delete(self.stream)
        await client.aclose()


class _JetStreamSink:
    def __init__(self) -> None:
        self.subject = unique("pullkin.fleet")
        self.url = f"{NATS_URL}/{self.subject}"
        self.stream = "PULLKIN_" + self.subject.replace(".", "_")

    async def read(self) -> list[dict[str, Any]]:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            try:
                info = await js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                return []
            return [
                json.loads((await js.get_msg(self.stream, seq)).data)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)
            ] if info.state.messages else []  # fmt: skip
        finally:
            await nc.close()

    async def count(self) -> int:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            return int((await nc.jetstream().stream_info(self.stream)).state.messages)
        except nats.js.errors.NotFoundError:
            return 0
        finally:
            await nc.close()

    async def aclose(self) -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(self.stream)
        await nc.close()


@pytest.fixture(params=["redis", "jetstream"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "redis":
        need_redis()
        chosen: Any = _RedisSink()
    else:
        need_nats()
        chosen = _JetStreamSink()
    yield chosen
    await chosen.aclose()


async def test_a_fleet_of_three_loses_nothing_when_one_worker_is_killed(
    emu: Emulator, sink: Any, tmp_path: Path
) -> None:
    need_postgres()
    schema = unique("fleet")
    store_url = f"{POSTGRES_DSN}?schema={schema}"
    config = tmp_path / "emulator.json"
    config.write_text(json.dumps(emu.config()))
    fleet = _Fleet(tmp_path, store_url, sink.url, config)
    store = await PgStore.open(store_url, key=FleetKey.from_text(fleet.env["PULLKIN_FLEET_KEY"]))
    try:
        devices = [register_direct(emu) for _ in range(DEVICES)]
        for credentials in devices:
            await store.add_app("424242424242", credentials)
        await fleet.start(3)

        async def spread() -> bool:
            owners = await _owners(store)
            return len(owners) == DEVICES and sorted(Counter(owners.values()).values()) == [100] * 3

        await _until(spread, 60, fleet)
        await _until_connected(emu, devices, 60, fleet)

        victim = fleet.workers[0]
        owners = await _owners(store)
        lost_devices = {a for a, owner in owners.items() if owner == victim.worker_id}  # type: ignore[attr-defined]
        sent_to: dict[str, int] = {}
        killed_after = MESSAGES // 3
        for n in range(MESSAGES):
            credentials = devices[n % DEVICES]
            await emu.send(credentials.fcm.token, data={"n": str(n)})
            sent_to[str(n)] = credentials.gcm.android_id
            if n == killed_after:
                victim.kill()  # SIGKILL mid-stream: no goodbye, leases left to expire
                killed_at = time.monotonic()
            if n % 50 == 0:
                await asyncio.sleep(0)  # let the emulator write to its sockets meanwhile
        await victim.wait()

        # the dead worker's devices are served again once its leases expired
        await _until_connected(emu, devices, TTL + 30, fleet, only=lost_devices)
        takeover = time.monotonic() - killed_at
        assert takeover <= TTL + 5, f"takeover took {takeover:.1f} s with a {TTL} s TTL"

        async def all_arrived() -> bool:
            if await sink.count() < MESSAGES:  # cheap; the whole read only at the end
                return False
            return {m["data"]["n"] for m in await sink.read()} == set(sent_to)

        await _until(all_arrived, 60, fleet)
        records = await sink.read()
        counts = Counter(m["data"]["n"] for m in records)
        assert set(counts) == set(sent_to)  # none lost
        repeated = {n for n, c in counts.items() if c > 1}
        # only what the killed worker had in flight: its devices, sent before the kill
        assert all(sent_to[n] in lost_devices and int(n) <= killed_after for n in repeated)
        if isinstance(sink, _JetStreamSink):
            assert not repeated  # Nats-Msg-Id: the broker dropped every re-publish
        assert {record["sender_id"] for record in records} == {"424242424242"}

        for process in fleet.workers[1:]:
            process.send_signal(signal.SIGTERM)
        for process in fleet.workers[1:]:
            assert await asyncio.wait_for(process.wait(), 30) == 0, fleet.logs()
        assert await _owners(store) == {}  # SIGTERM handed every lease back
    finally:
        await fleet.aclose()
        await store.pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await store.aclose()


async def _until(check: Any, within: float, fleet: _Fleet) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{check.__name__} did not happen within {within:g} s\n{fleet.logs()}")
        await asyncio.sleep(0.1)


async def _until_connected(
    emu: Emulator, devices: list[Any], within: float, fleet: _Fleet, only: set[int] | None = None
) -> None:
    wanted = [c.gcm.android_id for c in devices if only is None or c.gcm.android_id in only]

    async def connected() -> bool:
        return all(emu.mcs.connected(a) for a in wanted)

    await _until(connected, within, fleet)
