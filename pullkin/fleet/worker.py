"""``FleetWorker``: one process of a fleet — receives for the devices it leases and
hands every message to a sink.

It is a ``Pullkin`` client whose store is the fleet's ``PgStore`` and whose one
handler is the sink, plus two loops over the leases (``fleet.leases``):

* the **heartbeat** renews every lease this worker holds every ``ttl / 3`` (sooner
  when a lease of another worker is about to expire, or when another worker joins or
  leaves), whatever else the worker is doing — starting thousands of devices takes
  longer than a TTL, and a lease must never lapse meanwhile;
* the **planner** acts on each fresh renewal: devices whose lease was taken are
  stopped at once; devices it gains are added under their fleet keys
  (``add_app(sender_id, credentials, key=...)``: credentials and handled-id window
  from PostgreSQL, the true sender id on every message) and started
  (``Pullkin.start``), a chunk at a time; devices it must give up are stopped with
  ``Pullkin.stop_device`` — handled ids durable, acks sent — and their leases freed,
  a chunk at a time.  It plans only from a renewal that began after its own last
  change of leases, so it never counts a device twice or stops one it just took.

Delivery across a failover: a message is acknowledged to FCM only after the sink
confirmed it and its handled mark is durable in PostgreSQL.  When a worker dies, FCM
still holds whatever it had not acknowledged and delivers it again to the device's
next owner, which loads the handled-id window first: a message whose mark was
durable is acknowledged without reaching the sink again; one that reached the sink
but whose mark was not yet durable (the last group commit before the kill) reaches
the sink a second time — with the same persistent id, which JetStream, the Redis
sink and a webhook's ``Idempotency-Key`` de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from pullkin.client import Pullkin
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError
from pullkin.fleet.leases import Leases, Round
from pullkin.fleet.pgstore import PgStore
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig, SessionState
from pullkin.sinks import Sink

__all__ = ["FleetWorker"]

log = logging.getLogger(__name__)


class FleetWorker:
    """One worker; ``await worker.run(stop)`` until *stop* is set (then it hands its
    leases back).  *chunk* devices are started or stopped at a time.  It never holds
    more than *max_devices* (default: what its open-file limit leaves room for — a
    device is a socket — less 256 for the rest); devices beyond every worker's room
    wait for one more worker."""

    def __init__(
        self,
        store: PgStore,
        sink: Sink,
        *,
        endpoints: Endpoints | None = None,
        ttl: float = 15.0,
        worker_id: str | None = None,
        session_config: SessionConfig | None = None,
        chunk: int = 500,
        max_devices: int | None = None,
    ) -> None:
        if max_devices is None:
            max_devices = _open_file_limit() - 256
        if ttl <= 0 or chunk < 1 or max_devices < 1:
            raise ConfigError(
                "the lease TTL, the chunk and max_devices must be positive (is the open-file "
                "limit, ulimit -n, under 257?)"
            )
        self.store = store
        self.sink = sink
        self.ttl = ttl
        self.chunk = chunk
        self.max_devices = max_devices
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.leases = Leases(store, self.worker_id, ttl)
        self.client = Pullkin(
            endpoints, store=store, session_config=session_config, window=store.window
        )
        self.client.on_notification()(sink)
        self.client.on_error(self._on_error)
        self.devices: dict[int, list[str]] = {}  # android_id -> app keys, while served
        self.rounds = 0  # successful renewals
        self._beats = 0  # renewals begun
        self._latest: tuple[int, Round] | None = None  # the newest renewal and its number
        self._changed_at = 0  # renewals begun before this one predate our last lease change
        self._renewed_at = time.monotonic()  # when the last successful renewal began
        self._fresh = asyncio.Event()  # the planner's cue: a new renewal
        self._renew_now = asyncio.Event()  # the heartbeat's cue: renew before the interval
        self._busy = asyncio.Lock()  # one device operation at a time
        self._stop = asyncio.Event()
        self._left = asyncio.Event()  # every device stopped: the heartbeat may end

    def __repr__(self) -> str:
        return f"<FleetWorker {self.worker_id} devices={len(self.devices)}>"

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self.sink.start()
        await self.leases.join(socket.gethostname(), os.getpid())
        heartbeat = asyncio.create_task(self._heartbeat(), name="pullkin fleet heartbeat")
        try:
            while not stop.is_set():
                self._fresh.clear()
                await self._plan_safely()
                await _first(stop, self._fresh, timeout=self.ttl / 3)
        finally:
            await self._leave(heartbeat)

    # --- the heartbeat ----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Renew until the worker has left; never cut off mid-renewal (a query
        cancelled half way would cost the pool its connection)."""
        while not self._left.is_set():
            delay = await self._renew()
            self._renew_now.clear()
            await _first(self._renew_now, self._left, timeout=delay)

    async def _renew(self) -> float:
        """One renewal; returns when the next is due.  On a database failure: fence if
        needed (stop every device before its lease can lapse), and retry soon."""
        started = time.monotonic()
        self._beats += 1
        number = self._beats
        try:
            await self.leases.listen(self._renew_now.set)
            result = await self.leases.renew(json.dumps(self.figures()))
        except Exception as exc:  # noqa: BLE001 - the database may be down: keep trying
            log.warning("lease renewal failed: %s: %s", type(exc).__name__, exc)
            if self.devices and time.monotonic() - self._renewed_at >= self.ttl * 0.9:
                log.error("no lease renewal for %.0f s: stopping every device", self.ttl)
                async with self._busy:
                    await self._stop_devices(list(self.devices))
            return min(1.0, self.ttl / 3)
        self._renewed_at = started
        self.rounds += 1
        self._latest = (number, result)
        self._fresh.set()
        wait = self.ttl / 3
        if result.next_expiry is not None:
            wait = min(wait, result.next_expiry + 0.02)
        return max(wait, 0.01)

    # --- the planner --------------------------------------------------------------------------

    async def _plan_safely(self) -> None:
        try:
            await self._plan()
        except Exception as exc:  # noqa: BLE001 - the database may be down: next round
            log.warning("lease round failed: %s: %s", type(exc).__name__, exc)

    async def _plan(self) -> None:
        if self._latest is None or self._latest[0] <= self._changed_at:
            return  # no renewal since our last change: it would not show that change
        result = self._latest[1]
        async with self._busy:
            lost = [a for a in self.devices if a not in result.held]
            if lost:
                log.warning("leases of %d device(s) were taken over: stopping them", len(lost))
                await self._stop_devices(lost)
            take, give = result.plan()
            room = self.max_devices - len(result.held)
            take, give = max(min(take, room), 0), max(give, -room)
            if take:
                taken = await self.leases.acquire(take)
                self._changed()
                await self._start_devices(taken)
            if give:
                await self._stop_devices(
                    sorted(result.held)[len(result.held) - give :], release=True
                )

    def _changed(self) -> None:
        """Our leases changed: plan again only from a renewal begun after this."""
        self._changed_at = self._beats
        self._renew_now.set()

    async def _start_devices(self, android_ids: Sequence[int]) -> None:
        for start in range(0, len(android_ids), self.chunk):
            if self._stop.is_set():
                return  # the leases not started are freed when the worker leaves
            apps = await self.store.apps_of(android_ids[start : start + self.chunk])
            await self.store.prefetch_ids([app.key for found in apps.values() for app in found])
            keys: list[str] = []
            for android_id, found in apps.items():
                for app in found:
                    await self.client.add_app(app.sender_id, app.credentials, key=app.key)
                self.devices[android_id] = [app.key for app in found]
                keys += self.devices[android_id]
            if keys:
                await self.client.start(keys)
        log.info("receiving for %d device(s)", len(self.devices))

    async def _stop_devices(self, android_ids: Iterable[int], *, release: bool = False) -> None:
        """Stop devices, a chunk at a time: each session flushes (durable marks, acks)
        before its apps go; with *release*, then free their leases."""
        chosen = [a for a in android_ids if a in self.devices]
        for start in range(0, len(chosen), self.chunk):
            part = chosen[start : start + self.chunk]
            await asyncio.gather(*map(self.client.stop_device, part))
            for android_id in part:
                self.store.forget_cached(self.devices.pop(android_id))
            if release:
                await self.leases.release(part)
                self._changed()

    async def _leave(self, heartbeat: asyncio.Task[None]) -> None:
        """Stop every device, freeing each chunk's leases as it goes (the heartbeat
        keeps the rest), then the worker row (SIGTERM)."""
        try:
            async with self._busy:
                with contextlib.suppress(Exception):
                    await self._stop_devices(list(self.devices), release=True)
            self._left.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(heartbeat), self.ttl)
            await self.client.stop()
            with contextlib.suppress(Exception):
                await self.leases.leave()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.leases.aclose()
            await self.client.aclose()
            await self.sink.aclose()

    def figures(self) -> dict[str, Any]:
        """What ``pullkin fleet status`` shows of this worker."""
        sessions = self.client.sessions
        stats = self.client.stats
        return {
            "devices": len(self.devices),
            "connected": sum(s.state is SessionState.CONNECTED for s in sessions),
            "handled": stats.dispatched,
            "duplicates_dropped": stats.duplicates,
            "sink": self.sink.name,
            "sink_confirmed": self.sink.stats.confirmed,
            "sink_pending": self.sink.stats.pending,
            "lag_s": round(self.sink.stats.lag(), 3),
        }

    def _on_error(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        pid = stanza.persistent_id if stanza is not None else "-"
        log.warning("message %s: %s", pid, error)


def _open_file_limit() -> int:
    """How many files this process may open (ulimit -n)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows: no such limit to read
        return 10_256
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1_000_000


async def _first(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return when one of *events* is set, or after *timeout*."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
