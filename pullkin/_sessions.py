"""The device sessions of one ``Pullkin``: a ``DeviceSession`` and the task running it
per device (android_id), and what they add up to for observability — the least
healthy ``state`` and the ``stats`` summed over every session, stopped ones included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import fields

import anyio

from pullkin._session_types import SessionState, SessionStats
from pullkin.receiver import DeviceSession

__all__ = ["SessionPool"]

_STATE_ORDER = (
    SessionState.BACKING_OFF,
    SessionState.CONNECTING,
    SessionState.CONNECTED,
    SessionState.STOPPED,
)


class SessionPool:
    """The sessions a client started, by android_id."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[DeviceSession, asyncio.Task[None]]] = {}
        self._stopped_stats: list[SessionStats] = []  # of the sessions stopped so far

    def __contains__(self, android_id: object) -> bool:
        return android_id in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> list[tuple[DeviceSession, asyncio.Task[None]]]:
        """Each session with its task (a copy)."""
        return list(self._entries.values())

    def clear(self) -> None:
        """Forget every session without stopping it."""
        self._entries.clear()

    def needs(self, android_id: int) -> bool:
        """Whether *android_id* needs a session started: it has none, or its session
        stopped for good (that one is dropped here; its counters still count)."""
        entry = self._entries.get(android_id)
        if entry is not None and entry[1].done():  # stopped for good: try it again
            del self._entries[android_id]
            self._stopped_stats.append(entry[0].stats)
        return android_id not in self._entries

    def add(self, session: DeviceSession, task: asyncio.Task[None]) -> None:
        self._entries[session.device.android_id] = (session, task)

    def move(self, old: int, new: int) -> None:
        """The session of *old* now logs in as *new* (its device registered again)."""
        if old != new and old in self._entries:
            self._entries[new] = self._entries.pop(old)

    def running(self, exclude: DeviceSession) -> bool:
        """Whether a session other than *exclude* is still running."""
        return any(s is not exclude and not t.done() for s, t in self._entries.values())

    async def stop(self, android_id: int, stop_timeout: float) -> None:
        """Stop the session of *android_id* (if any) and wait for its task: cancelled
        if it has not ended 5 s after its own *stop_timeout*."""
        entry = self._entries.pop(android_id, None)
        if entry is None:
            return
        session, task = entry
        self._stopped_stats.append(session.stats)  # its workers may still count
        session.stop()
        try:
            with anyio.fail_after(stop_timeout + 5):
                await task
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def sessions(self) -> list[DeviceSession]:
        return [session for session, _ in self._entries.values()]

    @property
    def state(self) -> SessionState:
        """The least healthy session state (STOPPED when nothing runs)."""
        states = {session.state for session, _ in self._entries.values()}
        return next((s for s in _STATE_ORDER if s in states), SessionState.STOPPED)

    @property
    def stats(self) -> SessionStats:
        """Counters summed over every session, stopped ones included."""
        total = SessionStats()
        for stats in [*self._stopped_stats, *(s.stats for s, _ in self._entries.values())]:
            _add_stats(total, stats)
        return total


def _add_stats(total: SessionStats, stats: SessionStats) -> SessionStats:
    """Add *stats* to *total* (the heartbeat figures: the latest known)."""
    for item in fields(SessionStats):
        value = getattr(stats, item.name)
        if item.name in ("last_heartbeat_at", "heartbeat_rtt"):
            if value is not None:
                setattr(total, item.name, value)
        else:
            setattr(total, item.name, getattr(total, item.name) + value)
    return total
