"""Leases: which worker receives for which device, kept in PostgreSQL.

Each device (an android_id and its apps: one MCS connection) has one row in
``leases``; a worker owns it while ``owner`` is its id and ``expires_at`` (database
time) is ahead.  Every round a worker, in one transaction, renews its ``workers`` row
and every lease it still owns (the rows returned are what it owns: a lease taken over
meanwhile is simply missing, and the worker stops that device at once), and learns
how many workers are live and how many devices exist.

Even spread (``Round.plan``): every live worker ends holding between floor and ceil
of devices / live workers.  Below that it takes free or expired leases (``FOR UPDATE
SKIP LOCKED``: concurrent takers never collide, the condition is re-checked on the
locked row); above it — or above the floor while a worker that just joined is below
it — it stops the excess devices (their handled ids durable, their acks sent) and only
then frees their rows.  Joining, leaving and freeing ``NOTIFY`` the others, so shares move
at once instead of at the next round; otherwise a round runs every ``ttl / 3``, and
also just after the earliest foreign lease expires, so a dead worker's devices are
taken over when its TTL runs out, not a round later.

Fencing: a worker that could not renew for ``ttl`` (database unreachable) stops every
device it holds before anyone else may take them, so two workers never receive for
one device at once (unless clocks run at very different speeds — only durations are
compared locally, never clock readings).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pullkin.fleet.pgstore import PgStore

__all__ = ["Leases", "Round", "fair_share"]


def fair_share(devices: int, workers: int) -> int:
    """The most devices one of *workers* live workers should hold."""
    return math.ceil(devices / max(workers, 1))


@dataclass(frozen=True)
class Round:
    """What one renewal learnt."""

    held: frozenset[int]  # the devices this worker still owns
    loads: tuple[int, ...]  # how many devices each live worker holds (this one included)
    devices: int
    next_expiry: float | None  # seconds until the earliest foreign lease expires

    @property
    def live_workers(self) -> int:
        return max(len(self.loads), 1)

    @property
    def share(self) -> int:
        return fair_share(self.devices, self.live_workers)

    def plan(self) -> tuple[int, int]:
        """``(take, give)``: how many leases to acquire and to free so that every live
        worker ends between ``floor`` and ``ceil`` of devices / workers.  A worker
        below the floor (one that just joined) makes the others give down to it."""
        mine = len(self.held)
        floor, ceil = self.devices // self.live_workers, self.share
        starving = any(load < floor for load in self.loads)
        if mine > ceil:
            return 0, mine - ceil
        if mine < floor:
            return floor - mine, 0
        if starving:
            return 0, mine - floor
        return ceil - mine, 0


class Leases:
    """The lease rows of one worker (*worker_id*) in *store*'s schema."""

    def __init__(self, store: PgStore, worker_id: str, ttl: float) -> None:
        self.store = store
        self.worker_id = worker_id
        self.ttl = ttl
        self.channel = f"pullkin_fleet_{store.schema}"
        self._s = store.schema
        self._listener: Any = None

    @property
    def _interval(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=self.ttl)

    async def join(self, host: str, pid: int) -> None:
        await self.store.pool.execute(
            f"""INSERT INTO {self._s}.workers (worker_id, host, pid, expires_at)
                VALUES ($1, $2, $3, now() + $4::interval)
                ON CONFLICT (worker_id) DO UPDATE SET expires_at = now() + $4::interval""",
            self.worker_id, host, pid, self._interval,
        )  # fmt: skip
        await self.notify()

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call *wake* whenever another worker joins, leaves or frees leases."""
        if self._listener is not None and not self._listener.is_closed():
            return
        conn = await self.store.connect()
        await conn.add_listener(self.channel, lambda *_: wake())
        self._listener = conn

    async def notify(self) -> None:
        await self.store.pool.execute("SELECT pg_notify($1, $2)", self.channel, self.worker_id)

    async def renew(self, figures: str) -> Round:
        s = self._s
        async with self.store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""INSERT INTO {s}.workers (worker_id, host, pid, expires_at, figures)
                    VALUES ($1, '?', 0, now() + $2::interval, $3::jsonb)
                    ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now(),
                        expires_at = now() + $2::interval, figures = $3::jsonb""",
                self.worker_id, self._interval, figures,
            )  # fmt: skip
            rows = await conn.fetch(
                f"""UPDATE {s}.leases SET expires_at = now() + $2::interval
                    WHERE owner = $1 RETURNING android_id""",
                self.worker_id, self._interval,
            )  # fmt: skip
            row = await conn.fetchrow(
                f"""SELECT (SELECT count(*) FROM {s}.leases),
                           (SELECT extract(epoch FROM min(expires_at) - now())
                              FROM {s}.leases WHERE owner IS DISTINCT FROM $1
                              AND expires_at > now())""",
                self.worker_id,
            )
            loads = await conn.fetch(
                f"""SELECT (SELECT count(*) FROM {s}.leases l
                            WHERE l.owner = w.worker_id AND l.expires_at > now())
                    FROM {s}.workers w WHERE w.expires_at > now()"""
            )
            await conn.execute(  # dead for an hour: no longer worth showing
                f"DELETE FROM {s}.workers WHERE expires_at < now() - interval '1 hour'"
            )
        expiry = None if row[1] is None else float(row[1])
        load = tuple(int(r[0]) for r in loads)
        return Round(frozenset(r[0] for r in rows), load, int(row[0]), expiry)

    async def acquire(self, count: int) -> list[int]:
        """Take up to *count* free or expired leases; returns their android_ids."""
        if count <= 0:
            return []
        s = self._s
        rows = await self.store.pool.fetch(
            f"""UPDATE {s}.leases SET owner = $1, expires_at = now() + $3::interval,
                    acquired_at = now(), epoch = epoch + 1
                WHERE android_id IN (
                    SELECT android_id FROM {s}.leases
                    WHERE owner IS NULL OR expires_at < now()
                    ORDER BY expires_at, android_id LIMIT $2 FOR UPDATE SKIP LOCKED)
                RETURNING android_id""",
            self.worker_id, count, self._interval,
        )  # fmt: skip
        return sorted(row[0] for row in rows)

    async def release(self, android_ids: Sequence[int]) -> None:
        """Free *android_ids* (after their devices were stopped) and tell the others."""
        if not android_ids:
            return
        await self.store.pool.execute(
            f"""UPDATE {self._s}.leases SET owner = NULL, expires_at = '-infinity'
                WHERE owner = $1 AND android_id = ANY($2::bigint[])""",
            self.worker_id, list(android_ids),
        )  # fmt: skip
        await self.notify()

    async def leave(self) -> None:
        """Free every lease and the worker row (SIGTERM): the others take over now."""
        s = self._s
        async with self.store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"UPDATE {s}.leases SET owner = NULL, expires_at = '-infinity' WHERE owner = $1",
                self.worker_id,
            )
            await conn.execute(f"DELETE FROM {s}.workers WHERE worker_id = $1", self.worker_id)
        await self.notify()

    async def aclose(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
