"""The receiver against hostile servers and unlucky networks (issue 13): bad input is
reported once to ``on_error`` and acknowledged, good messages keep flowing, the
credentials file stays valid, and nothing ends a worker or a session."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _hostile_mcs import HostileMcsServer, Segment
from _mcs_raw import RawMcsClient
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.emulator._tls import make_local_ca
from pullkin.endpoints import Endpoints
from pullkin.errors import DecryptionError, PullkinError, RemoteProtocolError
from pullkin.local_store import LocalStore
from pullkin.mcs import events as ev
from pullkin.mcs._buffer import encode_varint32
from pullkin.mcs._strings import opaque_id
from pullkin.mcs.codec import McsConnection, Role
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm, AppCredentialsKeys
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig, SessionState

pytestmark = pytest.mark.anyio

BAD = b"\xff\xfe"


def field(number: int, payload: bytes) -> bytes:
    return encode_varint32(number << 3 | 2) + encode_varint32(len(payload)) + payload


def frame(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + encode_varint32(len(body)) + body


def loopback_endpoints() -> Endpoints:
    """Every URL on a closed loopback port: nothing here may reach the Internet."""
    closed = "https://127.0.0.1:9"
    return Endpoints(
        checkin=f"{closed}/checkin", register=f"{closed}/register3",
        installations=closed, registrations=closed, oauth_token=f"{closed}/token",
        fcm_send=closed + "/{project_id}", iid=closed, webpush=closed + "/{token}",
        mcs_host="127.0.0.1",
    )  # fmt: skip


def web_credentials(n: int = 1) -> AppCredentials:
    gcm = AppCredentialsGcm(1234567 + n, 7654321, token=f"gcm-{n}", app_id=f"wp:test#{n}")
    fcm = AppCredentialsFcm(token=f"fcm-{n}", created_at=dt.datetime.now(dt.timezone.utc))
    return AppCredentials(gcm=gcm, fcm=fcm, keys=AppCredentialsKeys.generate())


class Observed:
    """What handlers and on_error saw."""

    def __init__(self, client: Pullkin) -> None:
        self.handled: list[str] = []
        self.errors: list[tuple[Exception, DataMessageStanza | None]] = []
        client.on_notification()(self.on_message)
        client.on_error(self.on_error)

    async def on_message(self, message: Message, stanza: DataMessageStanza) -> None:
        self.handled.append(message.data["n"])

    def on_error(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        self.errors.append((error, stanza))

    def errors_by_id(self) -> Counter[str]:
        return Counter(stanza.persistent_id for _, stanza in self.errors if stanza is not None)


# --- the hostile server: every bad thing in turn ------------------------------------------


def good(credentials: AppCredentials, n: int) -> bytes:
    stanza = web_stanza(credentials, data={"n": str(n)})
    stanza.persistent_id = f"0:good-{n}"
    return stanza.SerializeToString()


def spoiled(credentials: AppCredentials, pid: str, extra: bytes) -> bytes:
    """A good web message whose fields are overridden by *extra* (the last one wins)."""
    stanza = web_stanza(credentials, data={"n": "never"})
    stanza.persistent_id = pid
    return stanza.SerializeToString() + extra


def bad_messages(credentials: AppCredentials, other: AppCredentials) -> dict[str, bytes]:
    """persistent id as the receiver reports it -> a message it must not deliver."""
    data_fields = {"id": 2, "from": 3, "to": 4, "category": 5, "token": 6, "reg_id": 13}
    bad: dict[str, bytes] = {
        f"0:bad-{name}": spoiled(credentials, f"0:bad-{name}", field(number, BAD))
        for name, number in data_fields.items()
    }
    bad["0:bad-key"] = spoiled(credentials, "0:bad-key", field(7, field(1, BAD) + field(2, b"v")))
    bad["0:bad-value"] = spoiled(
        credentials, "0:bad-value", field(7, field(1, b"k") + field(2, BAD))
    )
    raw_id = b"0:\xff\xfe-persistent"
    bad[opaque_id(raw_id)] = spoiled(credentials, "x", field(9, raw_id))
    long_id = "0:" + "7" * 600
    bad[opaque_id(long_id)] = spoiled(credentials, long_id, b"")
    incomplete = web_stanza(credentials, data={"n": "never"})
    kept = [(i.key, i.value) for i in incomplete.app_data if i.key != "crypto-key"]
    del incomplete.app_data[:]
    for key, value in kept:
        incomplete.app_data.add(key=key, value=value)
    incomplete.persistent_id = "0:bad-incomplete-aesgcm"
    bad["0:bad-incomplete-aesgcm"] = incomplete.SerializeToString()
    tampered = web_stanza(credentials, data={"n": "never"})
    tampered.raw_data = tampered.raw_data[:-1] + bytes([tampered.raw_data[-1] ^ 1])
    tampered.persistent_id = "0:bad-tampered"
    bad["0:bad-tampered"] = tampered.SerializeToString()
    foreign = web_stanza(other, data={"n": "never"})
    foreign.persistent_id = "0:bad-other-app"
    bad["0:bad-other-app"] = foreign.SerializeToString()
    return bad


def killers() -> list[bytes]:
    """Frames after which the client must drop the connection (and come back)."""
    login = McsConnection(Role.CLIENT).send(
        ev.LoginRequest(android_id=1, security_token=2, settings=(("hbping", "²"),))
    )[1:]
    return [
        login,  # a LoginRequest to a client, with an hbping int() cannot take
        b"\x10\x00",  # unknown tag
        bytes([8]) + encode_varint32(5 << 20),  # announces 5 MiB
        frame(8, field(2, b"x")),  # DataMessageStanza without its required fields
        b"\x07\xff\xff\xff\xff\xff\xff",  # a size varint that never ends
    ]


async def test_a_hostile_server_cannot_stop_delivery_or_spoil_the_store(
    tmp_path: Path,
) -> None:
    credentials, other = web_credentials(1), web_credentials(2)
    bad = bad_messages(credentials, other)
    bodies = list(bad.values())
    frames = killers()
    script: list[Segment] = []
    n = 0
    for index in range(len(frames) + 1):
        messages = [
            good(credentials, n),
            *bodies[index * 3 : index * 3 + 3],
            good(credentials, n + 1),
        ]
        n += 2
        script.append(Segment(messages, frames[index] if index < len(frames) else None))
    assert sum(len(s.messages) for s in script) == n + len(bodies)
    path = tmp_path / "credentials.json"
    async with HostileMcsServer(tmp_path / "ca", script) as server:
        client = Pullkin(server.endpoints(loopback_endpoints()), credentials_path=path,
                         session_config=FAST)  # fmt: skip
        observed = Observed(client)
        await client.add_app("1", credentials)
        client._start(None)
        await wait_for(lambda: len(observed.handled) == n and len(observed.errors) >= len(bad),
                       within=20)  # fmt: skip
        await wait_for(lambda: not server.pending and server.logins > len(frames), within=10)
        assert server.hangups == len(frames)
        await client.stop()
        await client.aclose()
    # Every good message handled exactly once, in order.
    assert observed.handled == [str(i) for i in range(n)]
    # Each bad one reported once, with a stanza whose strings are all text.
    assert observed.errors_by_id() == Counter(list(bad))
    kinds = {stanza.persistent_id: type(error) for error, stanza in observed.errors if stanza}
    assert kinds["0:bad-incomplete-aesgcm"] is DecryptionError
    assert kinds["0:bad-tampered"] is DecryptionError
    assert kinds["0:bad-other-app"] is PullkinError
    assert kinds["0:bad-key"] is kinds["0:bad-category"] is RemoteProtocolError
    incomplete = next(e for e, s in observed.errors if s and s.persistent_id.endswith("aesgcm"))
    assert "incomplete" in str(incomplete)
    # ... and acknowledged: by the stream, or at the next login (good ones).
    sent = {DataMessageStanza.FromString(body).persistent_id for s in script for body in s.messages}
    assert len(sent) == n + len(bad)
    assert server.acknowledged == sent
    assert client.stats.invalid == 10
    assert client.stats.received >= n + len(bad)
    # The credentials file is valid JSON, loads, and remembers what was handled.
    json.loads(path.read_text())
    store = LocalStore.open(path)
    assert await store.get_credentials("1") == credentials
    handled = (await store.load_ids("1")).handled
    await store.aclose()
    assert {f"0:good-{i}" for i in range(n)} | set(bad) <= set(handled)


# --- item by item -------------------------------------------------------------------------


@pytest.fixture
async def fast_emu() -> AsyncIterator[Emulator]:
    async with Emulator(seed=13) as emulator:
        yield emulator


async def running(emu: Emulator, credentials: AppCredentials, **kwargs: object) -> Pullkin:
    client = Pullkin(emu.endpoints, session_config=FAST, **kwargs)  # type: ignore[arg-type]
    await client.add_app("1", credentials)
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    return client


async def test_a_stanza_that_breaks_the_parser_does_not_end_the_worker(fast_emu: Emulator) -> None:
    # Defence in depth behind the codec: whatever a stanza does to the message parser,
    # the worker reports it, acknowledges it and goes on with the next message.
    credentials = register_direct(fast_emu, android=True)
    client = await running(fast_emu, credentials)
    observed = Observed(client)
    broken = DataMessageStanza.FromString(
        DataMessageStanza(category="x", persistent_id="0:broken", **{"from": "f"})
        .SerializeToString() + field(7, field(1, BAD) + field(2, b"v"))
    )  # fmt: skip
    [session] = client.sessions
    hooks = session.hooks
    app = client._apps["1"]
    hooks.deliver(session, app, [ev.DataMessage(broken), ev.DataMessage(broken)])
    send(fast_emu, credentials, _android(credentials, n="after"))
    await wait_for(lambda: observed.handled == ["after"])
    assert [str(e) for e, _ in observed.errors].count(str(observed.errors[0][0])) == 2
    assert "could not be handled" in str(observed.errors[0][0])
    assert all(not task.done() for task in app.workers)
    await client.stop()
    await client.aclose()


def _android(credentials: AppCredentials, **data: str) -> DataMessageStanza:
    stanza = DataMessageStanza(category=credentials.gcm.app_name)
    setattr(stanza, "from", credentials.gcm.sender)
    for key, value in data.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


async def test_an_aesgcm_message_without_its_crypto_key_goes_to_on_error(
    fast_emu: Emulator,
) -> None:
    credentials = register_direct(fast_emu)
    client = await running(fast_emu, credentials)
    observed = Observed(client)
    stanza = web_stanza(credentials, data={"n": "lost?"})
    kept = [(i.key, i.value) for i in stanza.app_data if i.key != "crypto-key"]
    del stanza.app_data[:]
    for key, value in kept:
        stanza.app_data.add(key=key, value=value)
    pid = send(fast_emu, credentials, stanza)
    send(fast_emu, credentials, web_stanza(credentials, data={"n": "next"}))
    await wait_for(lambda: observed.handled == ["next"] and observed.errors)
    [(error, reported)] = observed.errors
    assert isinstance(error, DecryptionError)
    assert "aesgcm message is incomplete" in str(error)
    assert reported is not None
    assert reported.persistent_id == pid
    await wait_for(lambda: fast_emu.mailboxes.pending(credentials.gcm.android_id) == [])
    await client.stop()
    await client.aclose()


async def test_a_message_for_another_app_goes_to_on_error_even_with_one_app(
    fast_emu: Emulator,
) -> None:
    credentials = register_direct(fast_emu)
    stranger = register_direct(
        fast_emu, (credentials.gcm.android_id, credentials.gcm.security_token)
    )
    client = await running(fast_emu, credentials)
    observed = Observed(client)
    pid = send(fast_emu, credentials, web_stanza(stranger, data={"n": "not mine"}))
    send(fast_emu, credentials, web_stanza(credentials, data={"n": "mine"}))
    await wait_for(lambda: observed.handled == ["mine"] and observed.errors)
    [(error, stanza)] = observed.errors
    assert "no registered app" in str(error)
    assert stranger.gcm.app_id in str(error)
    assert stanza is not None
    assert stanza.persistent_id == pid
    await wait_for(lambda: fast_emu.mailboxes.pending(credentials.gcm.android_id) == [])
    await client.stop()
    await client.aclose()


async def test_stats_are_kept_after_stop(fast_emu: Emulator) -> None:
    credentials = register_direct(fast_emu)
    client = await running(fast_emu, credentials)
    observed = Observed(client)
    send(fast_emu, credentials, web_stanza(credentials, data={"n": "1"}))
    await wait_for(lambda: observed.handled == ["1"])
    await client.stop()
    stats = client.stats
    assert (stats.received, stats.dispatched, stats.logins) == (1, 1, 1)
    await client.aclose()


async def test_a_login_timeout_says_what_timed_out_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = make_local_ca(tmp_path)
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # never answers the login
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0, ssl=ca.server_context())
    port = server.sockets[0].getsockname()[1]
    endpoints = loopback_endpoints().replace(
        mcs_port=port, mcs_fallback_port=None, ssl_context=ca.client_context()
    )
    config = SessionConfig(login_timeout=0.2, reconnect_initial=5.0)
    client = Pullkin(endpoints, session_config=config)
    await client.add_app("1", web_credentials())
    caplog.set_level(logging.WARNING, logger="pullkin.receiver")
    client._start(None)
    await wait_for(lambda: any("timed out" in r.getMessage() for r in caplog.records))
    [record] = [r for r in caplog.records if "timed out" in r.getMessage()]
    assert "no LoginResponse from 127.0.0.1 within 0.2 s" in record.getMessage()
    assert record.exc_info is None
    await client.stop()
    await client.aclose()
    server.close()
    await server.wait_closed()


# --- item 5: only a dead device is registered again ---------------------------------------


async def test_a_check_in_answered_400_after_a_refused_login_is_retried_not_reregistered(
    fast_emu: Emulator,
) -> None:
    fast_emu.faults.reject_login(times=1)
    fast_emu.faults.http_error("checkin", 400, times=1)
    credentials = register_direct(fast_emu)
    client = Pullkin(fast_emu.endpoints, session_config=FAST, backoff_base=0.01, backoff_cap=0.02)
    observed = Observed(client)
    await client.add_app("1", credentials)
    client._start(None)
    await wait_for(lambda: fast_emu.faults.fired.count("http:checkin") == 1, within=10)
    await wait_for(lambda: client.state is SessionState.CONNECTED, within=10)
    assert client.apps()["1"] == credentials
    assert observed.errors == []
    send(fast_emu, credentials, web_stanza(credentials, data={"n": "still here"}))
    await wait_for(lambda: observed.handled == ["still here"])
    await client.stop()
    await client.aclose()


class _Portal:
    """A TCP relay to the emulator that, while ``captive``, answers TLS itself with a
    certificate nobody trusts (a captive portal, a broken proxy)."""

    def __init__(self, target_port: int, directory: Path) -> None:
        self.target_port = target_port
        self.captive = True
        self.intercepted = 0
        self._untrusted = make_local_ca(directory).server_context()

    async def __aenter__(self) -> _Portal:
        self._relay = await asyncio.start_server(self._relay_one, "127.0.0.1", 0)
        self._portal = await asyncio.start_server(
            self._portal_one, "127.0.0.1", 0, ssl=self._untrusted
        )
        self.port = self._relay.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in (self._relay, self._portal):
            server.close()

    async def _portal_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def _relay_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = self._portal.sockets[0].getsockname()[1] if self.captive else self.target_port
        if self.captive:
            self.intercepted += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def test_an_untrusted_certificate_during_the_re_check_in_is_retried_not_fatal(
    fast_emu: Emulator, tmp_path: Path
) -> None:
    checkin_port = int(fast_emu.endpoints.checkin.split(":")[2].split("/")[0])
    async with _Portal(checkin_port, tmp_path / "portal") as portal:
        path = fast_emu.endpoints.checkin.split("/", 3)[3]
        endpoints = fast_emu.endpoints.replace(checkin=f"https://127.0.0.1:{portal.port}/{path}")
        fast_emu.faults.reject_login(times=1)
        credentials = register_direct(fast_emu)
        client = Pullkin(endpoints, session_config=FAST, backoff_base=0.01, backoff_cap=0.02)
        observed = Observed(client)
        await client.add_app("1", credentials)
        client._start(None)
        await wait_for(lambda: portal.intercepted >= 2, within=10)
        assert client.state is not SessionState.STOPPED
        portal.captive = False  # the portal goes away
        await wait_for(lambda: client.state is SessionState.CONNECTED, within=10)
        assert client.apps()["1"] == credentials  # not registered again
        assert observed.errors == []
        send(fast_emu, credentials, web_stanza(credentials, data={"n": "through"}))
        await wait_for(lambda: observed.handled == ["through"])
        await client.stop()
        await client.aclose()


async def test_the_emulator_answers_a_login_whose_hbping_int_cannot_read(
    fast_emu: Emulator,
) -> None:
    credentials = register_direct(fast_emu)
    gcm = credentials.gcm
    for hbping in ("²", "9" * 4301):
        raw = await RawMcsClient.connect(fast_emu.endpoints)
        await raw.send(ev.LoginRequest(gcm.android_id, gcm.security_token,
                                       settings=(("hbping", hbping),)))  # fmt: skip
        [response] = await raw.read(1)
        assert isinstance(response, ev.LoginResponse)
        assert response.ok
        await raw.close()
