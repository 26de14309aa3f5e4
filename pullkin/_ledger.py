"""The delivery state machine of one app's persistent ids.  Pure and in memory: the
receiver feeds it copies of messages, the client's group commit makes ids durable.

One persistent id moves through (design §6)::

    received ──▶ handling ──▶ handled ──▶ durable ──▶ acknowledged
    (frame decoded) (queued or   (every matching  (the mark is in   (the server was
                    in handlers)  handler returned  the store: one   told, on whichever
                                  or raised)        group commit)    link is current)

* ``receive(pid, copy)`` — the first copy of an id is dispatched (``DISPATCH``).  A
  copy that arrives while the id is received, handling or handled-not-yet-durable —
  a redelivery after a reconnect, or a duplicate on one link — is neither dispatched
  nor acknowledged (``WAIT``): it is parked on the id.  A copy of a durable id is
  acknowledged at once and never dispatched (``ACKNOWLEDGE``).
* ``finish(pid)`` — handled.  ``take_changes()`` hands the handled ids (and the
  confirmations, below) to the store; once it recorded them, ``durable(ids)`` moves
  them into the window and returns every copy parked on them — the original and any
  duplicate, of any link — for the receiver to acknowledge.  Only then.
* The window keeps the newest ``window`` durable ids; a redelivery older than that is
  dispatched again (the price of a bounded memory and disk).
* ``unconfirmed`` — durable ids the server has not confirmed: the next login lists
  them in ``received_persistent_id`` (mcs.md §6.1), which covers a message handled
  on a link that died before its acknowledgement went out.  ``confirm`` drops them;
  the confirmations reach the store with the next group commit (losing one only makes
  a later login list an id again).
* ``abandon()`` — the workers are gone (stop, app replaced): ids never handled are
  forgotten, so their redelivery is dispatched again instead of waiting forever.
* ``on_change`` — called when the ledger gets changes for the store while it had
  none, so the group commit takes changes only from the ledgers that have some.

After a crash only the durable window survives: an id that was handling or handled
but not yet durable is redelivered by the server (it was never acknowledged) and
dispatched again — the only duplicates of the guarantee.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

__all__ = ["IdLedger", "Verdict"]

T = TypeVar("T")


class Verdict(enum.Enum):
    """What the receiver does with a copy of a message (see the module docstring)."""

    DISPATCH = "dispatch"
    WAIT = "wait"
    ACKNOWLEDGE = "acknowledge"


class IdLedger(Generic[T]):
    """Delivery state of one app's persistent ids; *T* is the receiver's copy token."""

    def __init__(
        self, window: int = 10_000, handled: Iterable[str] = (), unconfirmed: Iterable[str] = ()
    ) -> None:
        if window < 1:
            raise ValueError("the persistent-id window must hold at least one id")
        self.window = window
        self._durable: OrderedDict[str, None] = OrderedDict()
        for pid in handled:  # a repeated id counts as its newest occurrence
            self._durable[pid] = None
            self._durable.move_to_end(pid)
        self._unconfirmed: dict[str, None] = dict.fromkeys(
            pid for pid in unconfirmed if pid in self._durable
        )
        self._evict()
        # received, handling or handled-not-durable ids -> the copies parked on them
        self._active: dict[str, list[T]] = {}
        self._finished: set[str] = set()  # active ids whose handlers are done
        # changes the store has not been given yet (see ``take_changes``)
        self._new_handled: list[str] = []
        self._new_confirmed: list[str] = []
        #: called when changes appear while there were none (see the module docstring)
        self.on_change: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return (
            f"<IdLedger durable={len(self._durable)} active={len(self._active)} "
            f"unconfirmed={len(self._unconfirmed)}>"
        )

    # --- the copies of a message ----------------------------------------------------------

    def receive(self, persistent_id: str, copy: T) -> Verdict:
        if persistent_id in self._durable:
            return Verdict.ACKNOWLEDGE
        parked = self._active.get(persistent_id)
        if parked is not None:
            parked.append(copy)
            return Verdict.WAIT
        self._active[persistent_id] = [copy]
        return Verdict.DISPATCH

    def seen(self, persistent_id: str) -> bool:
        """Received before: active or durable."""
        return persistent_id in self._durable or persistent_id in self._active

    def finish(self, persistent_id: str) -> None:
        """Every handler of *persistent_id* is done (also for an id known only from the
        caller, e.g. ``add_app(persistent_ids=...)``): it goes to the next commit."""
        if persistent_id in self._finished:
            return
        self._active.setdefault(persistent_id, [])
        self._finished.add(persistent_id)
        self._changing()
        self._new_handled.append(persistent_id)

    def abandon(self) -> list[T]:
        """Forget the ids whose handlers will never finish; their parked copies."""
        dropped = [pid for pid in self._active if pid not in self._finished]
        return [copy for pid in dropped for copy in self._active.pop(pid)]

    # --- the store ------------------------------------------------------------------------

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
        if handled or confirmed:
            self._changing()
        self._new_handled[:0] = handled
        self._new_confirmed[:0] = confirmed

    def durable(self, persistent_ids: Iterable[str]) -> list[T]:
        """The store recorded *persistent_ids*: into the window, unconfirmed; returns the
        copies parked on them, now to be acknowledged."""
        copies: list[T] = []
        for pid in persistent_ids:
            copies += self._active.pop(pid, ())
            self._finished.discard(pid)
            self._durable[pid] = None
            self._durable.move_to_end(pid)
            self._unconfirmed[pid] = None
        self._evict()
        return copies

    def confirm(self, persistent_ids: Iterable[str]) -> None:
        for persistent_id in persistent_ids:
            if self._unconfirmed.pop(persistent_id, 0) is None:
                self._changing()
                self._new_confirmed.append(persistent_id)

    def _changing(self) -> None:
        """A change for the store is about to be added."""
        if self.on_change is not None and not (self._new_handled or self._new_confirmed):
            self.on_change()

    # --- views ----------------------------------------------------------------------------

    def handled(self) -> list[str]:
        """The durable window, oldest first."""
        return list(self._durable)

    def unconfirmed(self) -> list[str]:
        return list(self._unconfirmed)

    @property
    def in_progress(self) -> int:
        """Ids received but not durable yet."""
        return len(self._active)

    def _evict(self) -> None:
        while len(self._durable) > self.window:
            evicted, _ = self._durable.popitem(last=False)
            self._unconfirmed.pop(evicted, None)
