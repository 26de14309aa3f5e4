"""Fault injection: deterministic plans that make the emulator misbehave on purpose.

Every knob is counted ("the next N times"), so a test states exactly what happens;
the only randomness (``drop_randomly``) comes from a ``random.Random(seed)``, so a
plan replays identically.  Tests arm faults on ``emu.faults``; the HTTP middleware
and the MCS server consume them.

HTTP endpoint names (the aiohttp route names): ``checkin``, ``register3``,
``installations`` (create), ``installation_token``, ``installation_delete``,
``registrations`` (create), ``registration`` (GET/PATCH/DELETE one token),
``oauth_token``, ``fcm_send``, ``iid_add``, ``iid_remove``, ``topic_subscribe``,
``topic_unsubscribe``, ``webpush`` (both ``/fcm/send/`` and ``/wp/``), and the
vendor fakes' names (``hms_token``, ``hms_send``, ``hms_topic``, ``baidu``, ``umeng``,
``azure``).  ``"*"`` matches every endpoint.

Outages: ``http_hang`` (an endpoint never answers: the client's timeout ends it),
``silent_login`` (the MCS server reads the LoginRequest and never answers),
``tls_failure`` (handshakes on the MCS or HTTPS port fail, or serve a certificate from
another CA) — counted or for a number of seconds.  ``Emulator.refuse_mcs(seconds)``
closes the MCS port itself.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from pullkin.errors import ConfigError

__all__ = ["FaultPlan", "HttpFault", "McsFault", "TlsFault"]

Port = Literal["mcs", "http"]


@dataclass(frozen=True)
class HttpFault:
    """One armed HTTP fault: answer *status* (with *retry_after*), or stall *delay* s.

    ``body`` overrides the answer body; ``register_error`` answers register3 with
    HTTP 200 ``Error=<reason>`` the way the real service does.  ``retry_after`` goes
    out as whole seconds, rounded up (RFC 9110 delta-seconds: 0.3 is sent as 1).
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: str | None = None
    register_error: str | None = None


@dataclass(frozen=True)
class McsFault:
    """One armed MCS fault, consumed per connection or per delivery.

    kinds: ``close_after_frames`` (close after *frames* server frames following the
    LoginResponse), ``close_mid_frame`` (write half of the next data frame, then
    close), ``close_after_login``, ``duplicate`` (send the next delivery twice),
    ``delay`` (hold each delivery *seconds*), ``ignore_pings`` (never answer client
    heartbeats on this connection), ``reject_login`` (LoginResponse with an error),
    ``malformed`` (send a frame whose body does not parse), ``unknown_tag``,
    ``silent_login`` (never answer the LoginRequest).
    """

    kind: str
    frames: int = 0
    seconds: float = 0.0


@dataclass
class TlsFault:
    """Handshakes on *port* fail (``wrong_ca``: succeed with a certificate from another
    CA, which a client must refuse) *times* more times, or until *until* (monotonic)."""

    port: Port
    wrong_ca: bool
    times: int | None
    until: float | None

    def take(self, now: float) -> bool:
        """Whether this fault applies to one more handshake (and count it)."""
        if self.until is not None:
            return now < self.until
        if self.times:
            self.times -= 1
            return True
        return False


class FaultPlan:
    """The faults armed on one emulator."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._random = random.Random(seed)
        self._http: dict[str, deque[HttpFault]] = {}
        self._mcs: deque[McsFault] = deque()
        self._drop_probability = 0.0
        self._tls: list[TlsFault] = []
        self.fired: list[str] = []

    # --- arming: HTTP ---------------------------------------------------------------

    def http_error(
        self,
        endpoint: str,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        """Answer *endpoint* with *status* the next *times* requests."""
        self._arm(endpoint, HttpFault(status=status, retry_after=retry_after, body=body), times)

    def http_delay(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """Stall the next *times* requests to *endpoint* for *seconds* (timeouts)."""
        self._arm(endpoint, HttpFault(delay=seconds), times)

    def http_hang(self, endpoint: str, *, times: int = 1) -> None:
        """The next *times* requests to *endpoint* are never answered: the request
        hangs until the client gives up (its timeout) or the emulator stops."""
        self._arm(endpoint, HttpFault(delay=math.inf), times)

    def register_error(self, reason: str = "PHONE_REGISTRATION_ERROR", *, times: int = 1) -> None:
        """Answer the next *times* register3 calls with ``Error=<reason>`` (HTTP 200)."""
        self._arm("register3", HttpFault(register_error=reason), times)

    def _arm(self, endpoint: str, fault: HttpFault, times: int) -> None:
        queue = self._http.setdefault(endpoint, deque())
        queue.extend([fault] * times)

    # --- arming: MCS ----------------------------------------------------------------

    def close_after_frames(self, frames: int, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("close_after_frames", frames=frames)] * times)

    def close_mid_frame(self, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("close_mid_frame")] * times)

    def close_after_login(self, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("close_after_login")] * times)

    def duplicate_delivery(self, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("duplicate")] * times)

    def delay_delivery(self, seconds: float, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("delay", seconds=seconds)] * times)

    def ignore_heartbeats(self, *, times: int = 1) -> None:
        """The next *times* connections never answer the client's pings."""
        self._mcs.extend([McsFault("ignore_pings")] * times)

    def reject_login(self, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("reject_login")] * times)

    def malformed_frame(self, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("malformed")] * times)

    def unknown_tag(self, *, times: int = 1) -> None:
        self._mcs.extend([McsFault("unknown_tag")] * times)

    def silent_login(self, *, times: int = 1) -> None:
        """The next *times* MCS connections get no LoginResponse: the server reads the
        login and stays silent until the client gives up."""
        self._mcs.extend([McsFault("silent_login")] * times)

    def tls_failure(
        self,
        port: Port = "mcs",
        *,
        times: int | None = 1,
        seconds: float | None = None,
        wrong_ca: bool = False,
    ) -> None:
        """TLS handshakes on the ``"mcs"`` or ``"http"`` port fail (a handshake alert),
        or with ``wrong_ca`` present a certificate from another CA: the next *times*
        handshakes, or every handshake for the next *seconds*."""
        if port not in ("mcs", "http"):
            raise ConfigError(f"port must be 'mcs' or 'http', got {port!r}")
        until = None if seconds is None else time.monotonic() + seconds
        self._tls.append(TlsFault(port, wrong_ca, None if seconds is not None else times, until))

    def drop_randomly(self, probability: float) -> None:
        """Close a connection before each data frame with *probability* (seeded)."""
        self._drop_probability = probability

    def clear(self) -> None:
        """Disarm everything."""
        self._http.clear()
        self._mcs.clear()
        self._tls.clear()
        self._drop_probability = 0.0

    # --- consumption (emulator internals) --------------------------------------------

    def take_http(self, endpoint: str) -> HttpFault | None:
        for key in (endpoint, "*"):
            queue = self._http.get(key)
            if queue:
                fault = queue.popleft()
                self.fired.append(f"http:{endpoint}")
                return fault
        return None

    def take_mcs(self, *kinds: str) -> McsFault | None:
        """The first armed MCS fault of one of *kinds*, removed from the plan."""
        for fault in self._mcs:
            if fault.kind in kinds:
                self._mcs.remove(fault)
                self.fired.append(f"mcs:{fault.kind}")
                return fault
        return None

    def take_tls(self, port: Port) -> TlsFault | None:
        """The TLS fault that applies to one handshake on *port* now, if any."""
        now = time.monotonic()
        for fault in self._tls:
            if fault.port == port and fault.take(now):
                self.fired.append(f"tls:{port}")
                return fault
        self._tls = [f for f in self._tls if f.times or (f.until is not None and now < f.until)]
        return None

    def should_drop(self) -> bool:
        if self._drop_probability and self._random.random() < self._drop_probability:
            self.fired.append("mcs:drop_randomly")
            return True
        return False

    @property
    def deliveries_plain(self) -> bool:
        """No MCS fault is armed: a delivery can be written without consulting the plan."""
        return not self._mcs and not self._drop_probability

    @property
    def armed(self) -> bool:
        return any(self._http.values()) or bool(self._mcs) or bool(self._tls)
