"""Persistent-id bookkeeping of one app: what was handled, and what the server has not
confirmed yet.  Pure and in memory; the client loads and saves it through the store.

* ``handled`` — a bounded window (oldest evicted) of ids whose handlers finished:
  a redelivered message found here is acknowledged without reaching handlers again.
* in progress — ids received whose handlers have not finished (memory only): a
  duplicate arriving meanwhile is dropped, but after a crash the message is handled
  again because the server never got its acknowledgement.
* ``unconfirmed`` — handled ids the server has not confirmed; they go into the next
  LoginRequest's ``received_persistent_id``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["IdLedger"]


class IdLedger:
    def __init__(
        self, window: int = 10_000, handled: Iterable[str] = (), unconfirmed: Iterable[str] = ()
    ) -> None:
        if window < 1:
            raise ValueError("the persistent-id window must hold at least one id")
        self.window = window
        self._handled: OrderedDict[str, None] = OrderedDict()
        for pid in handled:  # a repeated id counts as its newest occurrence
            self._handled[pid] = None
            self._handled.move_to_end(pid)
        self._in_progress: set[str] = set()
        self._unconfirmed: dict[str, None] = dict.fromkeys(
            pid for pid in unconfirmed if pid in self._handled
        )
        self._evict()
        # changes the store has not recorded yet (see ``take_changes``)
        self._new_handled: list[str] = []
        self._new_confirmed: list[str] = []

    def __repr__(self) -> str:
        return (
            f"<IdLedger handled={len(self._handled)} in_progress={len(self._in_progress)} "
            f"unconfirmed={len(self._unconfirmed)}>"
        )

    def seen(self, persistent_id: str) -> bool:
        return persistent_id in self._handled or persistent_id in self._in_progress

    def start(self, persistent_id: str) -> None:
        self._in_progress.add(persistent_id)

    def finish(self, persistent_id: str) -> None:
        self._in_progress.discard(persistent_id)
        self._handled[persistent_id] = None
        self._handled.move_to_end(persistent_id)
        self._unconfirmed[persistent_id] = None
        self._evict()
        self._new_handled.append(persistent_id)

    def confirm(self, persistent_ids: Iterable[str]) -> None:
        for persistent_id in persistent_ids:
            if self._unconfirmed.pop(persistent_id, 0) is None:
                self._new_confirmed.append(persistent_id)

    @property
    def dirty(self) -> bool:
        """Changes wait for the store."""
        return bool(self._new_handled or self._new_confirmed)

    def take_changes(self) -> tuple[list[str], list[str]]:
        """``(handled, confirmed)`` since the last call, for the store to record."""
        changes = self._new_handled, self._new_confirmed
        self._new_handled, self._new_confirmed = [], []
        return changes

    def restore_changes(self, handled: list[str], confirmed: list[str]) -> None:
        """The store failed to record *handled* and *confirmed*: keep them for the next try."""
        self._new_handled[:0] = handled
        self._new_confirmed[:0] = confirmed

    def handled(self) -> list[str]:
        return list(self._handled)

    def unconfirmed(self) -> list[str]:
        return list(self._unconfirmed)

    @property
    def in_progress(self) -> int:
        return len(self._in_progress)

    def _evict(self) -> None:
        while len(self._handled) > self.window:
            evicted, _ = self._handled.popitem(last=False)
            self._unconfirmed.pop(evicted, None)
