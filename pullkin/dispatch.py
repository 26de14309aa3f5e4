"""Routing received messages to handlers: filters decide, in registration order.  Pure.

``Router.match`` returns the routes whose filter accepts a message; a filter that
raises counts as "no match" and is reported back, so one bad filter never hides a
message from the other handlers.  Running handlers (threads for sync ones, order and
concurrency) is the client's job.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from pullkin.errors import ConfigError
from pullkin.models import Message
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = ["Filter", "Handler", "Route", "Router", "accept_all"]

Filter: TypeAlias = Callable[[Message, DataMessageStanza], Any]
Handler: TypeAlias = Callable[[Message, DataMessageStanza], Awaitable[None] | None]


def accept_all(message: Message, stanza: DataMessageStanza) -> bool:
    """The default filter."""
    return True


@dataclass(frozen=True)
class Route:
    """One ``on_notification`` registration."""

    handler: Handler
    filter: Filter
    is_async: bool

    @property
    def name(self) -> str:
        return getattr(self.handler, "__qualname__", repr(self.handler))


def _is_async(handler: Handler) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    # An object whose __call__ is a coroutine function is an async handler too.
    return not inspect.isroutine(handler) and inspect.iscoroutinefunction(type(handler).__call__)


class Router:
    """Handlers with their filters, in registration order."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        # Every filter is ``accept_all``: ``match`` is then every route, no call made.
        self._unfiltered = True

    def __len__(self) -> int:
        return len(self._routes)

    def add(self, handler: Handler, handler_filter: Filter | None = None) -> Route:
        if not callable(handler):
            raise ConfigError(f"handler must be callable, got {type(handler).__name__}")
        if handler_filter is not None and not callable(handler_filter):
            raise ConfigError(f"handler_filter must be callable, got {handler_filter!r}")
        route = Route(
            handler=handler,
            filter=handler_filter or accept_all,
            is_async=_is_async(handler),
        )
        self._routes = [*self._routes, route]
        self._unfiltered = all(r.filter is accept_all for r in self._routes)
        return route

    def remove(self, handler: Handler) -> None:
        self._routes = [route for route in self._routes if route.handler is not handler]
        self._unfiltered = all(r.filter is accept_all for r in self._routes)

    def match(
        self, message: Message, stanza: DataMessageStanza
    ) -> tuple[list[Route], Sequence[tuple[Route, Exception]]]:
        """(routes whose filter accepted, (route, exception) for filters that raised).

        The first list may be the router's own when no route has a filter (the common
        case, once per message): callers must not change it."""
        if self._unfiltered:
            return self._routes, ()
        matched: list[Route] = []
        failed: list[tuple[Route, Exception]] = []
        for route in self._routes:
            try:
                accepted = route.filter(message, stanza)
            except Exception as exc:  # noqa: BLE001 - a user's filter may raise anything
                failed.append((route, exc))
                continue
            if accepted:
                matched.append(route)
        return matched, failed
