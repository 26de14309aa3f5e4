"""Plain ``def`` handlers of a burst, run in order by one worker-thread hop.  Pure.

A plain handler may block, so it never runs on the event loop; but a thread hop per
message (``anyio.to_thread.run_sync`` per call) costs more than decrypting the message
(``bench/receive.py``).  So the client hands the worker thread a whole run of
consecutive messages whose matched handlers are all plain functions: ``PlainRun.run``
calls them in order, in that thread, and the client marks the messages done once it
returns.  A handler that raises is logged and counted and the run goes on; one that
returns an awaitable (an object with an async ``__call__`` the router could not tell
apart) stops the run, so the client awaits it on the loop before the rest continues
in order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from pullkin.dispatch import Route
from pullkin.models import Message
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = ["PlainRun"]

log = logging.getLogger("pullkin.client")


@dataclass
class PlainRun:
    """Messages with their matched plain handlers; ``run`` resumes where it stopped."""

    items: list[tuple[Message, DataMessageStanza, list[Route]]] = field(default_factory=list)
    errors: int = 0
    _message: int = 0
    _route: int = 0

    @property
    def calls(self) -> int:
        """How many handler calls the run holds in all."""
        return sum(len(routes) for _, _, routes in self.items)

    def run(self) -> Awaitable[Any] | None:
        """Call the handlers from where the last ``run`` stopped (in a worker thread).

        Returns None when every handler was called, or the awaitable a handler
        returned: await it, then call ``run`` again for the rest.
        """
        while self._message < len(self.items):
            message, stanza, routes = self.items[self._message]
            while self._route < len(routes):
                route = routes[self._route]
                self._route += 1
                try:
                    result = route.handler(message, stanza)
                except Exception:  # a handler may raise anything; it must not stop receiving
                    self.errors += 1
                    log.exception("handler %s failed on message %s", route.name,
                                  stanza.persistent_id)  # fmt: skip
                    continue
                if result is not None and inspect.isawaitable(result):
                    return result
            self._message, self._route = self._message + 1, 0
        return None
