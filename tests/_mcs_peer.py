"""A scripted MCS server for receiver tests: every rare path, deterministically.

``ScriptedPeer.connect`` is a ``DeviceSession`` connector (also ``Pullkin._connector``):
each connection attempt is recorded and either refused (``refuse_next``) or answered
with an in-memory stream whose server end the test drives as a ``PeerConnection`` —
the sans-IO codec in the server role, so frames, acknowledgements and stream ids are
real.  A test either calls the ``PeerConnection`` methods or plays a script::

    await play(peer, [
        Accept(), Login(), Send(ev.HeartbeatPing()), Expect(ev.HeartbeatAck, within=1),
        Close(), ExpectReconnect(after=(0.67, 1.0)), Login(),
    ])

On the virtual clock of ``_virtual_time`` the waits take no real time, so a backoff
of minutes or a heartbeat interval is checked in milliseconds.  Every wait is bounded
(``within``); a missing frame fails the test with what arrived instead.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from pullkin._commit import GroupCommit
from pullkin._ledger import IdLedger
from pullkin.endpoints import Endpoints
from pullkin.errors import ConnectError, LoginError, PullkinError
from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role
from pullkin.mcs.transport import MemoryStream, Stream, memory_stream_pair
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import Device, DeviceSession, SessionConfig

__all__ = [
    "DEVICE",
    "Accept",
    "Close",
    "Expect",
    "ExpectClosed",
    "ExpectReconnect",
    "Login",
    "PeerConnection",
    "Quiet",
    "RecordingHooks",
    "ScriptedPeer",
    "Send",
    "SendRaw",
    "Wait",
    "play",
    "running_session",
    "until",
]

_E = TypeVar("_E")


class PeerConnection:
    """The server end of one connection the session opened."""

    def __init__(self, stream: MemoryStream, opened_at: float) -> None:
        self.stream = stream
        self.conn = McsConnection(Role.SERVER)
        self.opened_at = opened_at
        self.received: list[ev.Event] = []
        self.login_request: ev.LoginRequest | None = None

    def __repr__(self) -> str:
        return f"<PeerConnection {self.conn!r} received={len(self.received)}>"

    async def next_event(self, within: float = 5.0) -> ev.Event:
        """The next packet from the session (``ConnectionClosed`` once it hung up)."""
        with anyio.fail_after(within):
            while True:
                event = self.conn.next_event()
                if event is not ev.NEED_DATA:
                    assert not isinstance(event, ev.NeedData)
                    self.received.append(event)
                    return event
                self.conn.receive_data(await self.stream.receive())

    async def expect(self, kind: type[_E], within: float = 5.0) -> _E:
        """The next packet, which must be a *kind*."""
        event = await self.next_event(within)
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def skip_until(self, kind: type[_E], within: float = 5.0) -> _E:
        """Read until a *kind* arrives (acks and pings on the way are skipped)."""
        with anyio.fail_after(within):
            while True:
                event = await self.next_event(math.inf)
                if isinstance(event, kind):
                    return event
                assert not isinstance(event, ev.ConnectionClosed), f"closed before {kind}"

    async def login(self, **response: Any) -> ev.LoginRequest:
        """Read the LoginRequest and answer it (``LoginResponse`` fields as keywords)."""
        request = await self.expect(ev.LoginRequest)
        self.login_request = request
        aid = request.android_id
        fields = {"id": request.client_id, "jid": f"{aid}@mcs.android.com/{aid}", **response}
        await self.send(ev.LoginResponse(**fields))
        return request

    async def send(self, *events: ev.Event) -> None:
        await self.stream.send(b"".join(self.conn.send(event) for event in events))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send(data)

    async def close(self) -> None:
        """Hang up (the session reads end of stream)."""
        await self.stream.aclose()

    async def stop_reading(self) -> None:
        """Stop reading only (a reset peer): the session's next write fails, while
        its reads still wait."""
        await self.stream._objects.receive_stream.aclose()

    async def expect_closed(self, within: float = 5.0) -> None:
        """The session hangs up within *within* seconds (packets before that skipped)."""
        await self.skip_until(ev.ConnectionClosed, within)

    async def quiet(self, seconds: float) -> None:
        """Nothing at all arrives for *seconds* (virtual time: no real wait)."""
        with anyio.move_on_after(seconds):
            event = await self.next_event(math.inf)
            raise AssertionError(f"expected silence for {seconds} s, got {event!r}")


@dataclass
class ScriptedPeer:
    """Plays the MCS server: hands out connections, refuses them when told to."""

    connects: list[float] = field(default_factory=list)  # clock time of every attempt
    refusals: list[PullkinError] = field(default_factory=list)
    connections: list[PeerConnection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._send, self._accepted = anyio.create_memory_object_stream[PeerConnection](100)

    def refuse_next(self, count: int = 1, error: PullkinError | None = None) -> None:
        """The next *count* attempts fail (``ConnectError`` unless *error* is given)."""
        for _ in range(count):
            self.refusals.append(error or ConnectError("cannot connect to mtalk: refused"))

    async def connect(self, endpoints: Endpoints) -> Stream:
        del endpoints
        self.connects.append(anyio.current_time())
        if self.refusals:
            raise self.refusals.pop(0)
        client_end, server_end = memory_stream_pair()
        connection = PeerConnection(server_end, anyio.current_time())
        self.connections.append(connection)
        self._send.send_nowait(connection)
        return client_end

    async def accept(self, within: float = 5.0) -> PeerConnection:
        """The next connection the session opens (waits up to *within* seconds)."""
        with anyio.fail_after(within):
            return await self._accepted.receive()

    async def aclose(self) -> None:
        """Hang up every connection and stop accepting."""
        self._send.close()
        self._accepted.close()
        for connection in self.connections:
            await connection.stream.aclose()

    async def __aenter__(self) -> ScriptedPeer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def until(predicate: Callable[[], object], within: float = 5.0) -> None:
    """Wait until *predicate()* holds (on the virtual clock the polling is free)."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.01)


# --- scripts -----------------------------------------------------------------------------


@dataclass
class _Play:
    peer: ScriptedPeer
    connection: PeerConnection | None = None

    @property
    def current(self) -> PeerConnection:
        assert self.connection is not None, "no connection yet: start the script with Accept()"
        return self.connection


class Step:
    async def __call__(self, play: _Play) -> None:
        raise NotImplementedError


@dataclass
class Accept(Step):
    """Wait for the session to connect."""

    within: float = 5.0

    async def __call__(self, play: _Play) -> None:
        play.connection = await play.peer.accept(self.within)


@dataclass
class Login(Step):
    """Read the LoginRequest and answer with a LoginResponse built from *response*."""

    response: dict[str, Any] = field(default_factory=dict)
    check: Callable[[ev.LoginRequest], object] | None = None

    async def __call__(self, play: _Play) -> None:
        request = await play.current.login(**self.response)
        if self.check is not None:
            self.check(request)


class Send(Step):
    def __init__(self, *events: ev.Event) -> None:
        self.events = events

    def __repr__(self) -> str:
        return f"Send{self.events!r}"

    async def __call__(self, play: _Play) -> None:
        await play.current.send(*self.events)


@dataclass
class SendRaw(Step):
    data: bytes

    async def __call__(self, play: _Play) -> None:
        await play.current.send_raw(self.data)


@dataclass
class Expect(Step):
    """The next packet is a *kind* (within *within* seconds); *check* may inspect it."""

    kind: type[ev.Event]
    within: float = 5.0
    check: Callable[[Any], object] | None = None

    async def __call__(self, play: _Play) -> None:
        event = await play.current.expect(self.kind, self.within)
        if self.check is not None:
            self.check(event)


@dataclass
class Wait(Step):
    seconds: float

    async def __call__(self, play: _Play) -> None:
        await anyio.sleep(self.seconds)


@dataclass
class Quiet(Step):
    """Nothing arrives for *seconds*."""

    seconds: float

    async def __call__(self, play: _Play) -> None:
        await play.current.quiet(self.seconds)


@dataclass
class Close(Step):
    """The server hangs up."""

    async def __call__(self, play: _Play) -> None:
        await play.current.close()


@dataclass
class ExpectClosed(Step):
    """The session hangs up within *within* seconds."""

    within: float = 5.0

    async def __call__(self, play: _Play) -> None:
        await play.current.expect_closed(self.within)


@dataclass
class ExpectReconnect(Step):
    """The session connects again after between ``after[0]`` and ``after[1]`` seconds
    (counted from this step); refused attempts on the way count as attempts."""

    after: tuple[float, float]

    async def __call__(self, play: _Play) -> None:
        start = anyio.current_time()
        attempts = len(play.peer.connects)
        play.connection = await play.peer.accept(self.after[1] + 1)
        delay = play.peer.connects[attempts] - start
        low, high = self.after
        assert low <= delay <= high, f"reconnected after {delay:.3f} s, not in [{low}, {high}]"


async def play(peer: ScriptedPeer, script: Sequence[Step]) -> PeerConnection | None:
    """Run *script* step by step; returns the connection it ended on."""
    state = _Play(peer)
    for number, step in enumerate(script, 1):
        try:
            await step(state)
        except (AssertionError, TimeoutError) as exc:
            raise AssertionError(f"script step {number} ({step!r}) failed: {exc!r}") from exc
    return state.connection


# --- the client side of a DeviceSession ------------------------------------------------


@dataclass(eq=False)
class OneApp:
    """The app every message is routed to."""

    key: str = "app"
    ledger: IdLedger[Any] = field(default_factory=IdLedger)


class RecordingHooks:
    """``SessionHooks`` kept in lists: one app, handlers that finish at once (unless
    ``hold=True``: then ``finish()`` ends them), the client's own group commit without
    a store (``commits``: ``running_session`` runs it), re-authentication answers from
    ``reauth_answers`` (a ``Device`` or an exception to raise), in order."""

    def __init__(
        self, *, hold: bool = False, reauth_answers: Sequence[Device | Exception] = ()
    ) -> None:
        self.app = OneApp()
        self.hold = hold
        self.delivered: list[ev.DataMessage] = []
        self.held: list[tuple[DeviceSession, ev.DataMessage]] = []
        self.commits = GroupCommit(None)
        self.commits.attach(self.app)
        self.reauth_answers = list(reauth_answers)
        self.reauths: list[LoginError] = []
        self.reports: list[tuple[Exception, DataMessageStanza | None]] = []

    def route(self, stanza: DataMessageStanza, app_data: Mapping[str, str]) -> OneApp:
        return self.app

    def deliver(self, session: DeviceSession, app: Any, messages: list[ev.DataMessage]) -> None:
        self.delivered += messages
        for message in messages:
            if self.hold:
                self.held.append((session, message))
            else:
                session.message_done(app, message)

    def finish(self) -> None:
        held, self.held = self.held, []
        for session, message in held:
            session.message_done(self.app, message)

    def ledgers(self) -> list[IdLedger[Any]]:
        return [self.app.ledger]

    def handled(self) -> None:
        self.commits.attach(self.app)  # again: a test may have put in a ledger of its own
        self.commits.soon()

    async def reauthenticate(self, error: LoginError) -> Device:
        self.reauths.append(error)
        answer = self.reauth_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def report(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        self.reports.append((error, stanza))


DEVICE = Device(android_id=5678901234567890123, security_token=1234567890123456789)


@asynccontextmanager
async def running_session(
    peer: ScriptedPeer,
    hooks: RecordingHooks | None = None,
    config: SessionConfig | None = None,
    *,
    seed: int = 1,
) -> AsyncIterator[DeviceSession]:
    """A DeviceSession connected through *peer*, running until the block ends (then
    stopped, and awaited)."""
    hooks = hooks or RecordingHooks()
    hooks.commits.start()
    session = DeviceSession(
        DEVICE,
        Endpoints(),
        hooks,
        config=config,
        connector=peer.connect,
        rng=random.Random(seed),
    )
    # On the virtual clock a hang costs nothing: the hour passes at once and fails.
    try:
        with anyio.fail_after(3600):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(session.run)
                yield session
                session.stop()
    finally:
        await hooks.commits.stop()
        await peer.aclose()
