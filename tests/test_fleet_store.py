"""PgStore against a real PostgreSQL (a schema of its own per test): the Store contract
the embedded LocalStore keeps, encryption at rest, migration; and the leases."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza
from _services import POSTGRES_DSN, need_postgres, unique
from test_journal import window_model

from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.errors import ConfigError
from pullkin.fleet import FleetKey, PgStore, StoredApp, app_key
from pullkin.fleet.leases import Leases, Round, fair_share
from pullkin.fleet.schema import SCHEMA_VERSION
from pullkin.local_store import LocalStore
from pullkin.store import IdChanges, Store

pytestmark = pytest.mark.anyio


def _url(schema: str) -> str:
    return f"{POSTGRES_DSN}?schema={schema}"


async def _drop(store: PgStore) -> None:
    await store.pool.execute(f"DROP SCHEMA IF EXISTS {store.schema} CASCADE")


@pytest.fixture
async def pg() -> AsyncIterator[PgStore]:
    need_postgres()
    store = await PgStore.open(_url(unique("pk")), window=5, key=FleetKey.generate()[0])
    yield store
    await _drop(store)
    await store.aclose()


def test_fair_share_spreads_every_device() -> None:
    assert [fair_share(300, n) for n in (1, 2, 3, 7)] == [300, 150, 100, 43]
    assert fair_share(5, 0) == 5


@pytest.mark.parametrize(
    ("mine", "loads", "devices", "plan"),
    [
        (0, (0, 5, 5), 10, (3, 0)),  # joined: take up to the floor first
        (5, (0, 5, 5), 10, (0, 1)),  # above ceil: give down to it
        (4, (2, 4, 4), 10, (0, 1)),  # someone starves: give down to the floor
        (5, (5, 5), 10, (0, 0)),  # balanced
        (3, (3, 3, 3), 10, (1, 0)),  # one device free: anyone below ceil takes it
        (4, (4, 3, 3), 10, (0, 0)),  # floor <= everyone <= ceil
        (6, (6, 2), 8, (0, 2)),  # above ceil
    ],
)
def test_round_plan_moves_every_worker_between_floor_and_ceil(
    mine: int, loads: tuple[int, ...], devices: int, plan: tuple[int, int]
) -> None:
    result = Round(frozenset(range(mine)), loads, devices, None)
    assert result.plan() == plan


async def test_pg_store_is_a_store_and_creates_its_schema_once(pg: PgStore) -> None:
    assert isinstance(pg, Store)
    tables = await pg.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", pg.schema
    )
    assert {row[0] for row in tables} == {
        "apps", "credentials", "handled_ids", "leases", "workers", "schema_version",
    }  # fmt: skip
    again = await PgStore.open(_url(pg.schema))
    await again.aclose()
    assert await pg.pool.fetchval(f"SELECT count(*) FROM {pg.schema}.schema_version") == (
        SCHEMA_VERSION
    )


async def test_a_schema_from_a_newer_pullkin_is_refused(pg: PgStore) -> None:
    await pg.pool.execute(f"INSERT INTO {pg.schema}.schema_version VALUES (99)")
    with pytest.raises(ConfigError, match="newer than this pullkin"):
        await PgStore.open(_url(pg.schema))


async def test_credentials_are_encrypted_at_rest_and_need_the_key(
    pg: PgStore, emu: Emulator
) -> None:
    credentials = register_direct(emu)
    key = await pg.add_app("424242424242", credentials)
    assert key == app_key("424242424242", credentials.gcm.android_id)
    stored = await pg.pool.fetchval(f"SELECT data FROM {pg.schema}.credentials")
    assert credentials.fcm.token.encode() not in stored
    assert credentials.keys is not None
    assert credentials.keys.private_key.encode() not in stored
    fresh = PgStore(pg.pool, pg.schema, key=pg.key)
    assert await fresh.get_credentials(key) == credentials
    with pytest.raises(ConfigError, match="PULLKIN_FLEET_KEY"):
        await PgStore(pg.pool, pg.schema, key=None).get_credentials(key)
    with pytest.raises(ConfigError, match="encrypted with fleet key id"):
        await PgStore(pg.pool, pg.schema, key=FleetKey.generate()[0]).get_credentials(key)
    assert await fresh.apps_of([credentials.gcm.android_id]) == {
        credentials.gcm.android_id: [StoredApp(key, "424242424242", credentials)]
    }


async def test_an_app_keeps_its_sender_id_when_its_credentials_are_stored_again(
    pg: PgStore, emu: Emulator
) -> None:
    """The key is only a name: the sender id is stored beside it, and storing new
    credentials under the key (a re-registration, as ``Pullkin`` does it) keeps it."""
    first, second = register_direct(emu), register_direct(emu)
    key = await pg.add_app("424242424242", first)
    await pg.put_credentials(key, second)  # re-registered: another device, same app
    assert await pg.apps_of([second.gcm.android_id]) == {
        second.gcm.android_id: [StoredApp(key, "424242424242", second)]
    }
    assert await pg.apps_of([first.gcm.android_id]) == {}
    # stored the way Pullkin stores a new app: the key is its sender id
    await pg.put_credentials("999", register_direct(emu))
    assert (
        await pg.pool.fetchval(f"SELECT sender_id FROM {pg.schema}.apps WHERE app_key = '999'")
        == "999"
    )


async def test_many_apps_are_added_in_one_call_each_with_its_device(
    pg: PgStore, emu: Emulator
) -> None:
    devices = [register_direct(emu) for _ in range(50)]
    keys = await pg.add_apps("424242424242", devices)
    assert keys == [app_key("424242424242", c.gcm.android_id) for c in devices]
    assert await pg.pool.fetchval(f"SELECT count(*) FROM {pg.schema}.leases") == 50
    found = await PgStore(pg.pool, pg.schema, key=pg.key).apps_of(
        [c.gcm.android_id for c in devices]
    )
    assert found == {
        c.gcm.android_id: [StoredApp(key, "424242424242", c)]
        for key, c in zip(keys, devices, strict=True)
    }


async def test_prefetched_windows_are_the_windows_load_ids_reads(
    pg: PgStore, emu: Emulator
) -> None:
    for key in ("a", "b", "c"):
        await pg.put_credentials(key, register_direct(emu))
    await pg.record_ids([IdChanges("a", [f"a{n}" for n in range(8)], ["a6"]),
                         IdChanges("b", ["b0", "b1"])])  # fmt: skip
    await pg.record_ids([IdChanges("b", ["b0"], ["b1"])])
    fresh = PgStore(pg.pool, pg.schema, window=pg.window)
    expected = {key: await fresh.load_ids(key) for key in ("a", "b", "c", "unknown")}
    await pg.prefetch_ids(["a", "b", "c", "unknown"])
    await pg.pool.execute(f"DELETE FROM {pg.schema}.handled_ids")  # no second read
    assert {key: await pg.load_ids(key) for key in expected} == expected
    assert expected["a"].handled == ["a3", "a4", "a5", "a6", "a7"]  # the newest window
    assert (await pg.load_ids("a")).handled == []  # used once: read again


async def test_ids_of_an_app_removed_meanwhile_are_skipped_not_an_error(
    pg: PgStore, emu: Emulator
) -> None:
    await pg.put_credentials("a", register_direct(emu))
    await pg.put_credentials("b", register_direct(emu))
    await pg.remove_app("b")
    await pg.record_ids([IdChanges("a", ["x"]), IdChanges("b", ["y"], ["z"])])
    assert (await pg.load_ids("a")).handled == ["x"]
    assert (await pg.load_ids("b")).handled == []


async def test_the_window_matches_the_embedded_store_step_by_step(
    pg: PgStore, emu: Emulator, tmp_path: Path
) -> None:
    """The same random sequence of group commits gives the same window in PostgreSQL as
    in the embedded LocalStore and as the contract's model (append, confirm, trim to
    the newest ``window``) — ids handled again included: one still in the window, one
    long evicted, one twice in a batch."""
    local = LocalStore.open(tmp_path / "creds.json", window=5)
    credentials = register_direct(emu)
    for store in (local, pg):
        await store.put_credentials("a", credentials)
        await store.put_credentials("b", credentials)
    rng = random.Random(7)
    fresh = (f"id{n}" for n in range(10_000))
    handled: list[str] = []
    batches: list[list[IdChanges]] = []
    try:
        for step in range(60):
            changes = []
            for app in ("a", "b"):
                new = [next(fresh) for _ in range(rng.randint(0, 4))]
                again = rng.sample(handled, min(len(handled), rng.choice((0, 0, 1, 2))))
                new = [*again, *new, *rng.sample(new, min(len(new), rng.randint(0, 1)))]
                rng.shuffle(new)
                handled += new
                confirmed = rng.sample(handled, min(len(handled), rng.randint(0, 3)))
                changes.append(IdChanges(app, new, confirmed))
            batches.append(changes)
            await local.record_ids(changes)
            await pg.record_ids(changes)
            expected = window_model(batches, pg.window)
            for app in ("a", "b"):
                assert await pg.load_ids(app) == await local.load_ids(app) == expected[app], step
        rows = await pg.pool.fetchval(f"SELECT count(*) FROM {pg.schema}.handled_ids")
        assert rows == 2 * pg.window
    finally:
        await local.aclose()


async def test_an_id_recorded_again_is_the_newest_and_unconfirmed_again(
    pg: PgStore, emu: Emulator
) -> None:
    await pg.put_credentials("a", register_direct(emu))
    await pg.record_ids([IdChanges("a", ["x", "y", "z"], ["x", "y"])])
    await pg.record_ids([IdChanges("a", ["x", "w", "x"])])
    ids = await pg.load_ids("a")
    assert (ids.handled, ids.unconfirmed) == (["y", "z", "w", "x"], ["z", "w", "x"])


async def test_removing_an_app_forgets_its_ids_and_its_device(pg: PgStore, emu: Emulator) -> None:
    credentials = register_direct(emu)
    await pg.put_credentials("a", credentials)
    await pg.record_ids([IdChanges("a", ["x", "y"])])
    await pg.remove_app("a")
    assert (await pg.load_ids("a")).handled == []
    assert await pg.pool.fetchval(f"SELECT count(*) FROM {pg.schema}.leases") == 0


async def test_a_receiver_on_postgres_does_not_dispatch_again_after_a_restart(
    pg: PgStore, emu: Emulator
) -> None:
    credentials = register_direct(emu)
    seen: list[str] = []

    async def record(message: object, stanza: object) -> None:
        seen.append(message.data["n"])  # type: ignore[attr-defined]

    android_id = credentials.gcm.android_id

    async def receive() -> None:
        client = Pullkin(emu.endpoints, store=pg, session_config=FAST)
        client.on_notification()(record)
        await client.add_app("424242424242", credentials)
        await client.wait_connected()
        await wait_for(lambda: not emu.mailboxes.pending(android_id))
        await client.stop()
        await client.aclose()

    pid = send(emu, credentials, web_stanza(credentials, data={"n": "1"}))
    [item] = emu.mailboxes.pending(android_id)
    await receive()
    # the server delivers it again (as if it never got the login's list)
    await pg.pool.execute(f"UPDATE {pg.schema}.handled_ids SET unconfirmed = false")
    emu.mailboxes.restore(android_id, [item])
    await receive()
    assert seen == ["1"]
    assert [d.persistent_id for d in emu.deliveries()] == [pid, pid]
    assert (await pg.load_ids("424242424242")).handled == [pid]


# --- leases -----------------------------------------------------------------------------


async def _devices(pg: PgStore, n: int) -> None:
    await pg.pool.executemany(
        f"INSERT INTO {pg.schema}.leases (android_id) VALUES ($1)", [(i,) for i in range(1, n + 1)]
    )


async def _balance(*workers: Leases) -> list[int]:
    """Rounds until nobody moves; returns each worker's device count."""
    held: dict[str, set[int]] = {w.worker_id: set() for w in workers}
    for _ in range(10):
        moved = False
        for worker in workers:
            result = await worker.renew("{}")
            mine = set(result.held)
            take, give = result.plan()
            if take:
                got = await worker.acquire(take)
                mine |= set(got)
                moved |= bool(got)
            if give:
                excess = sorted(mine)[len(mine) - give :]
                await worker.release(excess)
                mine -= set(excess)
                moved = True
            held[worker.worker_id] = mine
        if not moved:
            break
    owned = [held[w.worker_id] for w in workers]
    assert sum(len(o) for o in owned) == len(set().union(*owned)), "a device has two owners"
    return [len(o) for o in owned]


async def test_leases_spread_evenly_and_a_joining_worker_takes_a_share(pg: PgStore) -> None:
    await _devices(pg, 10)
    a, b = Leases(pg, "a", 30), Leases(pg, "b", 30)
    for worker in (a, b):
        await worker.join("host", 1)
    assert await _balance(a, b) == [5, 5]
    c = Leases(pg, "c", 30)
    await c.join("host", 3)
    assert sorted(await _balance(a, b, c)) == [3, 3, 4]


async def test_a_worker_that_leaves_hands_its_leases_back_at_once(pg: PgStore) -> None:
    await _devices(pg, 6)
    a, b = Leases(pg, "a", 30), Leases(pg, "b", 30)
    for worker in (a, b):
        await worker.join("host", 1)
    await _balance(a, b)
    await b.leave()  # no TTL to wait for: the rows are free now
    assert await _balance(a) == [6]


async def test_a_dead_workers_leases_expire_after_the_ttl_and_are_taken_over(
    pg: PgStore,
) -> None:
    await _devices(pg, 4)
    a, dead = Leases(pg, "a", 30), Leases(pg, "dead", 0.3)
    for worker in (a, dead):
        await worker.join("host", 1)
    assert await _balance(a, dead) == [2, 2]
    # "dead" stops renewing; while its lease runs, "a" cannot take its devices
    assert await a.acquire(4) == []
    await asyncio.sleep(0.4)  # past the 0.3 s TTL: the point of the test, not a race
    result = await a.renew("{}")
    assert result.live_workers == 1
    assert len(await a.acquire(result.share - len(result.held))) == 2


async def test_renewal_tells_a_worker_which_leases_it_lost(pg: PgStore) -> None:
    await _devices(pg, 2)
    a = Leases(pg, "a", 30)
    await a.join("host", 1)
    await a.acquire(2)
    await pg.pool.execute(f"UPDATE {pg.schema}.leases SET owner = 'b' WHERE android_id = 1")
    assert (await a.renew("{}")).held == {2}
