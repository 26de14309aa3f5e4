"""Hostile MCS input at the codec boundary, both roles (issue 13).

The invariant: whatever bytes arrive, ``next_event`` returns events (whose ``str``
fields are ``str``) or raises ``RemoteProtocolError`` — nothing else.  Checked here by
hypothesis with mutated valid frames and with invalid UTF-8 in every string field of
every message type; ``bench/fuzz_codec.py`` runs the same idea a million times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pullkin.errors import RemoteProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs._buffer import encode_varint32
from pullkin.mcs._strings import MAX_PERSISTENT_ID, opaque_id
from pullkin.mcs.codec import McsConnection, Role, State
from pullkin.proto import mcs_pb2
from pullkin.proto.mcs_pb2 import DataMessageStanza

ANDROID_ID, SECURITY_TOKEN = 5678901234567890123, 1234567890123456789
LOGIN = ev.LoginRequest(android_id=ANDROID_ID, security_token=SECURITY_TOKEN)
PID = "0:1438098844346796%c5da679ff9fd7ecd"
BAD = b"\xff\xfe"  # never valid UTF-8


# --- protobuf by hand (python-protobuf refuses to build these) ------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field; appended to a body, the last one wins for scalars."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def frame(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + encode_varint32(len(body)) + body


def good_stanza(**app_data: str) -> DataMessageStanza:
    stanza = DataMessageStanza(category="org.chromium.linux", persistent_id=PID, id="m1")
    setattr(stanza, "from", "424242")
    for key, value in {"subtype": "wp:x#1", **app_data}.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


# --- connections in a known state ----------------------------------------------------------


def pair() -> tuple[McsConnection, McsConnection]:
    """A logged-in client and server."""
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    server.receive_data(client.send(LOGIN))
    assert isinstance(server.next_event(), ev.LoginRequest)
    client.receive_data(server.send(ev.LoginResponse(id="chrome-63.0.3234.0")))
    assert isinstance(client.next_event(), ev.LoginResponse)
    return client, server


def drain(conn: McsConnection) -> list[ev.Event]:
    events: list[ev.Event] = []
    while (event := conn.next_event()) is not ev.NEED_DATA:
        assert not isinstance(event, ev.NeedData)
        events.append(event)
        if isinstance(event, ev.ConnectionClosed):
            break
    return events


def drain_answering(conn: McsConnection) -> list[ev.Event]:
    events: list[ev.Event] = []
    while (event := conn.next_event()) is not ev.NEED_DATA:
        assert not isinstance(event, ev.NeedData)
        events.append(event)
        if isinstance(event, ev.LoginRequest) and conn.state is State.LOGGING_IN:
            conn.send(ev.LoginResponse(id=event.client_id))
        if isinstance(event, ev.ConnectionClosed):
            break
    return events


# --- the invariant ------------------------------------------------------------------------

_BYTES_FIELDS = {(ev.Iq, "extension_data"), (ev.UnhandledFrame, "body")}


def assert_typed(event: object) -> None:
    """Every ``str`` an event carries is a ``str`` (python-protobuf hands out ``bytes``
    for bad UTF-8; the codec must not pass them on)."""
    assert isinstance(event, ev.Event)
    if isinstance(event, ev.DataMessage | ev.InvalidDataMessage):
        assert_stanza_text(event.stanza)
        if isinstance(event, ev.DataMessage):  # the codec's mapping is the stanza's
            assert event.app_data == {i.key: i.value for i in event.stanza.app_data}
        return
    for item in dataclasses.fields(event):  # type: ignore[arg-type]
        if (type(event), item.name) not in _BYTES_FIELDS:
            assert_no_bytes(getattr(event, item.name), f"{type(event).__name__}.{item.name}")


def assert_no_bytes(value: Any, where: str) -> None:
    assert not isinstance(value, bytes | bytearray), f"{where} is bytes: {value!r}"
    if isinstance(value, tuple):
        for index, item in enumerate(value):
            assert_no_bytes(item, f"{where}[{index}]")


def assert_stanza_text(stanza: DataMessageStanza) -> None:
    for descriptor, value in stanza.ListFields():
        if descriptor.type == FieldDescriptor.TYPE_STRING:
            assert isinstance(value, str), f"DataMessageStanza.{descriptor.name} is {value!r}"
    for item in stanza.app_data:
        assert isinstance(item.key, str), item
        assert isinstance(item.value, str), item


def outcome(conn: McsConnection, chunks: Iterator[bytes], eof: bool) -> list[ev.Event]:
    """Feed *chunks*; only events or RemoteProtocolError may come out.  A server
    answers a login as the emulator does, so the rest of the stream is read open."""
    events: list[ev.Event] = []
    try:
        for chunk in chunks:
            if chunk:
                conn.receive_data(chunk)
            events += drain_answering(conn)
        if eof:
            conn.receive_data(b"")
            events += drain_answering(conn)
    except RemoteProtocolError:
        assert conn.state is State.ERROR
    for event in events:
        assert_typed(event)
    return events


# --- every string field of every message, with invalid UTF-8 -----------------------------

# (name, frame tag, a valid body, the spoiled field as a function of the bad bytes)
Spoil = Callable[[bytes], bytes]
_SERVER_TO_CLIENT: list[tuple[str, int, bytes, Spoil]] = [
    ("LoginResponse.jid", 3, b"", lambda b: field(2, b)),
    ("LoginResponse.error.message", 3, b"", lambda b: field(3, b"\x08\x05" + field(2, b))),
    ("LoginResponse.setting.name", 3, b"", lambda b: field(4, field(1, b) + field(2, b"v"))),
    ("LoginResponse.setting.value", 3, b"", lambda b: field(4, field(1, b"n") + field(2, b))),
    ("StreamError.type", 10, b"", lambda b: field(1, b)),
    ("StreamError.text", 10, field(1, b"t"), lambda b: field(2, b)),
    ("Iq.id", 7, b"\x10\x01", lambda b: field(3, b)),
    ("Iq.persistent_id", 7, b"\x10\x01" + field(3, b""), lambda b: field(8, b)),
    ("Iq.from", 7, b"\x10\x01" + field(3, b""), lambda b: field(4, b)),
    (
        "Iq.error.message",
        7,
        b"\x10\x01" + field(3, b""),
        lambda b: field(6, b"\x08\x01" + field(2, b)),
    ),
    (
        "SelectiveAck.id",
        7,
        b"\x10\x01" + field(3, b""),
        lambda b: field(7, b"\x08\x0c" + field(2, field(1, b) + field(1, PID.encode()))),
    ),
    ("LoginRequest (from a server).id", 2, b"", lambda b: field(1, b)),
]
_DATA_FIELDS = {
    "id": 2, "from": 3, "to": 4, "category": 5, "token": 6, "persistent_id": 9, "reg_id": 13,
}  # fmt: skip


def login_response_body(extra: bytes) -> bytes:
    return field(1, b"chrome-63.0.3234.0") + extra


def check_spoiled_server_frame(name: str, tag: int, body: bytes, spoiled: bytes) -> None:
    if tag == 3:  # the login answer itself: fed to a client that is logging in
        client = McsConnection(Role.CLIENT)
        client.send(LOGIN)
        wire = bytes([41]) + frame(3, login_response_body(body + spoiled))
    else:
        client, _ = pair()
        wire = frame(tag, body + spoiled)
    events = outcome(client, iter([wire]), eof=False)
    if tag == 2:
        assert client.state is State.ERROR  # a second login packet is a protocol error
    else:
        assert events, name


@pytest.mark.parametrize(
    ("name", "tag", "body", "spoil"), _SERVER_TO_CLIENT, ids=[c[0] for c in _SERVER_TO_CLIENT]
)
def test_invalid_utf8_in_a_server_frame_never_reaches_an_event_as_bytes(
    name: str, tag: int, body: bytes, spoil: Spoil
) -> None:
    check_spoiled_server_frame(name, tag, body, spoil(BAD))


def test_login_response_text_fields_are_cleaned_not_refused() -> None:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    client.receive_data(bytes([41]) + frame(3, login_response_body(field(2, b"jid\xff"))))
    [response] = drain(client)
    assert isinstance(response, ev.LoginResponse)
    assert response.jid == "jid\ufffd"
    assert client.state is State.OPEN


def test_selective_ack_and_iq_ids_that_are_not_utf8_get_a_stable_stand_in() -> None:
    client, _ = pair()
    selective = field(7, b"\x08\x0c" + field(2, field(1, BAD) + field(1, PID.encode())))
    client.receive_data(frame(7, b"\x10\x01" + field(3, b"") + selective))
    client.receive_data(frame(7, b"\x10\x01" + field(3, b"") + field(8, BAD)))
    ack, iq = drain(client)
    assert ack == ev.SelectiveAck((opaque_id(BAD), PID))
    assert isinstance(iq, ev.Iq)
    assert iq.persistent_id == opaque_id(BAD) == "invalid-id:fffe"


@pytest.mark.parametrize("name", [*_DATA_FIELDS, "app_data.key", "app_data.value"])
def test_a_data_message_with_a_field_that_is_not_utf8_is_surfaced_and_acknowledgeable(
    name: str,
) -> None:
    client, server = pair()
    body = good_stanza().SerializeToString()
    if name in _DATA_FIELDS:
        body += field(_DATA_FIELDS[name], BAD)
    elif name == "app_data.key":
        body += field(7, field(1, BAD) + field(2, b"v"))
    else:
        body += field(7, field(1, b"k") + field(2, BAD))
    client.receive_data(frame(8, body) + server.send(ev.DataMessage(good_stanza())))
    bad, good = drain(client)
    assert isinstance(bad, ev.InvalidDataMessage)
    assert isinstance(good, ev.DataMessage)
    assert name.split(".")[0] in bad.problem
    assert "not valid UTF-8" in bad.problem
    assert_stanza_text(bad.stanza)
    expected_id = opaque_id(BAD) if name == "persistent_id" else PID
    assert bad.stanza.persistent_id == expected_id
    # Acknowledged like any message: by stream position, and its id is confirmed.
    client.message_done(bad.stream_index)
    client.message_done(good.stream_index)
    server.receive_data(client.send(ev.StreamAck()))
    drain(server)
    client.receive_data(server.send(ev.HeartbeatAck()))
    drain(client)
    assert client.take_confirmed() == [expected_id, PID]


def test_an_overlong_persistent_id_is_not_kept() -> None:
    client, server = pair()
    stanza = good_stanza()
    stanza.persistent_id = "0:" + "9" * MAX_PERSISTENT_ID
    client.receive_data(server.send(ev.DataMessage(stanza)))
    [event] = drain(client)
    assert isinstance(event, ev.InvalidDataMessage)
    assert "persistent_id" in event.problem
    assert event.stanza.persistent_id.startswith("invalid-id:sha256-")
    assert len(event.stanza.persistent_id) < 100


def test_an_upstream_data_message_that_is_not_utf8_reaches_a_server_as_invalid() -> None:
    _, server = pair()
    server.receive_data(frame(8, good_stanza().SerializeToString() + field(5, BAD)))
    [event] = drain(server)
    assert isinstance(event, ev.InvalidDataMessage)
    assert event.stanza.category == "\ufffd\ufffd"


# --- LoginRequest numbers (server role, and a client a server sends one to) --------------


@pytest.mark.parametrize("hbping", ["²", "1" * 4301, "١٢", "1_0", " 7", "-5"])
def test_a_strange_hbping_is_ignored_not_a_crash(hbping: str) -> None:
    server = McsConnection(Role.SERVER)
    server.receive_data(McsConnection(Role.CLIENT).send(
        dataclasses.replace(LOGIN, settings=(("hbping", hbping),))
    ))  # fmt: skip
    [login] = drain(server)
    assert isinstance(login, ev.LoginRequest)
    assert login.heartbeat_interval_ms is None


def test_a_plain_hbping_is_read() -> None:
    server = McsConnection(Role.SERVER)
    server.receive_data(McsConnection(Role.CLIENT).send(
        dataclasses.replace(LOGIN, heartbeat_interval_ms=120_000)
    ))  # fmt: skip
    [login] = drain(server)
    assert isinstance(login, ev.LoginRequest)
    assert login.heartbeat_interval_ms == 120_000


@pytest.mark.parametrize("user", ["١٢", "1_0", " 7", "9" * 4301, "12x"])
def test_a_login_request_user_must_be_plain_decimal(user: str) -> None:
    request = mcs_pb2.LoginRequest(
        id="c", domain="mcs.android.com", user=user, resource=user, auth_token="1"
    )
    server = McsConnection(Role.SERVER)
    server.receive_data(bytes([41]) + frame(2, request.SerializeToString()))
    with pytest.raises(RemoteProtocolError, match="user is not a decimal"):
        server.next_event()


def test_a_login_request_sent_to_a_logged_in_client_is_a_protocol_error() -> None:
    client, _ = pair()
    body = McsConnection(Role.CLIENT).send(dataclasses.replace(LOGIN, settings=(("hbping", "²"),)))[
        1:
    ]  # without the version byte, as a later frame
    client.receive_data(body)
    with pytest.raises(RemoteProtocolError):
        drain(client)


def test_login_request_strings_that_are_not_utf8_are_cleaned() -> None:
    request = mcs_pb2.LoginRequest(
        id="", domain="mcs.android.com", user="12", resource="12", auth_token="34"
    ).SerializeToString()
    request += field(1, BAD) + field(6, BAD) + field(10, BAD) + field(10, PID.encode())
    request += field(8, field(1, BAD) + field(2, BAD))
    server = McsConnection(Role.SERVER)
    server.receive_data(bytes([41]) + frame(2, request))
    [login] = drain(server)
    assert_typed(login)
    assert isinstance(login, ev.LoginRequest)
    assert login.persistent_ids == (opaque_id(BAD), PID)


# --- hypothesis: invalid UTF-8 anywhere, mutated valid frames ------------------------------

invalid_utf8 = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.binary(max_size=6),
    st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]),
    st.binary(max_size=6),
).filter(lambda data: not _utf8(data))


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    spoil=st.sampled_from(
        [*(("data", n) for n in _DATA_FIELDS.values()), ("data", "key"), ("data", "value")]
        + [("frame", i) for i in range(len(_SERVER_TO_CLIENT))]
    ),
    value=invalid_utf8,
)
def test_invalid_utf8_in_any_string_field_client_role(spoil: tuple[str, Any], value: bytes) -> None:
    kind, which = spoil
    if kind == "data":
        body = good_stanza().SerializeToString()
        if which == "key":
            body += field(7, field(1, value) + field(2, b"v"))
        elif which == "value":
            body += field(7, field(1, b"k") + field(2, value))
        else:
            body += field(which, value)
        client, _ = pair()
        [event] = outcome(client, iter([frame(8, body)]), eof=False)
        assert isinstance(event, ev.InvalidDataMessage)
        return
    name, tag, body, spoil = _SERVER_TO_CLIENT[which]
    check_spoiled_server_frame(name, tag, body, spoil(value))


_LOGIN_STRINGS = [1, 2, 6, 10]  # id, domain, device_id, received_persistent_id


@settings(max_examples=200, deadline=None)
@given(number=st.sampled_from([*_LOGIN_STRINGS, "setting"]), value=invalid_utf8)
def test_invalid_utf8_in_any_string_field_server_role(number: int | str, value: bytes) -> None:
    body = mcs_pb2.LoginRequest(
        id="c", domain="mcs.android.com", user="12", resource="12", auth_token="34"
    ).SerializeToString()
    body += field(8, field(1, value) + field(2, value)) if number == "setting" else field(
        int(number), value
    )  # fmt: skip
    server = McsConnection(Role.SERVER)
    events = outcome(server, iter([bytes([41]) + frame(2, body)]), eof=False)
    assert len(events) == 1
    # and upstream on an open connection: a DataMessage field
    _, open_server = pair()
    spoiled = good_stanza().SerializeToString() + field(5, value)
    [event] = outcome(open_server, iter([frame(8, spoiled)]), eof=False)
    assert isinstance(event, ev.InvalidDataMessage)


def _server_wire() -> tuple[bytes, bytes]:
    """(login answer, a stream of every kind of valid server frame) for a client."""
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    server.receive_data(client.send(LOGIN))
    server.next_event()
    login = server.send(ev.LoginResponse(id="chrome-63.0.3234.0", jid="1@mcs.android.com/1"))
    stanza = good_stanza(**{"crypto-key": "dh=BAAA", "encryption": "salt=AAAA"})
    stanza.raw_data = bytes(range(40))
    events: list[ev.Event] = [
        ev.SelectiveAck(()), ev.DataMessage(stanza), ev.HeartbeatPing(), ev.HeartbeatAck(),
        ev.StreamAck(), ev.SelectiveAck((PID,)), ev.Iq(type=2, id="x", persistent_id=PID),
        ev.DataMessage(good_stanza(k="é ✓")), ev.StreamError("t", "x"), ev.Close(),
    ]  # fmt: skip
    return login, b"".join(server.send(event) for event in events)


def _client_wire() -> bytes:
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    out = client.send(dataclasses.replace(LOGIN, persistent_ids=(PID,), heartbeat_stat_ms=5000))
    server.receive_data(out)
    server.next_event()
    client.receive_data(server.send(ev.LoginResponse(id="c")))
    client.next_event()
    events: list[ev.Event] = [
        ev.HeartbeatPing(), ev.DataMessage(good_stanza()), ev.StreamAck(),
        ev.SelectiveAck((PID,)), ev.HeartbeatAck(), ev.Close(),
    ]  # fmt: skip
    return out + b"".join(client.send(event) for event in events)


SERVER_LOGIN, SERVER_STREAM = _server_wire()
CLIENT_STREAM = _client_wire()

mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "invalid", "truncate"]),
        st.integers(min_value=0, max_value=1 << 16),
        st.binary(min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, edits: list[tuple[str, int, bytes]], keep: int = 0) -> bytes:
    """Apply *edits* to *data*, leaving its first *keep* bytes alone."""
    out = bytearray(data)
    for op, position, payload in edits:
        span = len(out) - keep
        if span <= 0:
            break
        at = keep + position % span
        if op == "flip":
            out[at] ^= payload[0] or 1
        elif op == "insert":
            out[at:at] = payload
        elif op == "delete":
            del out[at : at + len(payload)]
        elif op == "invalid":
            out[at : at + 1] = b"\xff"
        else:
            del out[at:]
    return bytes(out)


def splits(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        yield data[start:cut]
        start = cut
    yield data[start:]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=mutations,
    cuts=st.lists(st.integers(min_value=0), max_size=4),
    eof=st.booleans(),
    keep_login=st.booleans(),
)
def test_mutated_server_frames_yield_only_typed_events_or_remote_protocol_error(
    edits: list[tuple[str, int, bytes]], cuts: list[int], eof: bool, keep_login: bool
) -> None:
    client = McsConnection(Role.CLIENT, max_frame_size=4096)
    client.send(LOGIN)
    wire = SERVER_LOGIN + SERVER_STREAM
    data = mutate(wire, edits, keep=len(SERVER_LOGIN) if keep_login else 0)
    outcome(client, splits(data, cuts), eof)
    _ack_everything(client)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutations, cuts=st.lists(st.integers(min_value=0), max_size=4), eof=st.booleans())
def test_mutated_client_frames_yield_only_typed_events_or_remote_protocol_error(
    edits: list[tuple[str, int, bytes]], cuts: list[int], eof: bool
) -> None:
    server = McsConnection(Role.SERVER, max_frame_size=4096)
    outcome(server, splits(mutate(CLIENT_STREAM, edits), cuts), eof)


def _ack_everything(conn: McsConnection) -> None:
    """Whatever came in, the ids handed out for acknowledgement are strings."""
    for index in list(conn._in_progress):
        conn.message_done(index)
    conn._confirm_through(conn.stream_id_out + 1)
    for _, persistent_id in conn._unacked:
        assert isinstance(persistent_id, str)


def test_the_fuzz_corpus_is_valid_before_mutation() -> None:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    events = outcome(client, iter([SERVER_LOGIN + SERVER_STREAM]), eof=False)
    kinds: set[Callable[..., object]] = {type(e) for e in events}
    assert ev.DataMessage in kinds
    assert ev.Close in kinds
    assert ev.Iq in kinds
    server = McsConnection(Role.SERVER)
    events = outcome(server, iter([CLIENT_STREAM]), eof=False)
    assert [type(e) for e in events][-1] is ev.Close
