"""The sans-IO MCS codec: mcs.md §11 vectors (whole, byte by byte, with trailing bytes),
a client⇄server pair, stream/ack bookkeeping, errors and fuzzing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pullkin.errors import LocalProtocolError, RemoteProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs._buffer import encode_varint32
from pullkin.mcs.codec import STREAM_ACK_EVERY, McsConnection, Role, State
from pullkin.proto.mcs_pb2 import DataMessageStanza

ANDROID_ID = 5678901234567890123
SECURITY_TOKEN = 1234567890123456789

# mcs.md §11, verbatim.
CLIENT_FIRST_WRITE = bytes.fromhex(
    "290295010a126368726f6d652d36332e302e333233342e30120f6d63732e616e64726f69642e636f6d1a13353637383930313233343536373839303132332213353637383930313233343536373839303132332a13313233343536373839303132333435363738393218616e64726f69642d34656366383239356230663234346362420b0a066e65775f766312013160007001800102880101"
)
SERVER_FIRST_WRITE = bytes.fromhex(
    "2903560a126368726f6d652d36332e302e333233342e30123735363738393031323334353637383930313233406d63732e616e64726f69642e636f6d2f35363738393031323334353637383930313233300140d1c8a9c3b231"
)
HEARTBEAT_PING_3 = bytes.fromhex("00021003")
EMPTY_HEARTBEAT_ACK = bytes.fromhex("0100")
CLOSE = bytes.fromhex("0400")
STREAM_ACK = bytes.fromhex("070a10011a003a04080d1200")
EMPTY_SELECTIVE_ACK = bytes.fromhex("070a10011a003a04080c1200")
SELECTIVE_ACK_ONE = bytes.fromhex(
    "072f10011a003a29080c12250a23303a313433383039383834343334363739362563356461363739666639666437656364"
)
PERSISTENT_ID = "0:1438098844346796%c5da679ff9fd7ecd"
# The mcs.md §11 vector was computed with Chrome 63.
LOGIN = ev.LoginRequest(
    android_id=ANDROID_ID, security_token=SECURITY_TOKEN, client_id="chrome-63.0.3234.0"
)
JID = f"{ANDROID_ID}@mcs.android.com/{ANDROID_ID}"
LOGIN_RESPONSE = ev.LoginResponse(
    id="chrome-63.0.3234.0", jid=JID, server_timestamp_ms=1697190143057
)


# Computed (mcs.md §4, field order ascending): DataMessageStanza{id "m1", from "424242",
# category "org.chromium.linux", app_data [{subtype: "wp:x#1"}], persistent_id
# PERSISTENT_ID, ttl 60, raw_data 010203, immediate_ack true}.
DATA_MESSAGE = bytes.fromhex(
    "086412026d311a063432343234322a126f72672e6368726f6d69756d2e6c696e75783a110a0773756274797065120677703a7823314a23303a31343338303938383434333436373936256335646136373966663966643765636488013caa0103010203c00101"
)
# IqStanza{type SET, id "", persistent_id PERSISTENT_ID}: acknowledged like a message.
IQ_WITH_PERSISTENT_ID = bytes.fromhex(
    "072910011a004223303a313433383039383834343334363739362563356461363739666639666437656364"
)
STREAM_ERROR = bytes.fromhex(
    "0a150a086f7665726c6f61641209747279206c61746572"
)  # overload / try later
TALK_METADATA = bytes.fromhex("0f03616263")  # tag 15, a known tag with no message type
# LoginRequest whose user / auth_token are not decimal numbers.
LOGIN_NOT_DECIMAL = bytes.fromhex(
    "2902210a0178120f6d63732e616e64726f69642e636f6d1a0361626322036162632a0131"
)


def data_message_stanza() -> DataMessageStanza:
    expected = DataMessageStanza(
        id="m1",
        category="org.chromium.linux",
        persistent_id=PERSISTENT_ID,
        ttl=60,
        raw_data=bytes([1, 2, 3]),
        immediate_ack=True,
    )
    setattr(expected, "from", "424242")
    expected.app_data.add(key="subtype", value="wp:x#1")
    return expected


def drain(conn: McsConnection) -> list[ev.Event]:
    events = []
    while True:
        event = conn.next_event()
        if event is ev.NEED_DATA:
            return events
        assert not isinstance(event, ev.NeedData)
        events.append(event)
        if isinstance(event, ev.ConnectionClosed):
            return events


# h11's three ways to feed a case: all at once, one byte at a time, and followed by the
# start of another frame, which must stay in the buffer untouched.
MODES = ["whole", "bytewise", "trailing"]
TRAIL = HEARTBEAT_PING_3[:3]


def feed(conn: McsConnection, data: bytes, mode: str) -> list[ev.Event]:
    """Feed *data* in *mode*, collecting every event."""
    if mode == "bytewise":
        events = []
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            events += drain(conn)
        return events
    conn.receive_data(data + TRAIL if mode == "trailing" else data)
    return drain(conn)


def check_rest(conn: McsConnection, mode: str) -> None:
    """What is left in the buffer: nothing, or exactly the trailing bytes — which then
    complete into the frame they began when the connection is still open."""
    if mode != "trailing":
        assert conn.trailing_data == b""
        return
    assert conn.trailing_data == TRAIL
    if conn.state is State.OPEN:
        conn.receive_data(HEARTBEAT_PING_3[len(TRAIL) :])
        assert drain(conn) == [ev.HeartbeatPing()]
        assert conn.trailing_data == b""


def logged_in_client() -> McsConnection:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    client.receive_data(SERVER_FIRST_WRITE)
    assert isinstance(client.next_event(), ev.LoginResponse)
    return client


def logged_in_server() -> McsConnection:
    server = McsConnection(Role.SERVER)
    server.receive_data(CLIENT_FIRST_WRITE)
    assert isinstance(server.next_event(), ev.LoginRequest)
    server.send(LOGIN_RESPONSE)
    return server


# --- the §11 vectors -----------------------------------------------------------------


def test_varint32_examples() -> None:
    assert encode_varint32(300).hex() == "ac02"
    assert encode_varint32(4096).hex() == "8020"
    assert encode_varint32(127).hex() == "7f"
    for value in (-1, 1 << 32):
        with pytest.raises(ValueError, match="varint32 out of range"):
            encode_varint32(value)


def test_client_first_write_is_the_vector() -> None:
    assert McsConnection(Role.CLIENT).send(LOGIN) == CLIENT_FIRST_WRITE


@pytest.mark.parametrize("mode", MODES)
def test_server_decodes_the_login_vector(mode: str) -> None:
    server = McsConnection(Role.SERVER)
    [login] = feed(server, CLIENT_FIRST_WRITE, mode)
    assert login == dataclasses.replace(LOGIN, device_id="android-4ecf8295b0f244cb")
    assert login.client_id == "chrome-63.0.3234.0"
    assert login.resolved_device_id == "android-4ecf8295b0f244cb"
    assert server.state is State.LOGGING_IN
    assert server.stream_id_in == 1
    assert server.peer_version == 41
    check_rest(server, mode)  # logging in: the trailing frame waits for the answer
    server.send(LOGIN_RESPONSE)
    check_rest(server, mode)


def test_server_first_write_is_the_vector() -> None:
    server = McsConnection(Role.SERVER)
    server.receive_data(CLIENT_FIRST_WRITE)
    server.next_event()
    assert server.send(LOGIN_RESPONSE) == SERVER_FIRST_WRITE
    assert server.state is State.OPEN


@pytest.mark.parametrize("mode", MODES)
def test_client_decodes_the_login_response_vector(mode: str) -> None:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    [response] = feed(client, SERVER_FIRST_WRITE, mode)
    assert response == LOGIN_RESPONSE
    assert response.ok
    assert client.state is State.OPEN
    assert client.peer_version == 41
    assert client.stream_id_in == 1
    check_rest(client, mode)


POST_LOGIN_VECTORS = [
    (HEARTBEAT_PING_3, ev.HeartbeatPing()),
    (EMPTY_HEARTBEAT_ACK, ev.HeartbeatAck()),
    (STREAM_ACK, ev.StreamAck()),
    (EMPTY_SELECTIVE_ACK, ev.SelectiveAck(())),
    (SELECTIVE_ACK_ONE, ev.SelectiveAck((PERSISTENT_ID,))),
    (CLOSE, ev.Close()),
    (STREAM_ERROR, ev.StreamError("overload", "try later")),
    (TALK_METADATA, ev.UnhandledFrame(15, b"abc")),
    (IQ_WITH_PERSISTENT_ID, ev.Iq(type=1, id="", persistent_id=PERSISTENT_ID)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("wire", "expected"), POST_LOGIN_VECTORS)
def test_post_login_vectors_decode_at_the_client(
    mode: str, wire: bytes, expected: ev.Event
) -> None:
    client = logged_in_client()
    assert feed(client, wire, mode) == [expected]
    assert client.stream_id_in == 2
    assert client.state is (State.CLOSED if expected == ev.Close() else State.OPEN)
    check_rest(client, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("wire", "expected"),
    [v for v in POST_LOGIN_VECTORS if v[0] in (HEARTBEAT_PING_3, EMPTY_HEARTBEAT_ACK, STREAM_ACK,
                                                EMPTY_SELECTIVE_ACK, SELECTIVE_ACK_ONE)],
)  # fmt: skip
def test_client_packet_vectors_decode_at_the_server(
    mode: str, wire: bytes, expected: ev.Event
) -> None:
    server = logged_in_server()
    assert feed(server, wire, mode) == [expected]
    assert server.stream_id_in == 2
    check_rest(server, mode)


@pytest.mark.parametrize("mode", MODES)
def test_the_data_message_vector_decodes(mode: str) -> None:
    client = logged_in_client()
    [message] = feed(client, DATA_MESSAGE, mode)
    assert isinstance(message, ev.DataMessage)
    assert message.stanza == data_message_stanza()
    assert message.stream_index == 2
    assert message.app_data == {"subtype": "wp:x#1"}
    assert message == ev.DataMessage(data_message_stanza(), 2)
    assert client.ack_position == 1  # not handled yet: not acknowledged
    client.message_done(message.stream_index)
    assert client.ack_due  # immediate_ack
    check_rest(client, mode)


def test_a_data_message_carries_its_app_data_as_a_mapping() -> None:
    # Read once, by the codec (the last of a repeated key wins, like Chrome's map);
    # an event built by hand reads it from its stanza unless it is given.
    stanza = DataMessageStanza(category="c", persistent_id="0:1")
    setattr(stanza, "from", "424242")  # required, and a Python keyword
    for key, value in [("a", "1"), ("b", "2"), ("a", "3"), ("é", "ü")]:
        stanza.app_data.add(key=key, value=value)
    client, server = logged_in_client(), logged_in_server()
    [message] = pump(server.send(ev.DataMessage(stanza)), client)
    assert isinstance(message, ev.DataMessage)
    assert message.app_data == {"a": "3", "b": "2", "é": "ü"}
    assert ev.DataMessage(stanza).app_data == {"a": "3", "b": "2", "é": "ü"}
    assert ev.DataMessage(DataMessageStanza()).app_data == {}
    assert ev.DataMessage(stanza, 4, {"x": "y"}).app_data == {"x": "y"}
    assert ev.DataMessage(stanza, app_data={}).app_data == {}
    assert "app_data=" not in repr(message)  # the stanza shows it already
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.app_data = {}  # type: ignore[misc]


def test_the_data_message_vector_is_what_the_server_sends() -> None:
    server = logged_in_server()
    body = DATA_MESSAGE[2:] + bytes.fromhex("5801")  # + last_stream_id_received 1
    assert server.send(ev.DataMessage(data_message_stanza())) == bytes((8, len(body))) + body


def test_an_iq_carrying_a_persistent_id_is_acknowledged_and_confirmed() -> None:
    client, server = logged_in_client(), logged_in_server()
    [iq] = pump(IQ_WITH_PERSISTENT_ID, client)
    assert isinstance(iq, ev.Iq)
    assert iq.persistent_id == PERSISTENT_ID
    assert client.has_unacked  # nothing to handle: acknowledgeable at once
    assert pump(client.send(ev.StreamAck()), server) == [ev.StreamAck()]
    assert not client.has_unacked
    assert client.take_confirmed() == []  # until the server's next packet
    pump(server.send(ev.HeartbeatAck()), client)
    assert client.take_confirmed() == [PERSISTENT_ID]


def test_login_response_and_first_frame_in_one_chunk() -> None:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    client.receive_data(SERVER_FIRST_WRITE + EMPTY_SELECTIVE_ACK + HEARTBEAT_PING_3)
    assert drain(client) == [LOGIN_RESPONSE, ev.SelectiveAck(()), ev.HeartbeatPing()]
    assert client.stream_id_in == 3


def test_heartbeat_ping_carries_last_stream_id_as_in_the_vector() -> None:
    client = logged_in_client()
    client.receive_data(EMPTY_SELECTIVE_ACK + EMPTY_HEARTBEAT_ACK)
    drain(client)
    assert client.send(ev.HeartbeatPing()) == HEARTBEAT_PING_3


def test_stream_ack_is_the_vector_plus_last_stream_id() -> None:
    client = logged_in_client()
    client.receive_data(EMPTY_SELECTIVE_ACK + EMPTY_HEARTBEAT_ACK)
    drain(client)
    body = STREAM_ACK[2:] + bytes.fromhex("5003")  # field 10 = 3
    assert client.send(ev.StreamAck()) == bytes((7, len(body))) + body


def test_selective_ack_encodes_like_the_vector() -> None:
    server = logged_in_server()
    wire = server.send(ev.SelectiveAck((PERSISTENT_ID,)))
    body = SELECTIVE_ACK_ONE[2:] + bytes.fromhex("5001")
    assert wire == bytes((7, len(body))) + body


def test_close_and_stream_error_encode_like_the_vectors() -> None:
    assert logged_in_server().send(ev.StreamError("overload", "try later")) == STREAM_ERROR
    assert logged_in_server().send(ev.Close()) == CLOSE


def test_an_iq_with_a_persistent_id_encodes_like_the_vector() -> None:
    server = logged_in_server()
    wire = server.send(ev.Iq(type=1, id="", persistent_id=PERSISTENT_ID))
    body = IQ_WITH_PERSISTENT_ID[2:] + bytes.fromhex("5001")
    assert wire == bytes((7, len(body))) + body


def test_login_request_options() -> None:
    login = ev.LoginRequest(
        android_id=1,
        security_token=2,
        persistent_ids=("a", "b"),
        heartbeat_interval_ms=60_000,
        heartbeat_stat_ms=30_000,
    )
    server = McsConnection(Role.SERVER)
    server.receive_data(McsConnection(Role.CLIENT).send(login))
    assert server.next_event() == dataclasses.replace(login, device_id="android-1")


# --- a client ⇄ server pair ---------------------------------------------------------


def stanza(n: int) -> DataMessageStanza:
    return DataMessageStanza(
        **{"from": "424242"},
        category="org.chromium.linux",
        persistent_id=f"0:{n:016d}%0123456789abcdef",
        raw_data=bytes(100),
    )


def pump(src: bytes, dst: McsConnection) -> list[ev.Event]:
    dst.receive_data(src)
    return drain(dst)


def test_pair_login_thousand_messages_heartbeats_and_close() -> None:
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    [login] = pump(client.send(LOGIN), server)
    assert isinstance(login, ev.LoginRequest)
    [response] = pump(server.send(ev.LoginResponse(id=login.client_id, jid=JID)), client)
    assert isinstance(response, ev.LoginResponse)
    delivered: list[str] = []
    confirmed_by_server: list[str] = []
    for batch in range(100):
        wire = b"".join(server.send(ev.DataMessage(stanza(batch * 10 + i))) for i in range(10))
        for event in pump(wire, client):
            assert isinstance(event, ev.DataMessage)
            delivered.append(event.stanza.persistent_id)
            client.message_done(event.stream_index)
        assert client.ack_due
        [ack] = pump(client.send(ev.StreamAck()), server)
        assert ack == ev.StreamAck()
        assert not client.ack_due
        confirmed_by_server += server.take_confirmed()
        if batch % 25 == 0:
            assert pump(client.send(ev.HeartbeatPing()), server) == [ev.HeartbeatPing()]
            assert pump(server.send(ev.HeartbeatAck()), client) == [ev.HeartbeatAck()]
    assert delivered == [stanza(n).persistent_id for n in range(1000)]
    assert confirmed_by_server == delivered
    # The server's packets acknowledge the client's StreamAcks: the client forgets ids.
    pump(server.send(ev.HeartbeatPing()), client)
    assert client.take_confirmed() == delivered
    assert pump(server.send(ev.Close()), client) == [ev.Close()]
    assert client.state is State.CLOSED
    assert server.state is State.CLOSED
    client.receive_data(b"")
    assert client.next_event() == ev.ConnectionClosed()


def snapshot(conn: McsConnection) -> tuple[State, int, int, int]:
    return conn.state, conn.stream_id_out, conn.stream_id_in, conn.ack_position


def test_pair_both_sides_state_after_every_event() -> None:
    """Each row: who sends what; then (state, stream_id_out, stream_id_in, ack_position)
    of the client and of the server once it is sent, and once it is received, and the
    persistent ids each side learns are confirmed (mcs.md §6.1)."""
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    OPEN, LOGGING_IN, CLOSED = State.OPEN, State.LOGGING_IN, State.CLOSED
    pid = stanza(1).persistent_id
    login = dataclasses.replace(LOGIN, persistent_ids=("old",))
    rows = [
        # sender, event, (client, server) after send, (client, server) after receive,
        # confirmed (client, server) after receive
        (client, login, ((LOGGING_IN, 1, 0, 0), (State.IDLE, 0, 0, 0)),
         ((LOGGING_IN, 1, 0, 0), (LOGGING_IN, 0, 1, 1)), ([], [])),
        (server, LOGIN_RESPONSE, ((LOGGING_IN, 1, 0, 0), (OPEN, 1, 1, 1)),
         ((OPEN, 1, 1, 1), (OPEN, 1, 1, 1)), (["old"], [])),
        (server, ev.DataMessage(stanza(1)), ((OPEN, 1, 1, 1), (OPEN, 2, 1, 1)),
         ((OPEN, 1, 2, 1), (OPEN, 2, 1, 1)), ([], [])),  # in progress: ack stays at 1
        (client, ev.HeartbeatPing(), ((OPEN, 2, 2, 1), (OPEN, 2, 1, 1)),
         ((OPEN, 2, 2, 1), (OPEN, 2, 2, 2)), ([], [])),  # does not acknowledge the message
        (client, ev.StreamAck(), ((OPEN, 3, 2, 2), (OPEN, 2, 2, 2)),  # message done
         ((OPEN, 3, 2, 2), (OPEN, 2, 3, 3)), ([], [pid])),
        (server, ev.HeartbeatAck(), ((OPEN, 3, 2, 2), (OPEN, 3, 3, 3)),
         ((OPEN, 3, 3, 3), (OPEN, 3, 3, 3)), ([pid], [])),
        (server, ev.Close(), ((OPEN, 3, 3, 3), (CLOSED, 4, 3, 3)),
         ((CLOSED, 3, 4, 4), (CLOSED, 4, 3, 3)), ([], [])),
    ]  # fmt: skip
    delivered: list[ev.DataMessage] = []
    for sender, event, after_send, after_receive, confirmed in rows:
        if isinstance(event, ev.StreamAck):
            client.message_done(delivered.pop().stream_index)  # handled at last
        wire = sender.send(event)
        assert (snapshot(client), snapshot(server)) == after_send, event
        receiver = server if sender is client else client
        received = pump(wire, receiver)
        delivered += [e for e in received if isinstance(e, ev.DataMessage)]
        assert [type(e) for e in received] == [type(event)]
        assert (snapshot(client), snapshot(server)) == after_receive, event
        assert (client.take_confirmed(), server.take_confirmed()) == confirmed, event
    client.receive_data(b"")
    assert client.next_event() == ev.ConnectionClosed()
    assert client.state is CLOSED


def test_login_persistent_ids_are_confirmed_by_the_login_response() -> None:
    client = McsConnection(Role.CLIENT)
    client.send(ev.LoginRequest(android_id=1, security_token=2, persistent_ids=("x", "y")))
    client.receive_data(SERVER_FIRST_WRITE)
    client.next_event()
    assert client.take_confirmed() == ["x", "y"]
    assert client.take_confirmed() == []


def test_ack_never_passes_a_message_still_being_handled() -> None:
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    pump(client.send(LOGIN), server)
    pump(server.send(LOGIN_RESPONSE), client)
    wire = b"".join(server.send(ev.DataMessage(stanza(n))) for n in range(3))
    first, second, third = pump(wire, client)
    assert isinstance(first, ev.DataMessage)
    assert isinstance(second, ev.DataMessage)
    assert isinstance(third, ev.DataMessage)
    client.message_done(first.stream_index)
    client.message_done(third.stream_index)
    assert client.ack_position == second.stream_index - 1
    pump(client.send(ev.HeartbeatPing()), server)
    assert server.take_confirmed() == [stanza(0).persistent_id]
    client.message_done(second.stream_index)
    pump(client.send(ev.StreamAck()), server)
    assert server.take_confirmed() == [stanza(1).persistent_id, stanza(2).persistent_id]


def test_a_message_without_persistent_id_is_acknowledged_but_has_nothing_to_confirm() -> None:
    client, server = logged_in_client(), logged_in_server()
    anonymous = DataMessageStanza(category="org.chromium.linux", raw_data=b"x")
    setattr(anonymous, "from", "424242")
    [message] = pump(server.send(ev.DataMessage(anonymous)), client)
    assert isinstance(message, ev.DataMessage)
    assert client.ack_position == 1
    for _ in range(STREAM_ACK_EVERY):  # again, or an unknown index: no effect
        client.message_done(message.stream_index)
        client.message_done(99)
    assert client.ack_position == 2
    assert client.has_unacked
    assert not client.ack_due  # one message, no immediate_ack: the ack may wait
    pump(client.send(ev.StreamAck()), server)
    assert not client.has_unacked
    assert server.take_confirmed() == []
    pump(server.send(ev.HeartbeatAck()), client)
    assert client.take_confirmed() == []


def test_repr_shows_role_state_and_counters() -> None:
    assert repr(logged_in_client()) == "<McsConnection client open out=1 in=1>"


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(range(12)), interleave=st.lists(st.booleans(), min_size=12))
def test_ack_position_is_just_before_the_oldest_unfinished_message(
    order: list[int], interleave: list[bool]
) -> None:
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    pump(client.send(LOGIN), server)
    pump(server.send(LOGIN_RESPONSE), client)
    received = pump(b"".join(server.send(ev.DataMessage(stanza(n))) for n in range(12)), client)
    indices = [event.stream_index for event in received if isinstance(event, ev.DataMessage)]
    unfinished = set(indices)
    for step, position in enumerate(order):
        client.message_done(indices[position])
        client.message_done(indices[position])  # twice is the same as once
        unfinished.discard(indices[position])
        if interleave[step]:  # another packet in between: its position is the same rule
            pump(server.send(ev.HeartbeatPing()), client)
        expected = min(unfinished) - 1 if unfinished else client.stream_id_in
        assert client.ack_position == expected


def test_immediate_ack_makes_an_ack_due_at_once() -> None:
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    pump(client.send(LOGIN), server)
    pump(server.send(LOGIN_RESPONSE), client)
    urgent = stanza(1)
    urgent.immediate_ack = True
    [message] = pump(server.send(ev.DataMessage(urgent)), client)
    assert isinstance(message, ev.DataMessage)
    assert not client.ack_due  # not handled yet
    client.message_done(message.stream_index)
    assert client.ack_due


def test_login_error_closes_the_connection() -> None:
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    pump(client.send(LOGIN), server)
    refusal = ev.LoginResponse(id="x", error_code=401, error_message="bad token")
    [response] = pump(server.send(refusal), client)
    assert isinstance(response, ev.LoginResponse)
    assert not response.ok
    assert response.error_message == "bad token"
    assert client.state is State.CLOSED
    assert server.state is State.CLOSED


# --- errors ---------------------------------------------------------------------------


MALFORMED_AT_THE_CLIENT = [
    (bytes([40]) + SERVER_FIRST_WRITE[1:], "unsupported MCS version 40"),
    (SERVER_FIRST_WRITE + bytes.fromhex("08ffffffffff01"), "within 5 bytes"),
    (SERVER_FIRST_WRITE + bytes.fromhex("08ffffffff7f"), "exceeds 32 bits"),
    (SERVER_FIRST_WRITE + bytes.fromhex("1000"), "unknown MCS tag 16"),
    (SERVER_FIRST_WRITE + bytes.fromhex("0880808001"), "over the"),
    (SERVER_FIRST_WRITE + bytes.fromhex("080100"), "does not parse"),
    (SERVER_FIRST_WRITE + bytes.fromhex("0a00"), "required field"),
    (SERVER_FIRST_WRITE + bytes.fromhex("0802" + "1a00"), "required field"),
    (SERVER_FIRST_WRITE + bytes.fromhex("070b10011a003a05080c1201ff"), "IqStanza .* not parse"),
    (bytes([41]) + HEARTBEAT_PING_3, "first packet must be the login"),
    (bytes([41]) + DATA_MESSAGE, "unexpected DataMessage while logging in"),
    (SERVER_FIRST_WRITE + SERVER_FIRST_WRITE[1:], "second LoginResponse"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("wire", "message"), MALFORMED_AT_THE_CLIENT)
def test_malformed_input_raises_remote_protocol_error(mode: str, wire: bytes, message: str) -> None:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    with pytest.raises(RemoteProtocolError, match=message):
        feed(client, wire, mode)
    with pytest.raises(RemoteProtocolError, match=message):  # the connection stays dead
        client.next_event()
    assert client.state is State.ERROR


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (bytes([42]) + CLIENT_FIRST_WRITE[1:], "unsupported MCS version 42"),
        (LOGIN_NOT_DECIMAL, "LoginRequest user is not a decimal number"),
        (bytes([41]) + HEARTBEAT_PING_3, "first packet must be the login"),
        (CLIENT_FIRST_WRITE + CLIENT_FIRST_WRITE[1:], "unexpected LoginRequest while logging in"),
    ],
)
def test_malformed_input_at_the_server_raises_remote_protocol_error(
    mode: str, wire: bytes, message: str
) -> None:
    server = McsConnection(Role.SERVER)
    with pytest.raises(RemoteProtocolError, match=message):
        feed(server, wire, mode)
    assert server.state is State.ERROR


def test_a_bytewise_error_is_raised_by_the_byte_that_shows_it() -> None:
    # A size varint whose fifth byte still says "more" fails at that byte.
    client = logged_in_client()
    wire = bytes.fromhex("08ffffffffff01")
    for i in range(5):
        client.receive_data(wire[i : i + 1])
        assert client.next_event() is ev.NEED_DATA
    client.receive_data(wire[5:6])
    with pytest.raises(RemoteProtocolError, match="within 5 bytes"):
        client.next_event()


@pytest.mark.parametrize("mode", MODES)
def test_version_38_is_accepted_like_chrome(mode: str) -> None:
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    assert feed(client, bytes([38]) + SERVER_FIRST_WRITE[1:], mode) == [LOGIN_RESPONSE]
    assert client.peer_version == 38
    check_rest(client, mode)


def test_frame_over_the_limit_fails_before_the_body_arrives() -> None:
    client = McsConnection(Role.CLIENT, max_frame_size=4096)
    client.send(LOGIN)
    client.receive_data(SERVER_FIRST_WRITE + bytes.fromhex("08812000"))  # 4097 bytes
    with pytest.raises(RemoteProtocolError, match="4097 bytes"):
        drain(client)


def test_unhandled_known_tags_are_surfaced_not_fatal() -> None:
    client = logged_in_client()
    client.receive_data(bytes.fromhex("0f03616263") + HEARTBEAT_PING_3)
    assert drain(client) == [ev.UnhandledFrame(15, b"abc"), ev.HeartbeatPing()]


def test_stream_error_and_other_iq_decode() -> None:
    server = McsConnection(Role.SERVER)
    server.receive_data(CLIENT_FIRST_WRITE)
    server.next_event()
    server.send(LOGIN_RESPONSE)
    wire = server.send(ev.StreamError("overload", "try later"))
    wire += server.send(ev.Iq(type=0, id="q1", extension_id=99, extension_data=b"z"))
    client = McsConnection(Role.CLIENT)
    client.send(LOGIN)
    client.receive_data(SERVER_FIRST_WRITE + wire)
    assert drain(client)[1:] == [
        ev.StreamError("overload", "try later"),
        ev.Iq(type=0, id="q1", extension_id=99, extension_data=b"z"),
    ]


def test_receive_data_after_eof_is_a_local_error() -> None:
    client = logged_in_client()
    client.receive_data(b"")
    client.receive_data(b"")  # a second EOF changes nothing
    with pytest.raises(LocalProtocolError, match="receive_data after EOF"):
        client.receive_data(HEARTBEAT_PING_3)
    assert client.next_event() == ev.ConnectionClosed()
    assert client.trailing_data == b""


@pytest.mark.parametrize("mode", MODES)
def test_eof_after_a_whole_frame_ends_the_connection_cleanly(mode: str) -> None:
    client = logged_in_client()
    assert feed(client, EMPTY_HEARTBEAT_ACK, mode) == [ev.HeartbeatAck()]
    client.receive_data(b"")
    if mode == "trailing":  # EOF inside the trailing frame
        with pytest.raises(RemoteProtocolError, match="3 bytes pending"):
            client.next_event()
        assert client.state is State.ERROR
    else:
        assert client.next_event() == ev.ConnectionClosed()
        assert client.state is State.CLOSED


def test_eof_between_frames_and_mid_frame() -> None:
    client = logged_in_client()
    client.receive_data(b"")
    assert client.next_event() == ev.ConnectionClosed()
    assert client.state is State.CLOSED
    broken = logged_in_client()
    broken.receive_data(HEARTBEAT_PING_3[:2])
    broken.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of a frame"):
        broken.next_event()


def test_local_misuse_raises_local_protocol_error() -> None:
    client = McsConnection(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match="cannot send HeartbeatPing while idle"):
        client.send(ev.HeartbeatPing())
    with pytest.raises(LocalProtocolError):
        client.send(LOGIN_RESPONSE)
    client.send(LOGIN)
    with pytest.raises(LocalProtocolError, match="LoginRequest"):
        client.send(LOGIN)
    opened = logged_in_client()
    opened.send(ev.Close())
    with pytest.raises(LocalProtocolError, match="closed"):
        opened.send(ev.HeartbeatPing())
    server = McsConnection(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        server.send(ev.DataMessage(stanza(1)))
    with pytest.raises(LocalProtocolError, match="required"):
        logged_in_client().send(ev.DataMessage(DataMessageStanza(category="x")))


# --- fuzzing ---------------------------------------------------------------------------


def chunks(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in sorted(cut % (len(data) + 1) for cut in cuts):
        yield data[start:cut]
        start = cut
    yield data[start:]


@settings(max_examples=400, deadline=None)
@given(
    garbage=st.binary(max_size=200),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    eof=st.booleans(),
)
def test_fuzzed_bytes_after_login_yield_only_events_or_remote_protocol_error(
    garbage: bytes, cuts: list[int], eof: bool
) -> None:
    client = McsConnection(Role.CLIENT, max_frame_size=4096)
    client.send(LOGIN)
    try:
        for chunk in chunks(SERVER_FIRST_WRITE + garbage, cuts):
            if chunk:
                client.receive_data(chunk)
            for event in drain(client):
                assert isinstance(event, ev.Event)
        if eof:
            client.receive_data(b"")
            drain(client)
    except RemoteProtocolError:
        assert client.state is State.ERROR


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=120))
def test_fuzzed_bytes_at_a_server_yield_only_events_or_remote_protocol_error(
    garbage: bytes,
) -> None:
    server = McsConnection(Role.SERVER, max_frame_size=4096)
    server.receive_data(bytes([41]) + garbage)
    try:
        for event in drain(server):
            assert isinstance(event, ev.Event)
    except RemoteProtocolError:
        assert server.state is State.ERROR


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(
        st.tuples(st.integers(min_value=0, max_value=15), st.binary(max_size=40)), max_size=8
    )
)
def test_fuzzed_well_framed_packets_of_known_tags(frames: list[tuple[int, bytes]]) -> None:
    client = logged_in_client()
    client.receive_data(b"".join(bytes([tag]) + encode_varint32(len(b)) + b for tag, b in frames))
    try:
        drain(client)
    except RemoteProtocolError:
        assert client.state is State.ERROR
