"""Plain ``def`` handlers: a burst goes to a worker thread in one hop, in order, and a
blocking handler stalls neither heartbeats nor acknowledgements of what it has not
finished (``pullkin._plain`` and ``Pullkin._dispatch``)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable
from typing import Any

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza

from pullkin import Message
from pullkin._plain import PlainRun
from pullkin.client import Pullkin
from pullkin.dispatch import Router
from pullkin.emulator import Emulator
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionState

# --- PlainRun on its own ---------------------------------------------------------------


def _message(n: int) -> tuple[Message, DataMessageStanza]:
    return Message(data={"n": str(n)}), DataMessageStanza(persistent_id=f"0:{n}")


def test_a_run_calls_every_handler_in_message_then_registration_order() -> None:
    calls: list[tuple[str, str]] = []
    router = Router()
    first = router.add(lambda m, s: calls.append(("first", m.data["n"])))
    second = router.add(lambda m, s: calls.append(("second", m.data["n"])))
    run = PlainRun([(*_message(n), [first, second]) for n in range(3)])
    assert run.calls == 6
    assert run.run() is None
    assert calls == [(name, str(n)) for n in range(3) for name in ("first", "second")]
    assert run.run() is None  # nothing is called twice
    assert len(calls) == 6


def test_a_raising_handler_is_counted_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(message: Message, stanza: DataMessageStanza) -> None:
        raise ValueError("boom")

    router = Router()
    routes = [router.add(broken), router.add(lambda m, s: seen.append(m.data["n"]))]
    run = PlainRun([(*_message(n), routes) for n in range(2)])
    assert run.run() is None
    assert run.errors == 2
    assert seen == ["0", "1"]
    assert sum("broken" in r.getMessage() and "0:1" in r.getMessage() for r in caplog.records) == 1


def test_an_awaitable_result_pauses_the_run_where_it_was_returned() -> None:
    calls: list[str] = []

    class LooksPlain:  # a sync __call__ that hands back a coroutine
        def __call__(self, message: Message, stanza: DataMessageStanza) -> Awaitable[None]:
            calls.append(f"call {message.data['n']}")

            async def later() -> None:
                calls.append(f"awaited {message.data['n']}")

            return later()

    router = Router()
    routes = [
        router.add(LooksPlain()),
        router.add(lambda m, s: calls.append(f"next {m.data['n']}")),
    ]
    run = PlainRun([(*_message(n), routes) for n in range(2)])

    async def drive() -> None:
        while (awaitable := run.run()) is not None:
            await awaitable

    asyncio.run(drive())
    assert calls == ["call 0", "awaited 0", "next 0", "call 1", "awaited 1", "next 1"]


# --- end to end on the emulator -----------------------------------------------------------


def _client(emu: Emulator, **config: Any) -> Pullkin:
    return Pullkin(emu.endpoints, session_config=dataclasses.replace(FAST, **config))


async def _start(client: Pullkin) -> None:
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED)


@pytest.mark.anyio
async def test_a_burst_for_plain_handlers_takes_fewer_thread_hops_than_messages(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[int] = []
    original = PlainRun.run

    def counted(self: PlainRun) -> Any:
        hops.append(len(self.items))
        return original(self)

    monkeypatch.setattr(PlainRun, "run", counted)
    credentials = register_direct(emu)
    client = _client(emu)
    seen: list[tuple[str, bool]] = []

    @client.on_notification()
    def handler(message: Message, stanza: DataMessageStanza) -> None:
        seen.append((message.data["n"], threading.current_thread() is threading.main_thread()))

    await client.add_app("1", credentials)
    for n in range(40):  # queued before login: the backlog arrives as a burst
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await _start(client)
    await wait_for(lambda: len(seen) == 40)
    assert [n for n, _ in seen] == [str(n) for n in range(40)]
    assert not any(on_loop_thread for _, on_loop_thread in seen)
    assert sum(hops) == 40
    assert len(hops) < 40
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_plain_and_async_handlers_run_in_message_order(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client = _client(emu)
    order: list[str] = []
    lock = threading.Lock()

    @client.on_notification(lambda m, s: m.data["kind"] == "plain")
    def plain(message: Message, stanza: DataMessageStanza) -> None:
        with lock:
            order.append(message.data["n"])

    @client.on_notification(lambda m, s: m.data["kind"] == "async")
    async def asynchronous(message: Message, stanza: DataMessageStanza) -> None:
        with lock:
            order.append(message.data["n"])

    kinds = ["plain", "plain", "async", "plain", "async", "async", "plain", "plain", "plain"]
    await client.add_app("1", credentials)
    for n, kind in enumerate(kinds * 4):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n), "kind": kind}))
    await _start(client)
    await wait_for(lambda: len(order) == len(kinds) * 4)
    assert order == [str(n) for n in range(len(kinds) * 4)]
    assert client.stats.dispatched == len(kinds) * 4
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_a_blocked_plain_handler_stalls_neither_heartbeats_nor_what_it_has_not_done(
    emu: Emulator,
) -> None:
    credentials = register_direct(emu)
    client = _client(emu, heartbeat_interval=0.05, heartbeat_timeout=2.0)
    release = threading.Event()
    entered = threading.Event()
    handled: list[str] = []

    @client.on_notification()
    def handler(message: Message, stanza: DataMessageStanza) -> None:
        if message.data["n"] == "3":
            entered.set()
            release.wait(30)
        handled.append(message.data["n"])

    await client.add_app("1", credentials)
    await _start(client)
    ids = [send(emu, credentials, web_stanza(credentials, data={"n": str(n)})) for n in range(6)]
    await wait_for(entered.is_set)
    try:
        # The loop goes on while the handler blocks: heartbeats are sent and answered.
        beat = client.stats.last_heartbeat_at or 0.0
        await wait_for(lambda: (client.stats.last_heartbeat_at or 0.0) > beat + 0.05)
        beat = client.stats.last_heartbeat_at or 0.0
        await wait_for(lambda: (client.stats.last_heartbeat_at or 0.0) > beat)
        # Message 3 and those after it are not done, so the server still holds them.
        pending = {p.persistent_id for p in emu.mailboxes.pending(credentials.gcm.android_id)}
        assert set(ids[3:]) <= pending
    finally:
        release.set()
    await wait_for(lambda: handled == [str(n) for n in range(6)])
    await wait_for(lambda: not emu.mailboxes.pending(credentials.gcm.android_id))
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_a_failing_plain_handler_is_counted_and_its_burst_goes_on(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client = _client(emu)
    seen: list[str] = []

    @client.on_notification()
    def handler(message: Message, stanza: DataMessageStanza) -> None:
        if int(message.data["n"]) % 5 == 0:
            raise RuntimeError("every fifth")
        seen.append(message.data["n"])

    await client.add_app("1", credentials)
    for n in range(20):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await _start(client)
    await wait_for(lambda: client.stats.dispatched == 20)
    assert seen == [str(n) for n in range(20) if n % 5]
    assert client.stats.handler_errors == 4
    await wait_for(lambda: not emu.mailboxes.pending(credentials.gcm.android_id))
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_a_plain_callable_returning_a_coroutine_is_awaited_in_order(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client = _client(emu)
    order: list[str] = []

    class Deferred:
        def __call__(self, message: Message, stanza: DataMessageStanza) -> Awaitable[None]:
            async def finish() -> None:
                await asyncio.sleep(0)
                order.append(f"awaited {message.data['n']}")

            order.append(f"called {message.data['n']}")
            return finish()

    client.on_notification()(Deferred())
    await client.add_app("1", credentials)
    for n in range(3):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await _start(client)
    await wait_for(lambda: len(order) == 6)
    assert order == [f"{what} {n}" for n in range(3) for what in ("called", "awaited")]
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_deliveries_made_while_a_run_is_in_its_thread_join_the_next_run(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Messages sent one at a time arrive as separate deliveries; those that come while
    # a handler holds the worker thread are handled in one later hop, still in order.
    runs: list[list[str]] = []
    original = PlainRun.run

    def counted(self: PlainRun) -> Any:
        runs.append([message.data["n"] for message, _, _ in self.items])
        return original(self)

    monkeypatch.setattr(PlainRun, "run", counted)
    credentials = register_direct(emu)
    client = _client(emu)
    release, entered = threading.Event(), threading.Event()
    handled: list[str] = []

    @client.on_notification()
    def handler(message: Message, stanza: DataMessageStanza) -> None:
        if message.data["n"] == "0":
            entered.set()
            release.wait(30)
        handled.append(message.data["n"])

    await client.add_app("1", credentials)
    await _start(client)
    send(emu, credentials, web_stanza(credentials, data={"n": "0"}))
    await wait_for(entered.is_set)
    deliveries = client.stats.received
    for n in range(1, 21):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
        await wait_for(lambda n=n: client.stats.received == deliveries + n)  # type: ignore[misc]
    release.set()
    await wait_for(lambda: len(handled) == 21)
    assert handled == [str(n) for n in range(21)]
    assert runs[0] == ["0"]
    assert len(runs) < 21
    assert sum(len(run) for run in runs) == 21
    await wait_for(lambda: not emu.mailboxes.pending(credentials.gcm.android_id))
    await client.stop()
    await client.aclose()


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the client decrypts (``build_messages`` calls), in order."""
    import pullkin.client

    sizes: list[int] = []
    original = pullkin.client.build_messages

    def counted(stanzas: list[DataMessageStanza], *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(stanzas))
        return original(stanzas, *args, **kwargs)

    monkeypatch.setattr(pullkin.client, "build_messages", counted)
    return sizes


@pytest.mark.anyio
async def test_small_deliveries_queued_behind_a_busy_handler_are_decrypted_in_full_batches(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _count_builds(monkeypatch)
    credentials = register_direct(emu)
    client = _client(emu)
    release = asyncio.Event()
    handled: list[str] = []

    @client.on_notification()
    async def handler(message: Message, stanza: DataMessageStanza) -> None:
        if message.data["n"] == "0":
            await release.wait()
        handled.append(message.data["n"])

    await client.add_app("1", credentials)
    await _start(client)
    for n in range(21):  # one delivery each: the first holds the worker
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
        await wait_for(lambda n=n: client.stats.received == n + 1)  # type: ignore[misc]
    release.set()
    await wait_for(lambda: len(handled) == 21)
    assert handled == [str(n) for n in range(21)]
    assert sizes == [1, 16, 4]
    await wait_for(lambda: not emu.mailboxes.pending(credentials.gcm.android_id))
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_the_next_messages_are_decrypted_while_a_run_is_in_its_thread(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker hands a run to the thread and goes on decrypting: a burst is not
    # held up by the handlers of the run before it; handlers still run in order.
    built = _count_builds(monkeypatch)
    credentials = register_direct(emu)
    client = _client(emu)
    release = threading.Event()
    handled: list[str] = []

    @client.on_notification()
    def handler(message: Message, stanza: DataMessageStanza) -> None:
        if message.data["n"] == "0":
            release.wait(30)
        handled.append(message.data["n"])

    await client.add_app("1", credentials)
    for n in range(100):  # queued before login: the backlog arrives as a burst
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await _start(client)
    await wait_for(lambda: sum(built) == 100)  # while message 0's handler still blocks
    assert handled == []
    release.set()
    await wait_for(lambda: len(handled) == 100)
    assert handled == [str(n) for n in range(100)]
    await wait_for(lambda: not emu.mailboxes.pending(credentials.gcm.android_id))
    await client.stop()
    await client.aclose()


@pytest.mark.anyio
async def test_a_gathered_run_is_at_most_64_messages_and_never_mixes_sessions() -> None:
    from pullkin._handling import _GATHER, _gathered

    def events(*ns: int) -> list[Any]:
        return [f"event {n}" for n in ns]

    class App:
        queue: asyncio.Queue[tuple[object, list[Any]]] = asyncio.Queue()

    first, second = object(), object()
    app: Any = App()
    for start in (33, 66):
        app.queue.put_nowait((first, events(*range(start, start + 33))))
    taken, following = _gathered(app, first, events(*range(33)))
    assert taken == events(*range(_GATHER))
    assert following == (first, events(64, 65))  # the rest of a delivery comes next
    assert app.queue.get_nowait() == (first, events(*range(66, 99)))  # still queued
    app.queue.put_nowait((second, events(200)))
    taken, following = _gathered(app, first, events(*range(5)))
    assert taken == events(*range(5))
    assert following == (second, events(200))
    assert _gathered(app, first, events(7)) == (events(7), None)  # nothing queued
