"""The vocabulary of a device session (``receiver.DeviceSession``): its states, the
device it logs in as, its timing and counters, what it needs of the client
(``SessionHooks``, ``AppRoute``), the errors that end one connection, and the log
that keeps a failing reconnect loop from flooding the log.  No I/O here.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pullkin._ledger import IdLedger
from pullkin.endpoints import CHROME_VERSION
from pullkin.errors import LoginError, PullkinError, TransportTimeout
from pullkin.mcs import events as ev
from pullkin.proto.mcs_pb2 import DataMessageStanza

if TYPE_CHECKING:
    from pullkin.models import AppCredentialsGcm
    from pullkin.receiver import DeviceSession, _Copy

__all__ = [
    "AppRoute",
    "Device",
    "SessionConfig",
    "SessionHooks",
    "SessionState",
    "SessionStats",
    "device_of",
]

# The session's records keep the logger name users configure for it.
log = logging.getLogger("pullkin.receiver")


class SessionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKING_OFF = "backing off"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Device:
    """What an MCS login needs: the check-in identity."""

    android_id: int
    security_token: int = field(repr=False)
    chrome_version: str = CHROME_VERSION


def device_of(gcm: AppCredentialsGcm) -> Device:
    """The device an app's check-in names."""
    return Device(gcm.android_id, gcm.security_token, gcm.chrome_version)


@dataclass(frozen=True)
class SessionConfig:
    """Timing of one session; the defaults suit a long-lived receiver."""

    heartbeat_interval: float = 60.0
    heartbeat_timeout: float = 20.0
    login_timeout: float = 30.0
    connect_timeout: float = 15.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 600.0
    stable_after: float = 10.0
    stop_timeout: float = 5.0
    #: At most this many messages received and not yet acknowledgeable (handlers busy,
    #: marks not yet durable) before the session stops reading the socket; it reads
    #: again once half of them are, or after ``heartbeat_timeout / 4`` s at the latest
    #: (so the link still shows activity).  A backlog then waits in the server and in
    #: TCP, not parsed in this process's memory.
    read_ahead: int = 256


@dataclass
class SessionStats:
    """Counters and heartbeat figures (observability)."""

    received: int = 0
    dispatched: int = 0
    duplicates: int = 0
    undecryptable: int = 0
    invalid: int = 0
    handler_errors: int = 0
    reconnects: int = 0
    logins: int = 0
    last_heartbeat_at: float | None = None
    heartbeat_rtt: float | None = None


class AppRoute(Protocol):
    """What the session needs of a registered app."""

    key: str
    ledger: IdLedger[_Copy]


class SessionHooks(Protocol):
    """The client's side of a session."""

    def route(self, stanza: DataMessageStanza, app_data: Mapping[str, str]) -> AppRoute | None:
        """The app *stanza* is for (*app_data* is its app_data as a mapping), or None."""

    def deliver(
        self, session: DeviceSession, app: AppRoute, messages: list[ev.DataMessage]
    ) -> None: ...

    def ledgers(self) -> Sequence[IdLedger[_Copy]]: ...

    def handled(self) -> None:
        """An id was marked handled: commit soon, then acknowledge its copies."""

    async def reauthenticate(self, error: LoginError) -> Device: ...

    def report(self, error: Exception, stanza: DataMessageStanza | None) -> None: ...


class _ConnectionLost(PullkinError):
    """Internal: this connection is over; reconnect."""


class _LoginTimeout(TransportTimeout):
    """The server accepted the connection but did not answer the login in time."""


class _ErrorLog:
    """Logs an error with its traceback once, then only counts repeats (no hot loop)."""

    def __init__(self) -> None:
        self._last: str | None = None
        self._repeats = 0

    def __call__(self, message: str, exc: BaseException) -> None:
        key = f"{type(exc).__name__}: {exc}"
        if key != self._last:
            if self._repeats:
                log.warning("previous error repeated %d more time(s)", self._repeats)
            self._last, self._repeats = key, 0
            expected = isinstance(exc, PullkinError)  # a traceback only helps for bugs
            log.warning("%s: %s", message, key, exc_info=None if expected else exc)
        else:
            self._repeats += 1
            if self._repeats in (10, 100) or self._repeats % 1000 == 0:
                log.warning("%s: same error again (%d times)", message, self._repeats)

    def clear(self) -> None:
        self._last, self._repeats = None, 0
