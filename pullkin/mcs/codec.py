"""Sans-IO MCS codec: ``McsConnection(role)`` turns bytes into events and back.

Theory of operation (mcs.md §2, §6).  The wire is ``version byte`` (first packet of
each side only) then ``tag | varint32 size | protobuf`` frames.  ``receive_data``
appends bytes (``b""`` = EOF); ``next_event`` returns one event or ``NEED_DATA``;
``send(event)`` returns the bytes to write.  No I/O, no clocks, no logging: timers
and sockets belong to the receiver and the emulator.

Stream bookkeeping follows Chrome's counters: ``stream_id_out`` is 1 for the login
packet and grows before every later packet; ``stream_id_in`` becomes 1 with the peer's
login packet and grows with every packet received.  Each outgoing heartbeat, IQ and
data packet carries ``last_stream_id_received``.  One deliberate change: that value
never passes a received ``DataMessage`` the application has not finished
(``message_done``), so the server keeps — and after a crash redelivers — a message
whose handlers did not complete.  Persistent ids acknowledged by a packet are
"confirmed" once the peer's ``last_stream_id_received`` reaches that packet;
``take_confirmed()`` hands them out (the receiver forgets them, the emulator drops
them from the mailbox).
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Any, Final

from google.protobuf.message import DecodeError, EncodeError

from pullkin.errors import LocalProtocolError, RemoteProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs._buffer import ReceiveBuffer, encode_varint32
from pullkin.mcs._login import (
    decode_login_request,
    decode_login_response,
    login_request,
    login_response,
)
from pullkin.mcs._strings import data_message_problem, opaque_id, opaque_ids, sanitized, text
from pullkin.proto import mcs_pb2

__all__ = ["MCS_VERSION", "McsConnection", "Role", "State"]

MCS_VERSION: Final = 41
_ACCEPTED_SERVER_VERSIONS = (38,)  # Chrome also accepts any version >= 41
DEFAULT_MAX_FRAME_SIZE: Final = 1 << 20
STREAM_ACK_EVERY: Final = 10

_EXT_SELECTIVE_ACK, _EXT_STREAM_ACK = 12, 13
_LAST_STREAM_ID_KEY = {0: 0x10, 1: 0x10, 7: 0x50, 8: 0x58}  # field 2 / 10 / 11 as varint

TAG_NAMES: Final = {
    0: "HeartbeatPing", 1: "HeartbeatAck", 2: "LoginRequest", 3: "LoginResponse",
    4: "Close", 5: "MessageStanza", 6: "PresenceStanza", 7: "IqStanza",
    8: "DataMessageStanza", 9: "BatchPresenceStanza", 10: "StreamErrorStanza",
    11: "HttpRequest", 12: "HttpResponse", 13: "BindAccountRequest",
    14: "BindAccountResponse", 15: "TalkMetadata",
}  # fmt: skip


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    IDLE = "idle"  # nothing exchanged yet
    LOGGING_IN = "logging in"  # client: LoginRequest sent; server: LoginRequest received
    OPEN = "open"
    CLOSED = "closed"
    ERROR = "error"


# (role, state, direction, event type) -> next state; OPEN traffic is checked apart.
_LOGIN_TRANSITIONS: Final[dict[tuple[Role, State, str, type], State]] = {
    (Role.CLIENT, State.IDLE, "send", ev.LoginRequest): State.LOGGING_IN,
    (Role.CLIENT, State.LOGGING_IN, "recv", ev.LoginResponse): State.OPEN,
    (Role.SERVER, State.IDLE, "recv", ev.LoginRequest): State.LOGGING_IN,
    (Role.SERVER, State.LOGGING_IN, "send", ev.LoginResponse): State.OPEN,
}
_OPEN_SEND: Final = (
    ev.HeartbeatPing, ev.HeartbeatAck, ev.DataMessage, ev.StreamAck, ev.SelectiveAck,
    ev.Iq, ev.Close, ev.StreamError,
)  # fmt: skip


class McsConnection:
    """One MCS connection's protocol state, for either end.  See the module docstring."""

    def __init__(self, role: Role, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.role = role
        self.state = State.IDLE
        self.max_frame_size = max_frame_size
        self.stream_id_out = 0
        self.stream_id_in = 0
        self.peer_version: int | None = None
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._error: RemoteProtocolError | None = None
        # incoming packets with a persistent id, not yet acknowledged: index -> id
        # (stream index, persistent id) of received packets not yet acknowledged, in
        # arrival (= ascending index) order: an acknowledgement takes them from the front.
        self._unacked: deque[tuple[int, str]] = deque()
        self._in_progress: set[int] = set()
        # The same indices in arrival (= ascending) order, so the oldest is found without
        # a scan; done ones leave from the front, lazily.
        self._in_order: deque[int] = deque()
        self._immediate: set[int] = set()
        self._done_unacked = 0
        self._immediate_ack_due = False
        self._last_sent_ack = 0
        # ids whose fate is settled once the peer confirms our packet N: (N, ids)
        self._awaiting_confirmation: deque[tuple[int, list[str]]] = deque()
        self._confirmed: list[str] = []

    def __repr__(self) -> str:
        return (
            f"<McsConnection {self.role.value} {self.state.value} "
            f"out={self.stream_id_out} in={self.stream_id_in}>"
        )

    # --- receiving ----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it."""
        if data:
            if self._eof:
                raise LocalProtocolError("receive_data after EOF")
            self._buffer.feed(data)
        else:
            self._eof = True

    @property
    def trailing_data(self) -> bytes:
        """Bytes received but not yet part of an event: a partial frame, or whatever
        followed the packet that closed the connection (h11's ``trailing_data``)."""
        return self._buffer.peek()

    def next_event(self) -> ev.Event | ev.NeedData:
        """The next event, ``NEED_DATA``, or ``RemoteProtocolError`` (then the
        connection is dead and every later call raises it again)."""
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            self.state = State.ERROR
            raise

    def _next_event(self) -> ev.Event | ev.NeedData:
        if self.peer_version is None and not self._read_version():
            return self._at_end()
        frame = self._buffer.read_frame(self.max_frame_size)
        if frame is None:
            return self._at_end()
        tag, body = frame
        return self._handle_frame(tag, body)

    def _at_end(self) -> ev.Event | ev.NeedData:
        if not self._eof:
            return ev.NEED_DATA
        if len(self._buffer):
            raise RemoteProtocolError(
                f"connection closed in the middle of a frame ({len(self._buffer)} bytes pending)"
            )
        self.state = State.CLOSED
        return ev.ConnectionClosed()

    def _read_version(self) -> bool:
        version = self._buffer.read_byte()
        if version is None:
            return False
        if self.role is Role.SERVER:
            acceptable = version == MCS_VERSION
        else:
            acceptable = version >= MCS_VERSION or version in _ACCEPTED_SERVER_VERSIONS
        if not acceptable:
            raise RemoteProtocolError(f"unsupported MCS version {version} (expected 41)")
        self.peer_version = version
        return True

    def _handle_frame(self, tag: int, body: bytes) -> ev.Event:
        if tag == 8 and self.state is State.OPEN:
            return self._receive_data_message(body)
        if tag not in TAG_NAMES:
            raise RemoteProtocolError(f"unknown MCS tag {tag}")
        try:
            event, message = self._decode(tag, body)
        except (DecodeError, UnicodeDecodeError) as exc:
            raise RemoteProtocolError(
                f"{TAG_NAMES[tag]} frame of {len(body)} bytes does not parse: {exc}"
            ) from None
        if message is not None and not message.IsInitialized():
            # proto2 required fields: Chrome's parser rejects such a frame too.
            raise RemoteProtocolError(
                f"{TAG_NAMES[tag]} frame does not parse: {_missing_fields(message)}"
            )
        self._check_receive_order(event)
        self._account_incoming(event, message)
        return event

    def _receive_data_message(self, body: bytes) -> ev.DataMessage | ev.InvalidDataMessage:
        """The hot path: ``_handle_frame`` + ``_account_incoming`` for tag 8, inlined.

        A stanza that must not be delivered (``_strings.data_message_problem``) is
        accounted like any other, under its cleaned copy, so it is acknowledged too."""
        try:
            stanza = _parse_data_message(body)
        except (DecodeError, UnicodeDecodeError) as exc:
            raise RemoteProtocolError(f"DataMessageStanza does not parse: {exc}") from None
        if not stanza.IsInitialized():
            raise RemoteProtocolError(
                f"DataMessageStanza frame does not parse: {_missing_fields(stanza)}"
            )
        persistent_id = stanza.persistent_id
        problem = data_message_problem(stanza, body, persistent_id)
        if problem is not None:
            stanza = sanitized(stanza)
            persistent_id = stanza.persistent_id
        index = self.stream_id_in = self.stream_id_in + 1
        last = stanza.last_stream_id_received
        if last and self._awaiting_confirmation:
            self._confirm_through(last)
        if persistent_id:
            self._unacked.append((index, persistent_id))
        self._in_progress.add(index)
        self._in_order.append(index)
        if stanza.immediate_ack:
            self._immediate.add(index)
        if problem is not None:
            return ev.InvalidDataMessage(stanza, index, problem)
        # app_data read once, for routing and decoding alike (each protobuf access
        # makes new Python objects); all str: data_message_problem found no bytes.
        app_data = ev.app_data_of(stanza)
        # ev.DataMessage(stanza, index, app_data) without the frozen dataclass's
        # __init__ (one object.__setattr__ per field): every field is valid here.
        event = _NEW(_DataMessage)
        event.__dict__.update(stanza=stanza, stream_index=index, app_data=app_data)
        return event

    def _check_receive_order(self, event: ev.Event) -> None:
        key = (self.role, self.state, "recv", type(event))
        if key in _LOGIN_TRANSITIONS:
            self.state = _LOGIN_TRANSITIONS[key]
            if isinstance(event, ev.LoginResponse) and not event.ok:
                self.state = State.CLOSED
            return
        if self.state is not State.OPEN:
            raise RemoteProtocolError(
                f"unexpected {type(event).__name__} while {self.state.value}: the first "
                "packet must be the login"
            )
        if isinstance(event, ev.LoginRequest | ev.LoginResponse):
            raise RemoteProtocolError(f"second {type(event).__name__} on an open connection")
        if isinstance(event, ev.Close):
            self.state = State.CLOSED

    def _decode(self, tag: int, body: bytes) -> tuple[ev.Event, Any]:
        """(event, protobuf message or None) for one frame."""
        if tag == 8:
            stanza = mcs_pb2.DataMessageStanza.FromString(body)
            return ev.DataMessage(stanza, self.stream_id_in + 1), stanza
        if tag == 7:
            return _decode_iq(mcs_pb2.IqStanza.FromString(body))
        if tag in (0, 1):
            cls = mcs_pb2.HeartbeatPing if tag == 0 else mcs_pb2.HeartbeatAck
            ping = cls.FromString(body)
            return (ev.HeartbeatPing if tag == 0 else ev.HeartbeatAck)(ping.status), ping
        if tag == 2:
            return decode_login_request(mcs_pb2.LoginRequest.FromString(body))
        if tag == 3:
            return decode_login_response(mcs_pb2.LoginResponse.FromString(body))
        if tag == 4:
            return ev.Close(), mcs_pb2.Close.FromString(body)
        if tag == 10:
            error = mcs_pb2.StreamErrorStanza.FromString(body)
            return ev.StreamError(text(error.type), text(error.text)), error
        return ev.UnhandledFrame(tag, body), None

    def _account_incoming(self, event: ev.Event, message: Any) -> None:
        """Chrome's receive rules (mcs.md §6.1): confirm, count, remember the id."""
        if isinstance(event, ev.LoginRequest | ev.LoginResponse):
            self.stream_id_in = 1
        else:
            self.stream_id_in += 1
        last = getattr(message, "last_stream_id_received", 0) if message is not None else 0
        if last:
            self._confirm_through(last)
        persistent_id = getattr(message, "persistent_id", "") if message is not None else ""
        if persistent_id:  # an IqStanza's (DataMessages take _receive_data_message)
            self._unacked.append((self.stream_id_in, opaque_id(persistent_id)))

    def _confirm_through(self, last: int) -> None:
        queue = self._awaiting_confirmation
        while queue and queue[0][0] <= last:
            self._confirmed.extend(queue.popleft()[1])

    # --- acknowledgement bookkeeping --------------------------------------------------

    def message_done(self, stream_index: int) -> None:
        """The DataMessage at *stream_index* is handled: it may now be acknowledged."""
        if stream_index in self._in_progress:
            self._in_progress.discard(stream_index)
            self._drop_done()
            self._done_unacked += 1
            if stream_index in self._immediate:
                self._immediate.discard(stream_index)
                self._immediate_ack_due = True

    @property
    def ack_position(self) -> int:
        """The ``last_stream_id_received`` our next packet carries."""
        self._drop_done()
        return self._in_order[0] - 1 if self._in_order else self.stream_id_in

    def _drop_done(self) -> None:
        order, in_progress = self._in_order, self._in_progress
        while order and order[0] not in in_progress:
            order.popleft()

    @property
    def ack_due(self) -> bool:
        """Chrome's rule: a StreamAck is due after 10 unacknowledged messages, or at
        once for ``immediate_ack`` (counting only handled messages here)."""
        if self.ack_position <= self._last_sent_ack:
            return False
        return self._done_unacked >= STREAM_ACK_EVERY or self._immediate_ack_due

    @property
    def has_unacked(self) -> bool:
        """Handled messages whose acknowledgement has not been written yet."""
        return self.ack_position > self._last_sent_ack

    def take_confirmed(self) -> list[str]:
        """Persistent ids the peer has confirmed since the last call."""
        confirmed, self._confirmed = self._confirmed, []
        return confirmed

    def _record_ack(self, out_id: int, position: int) -> None:
        """Our packet *out_id* acknowledges everything received up to *position*."""
        if position <= self._last_sent_ack:
            return
        self._last_sent_ack = position
        self._done_unacked = 0
        self._immediate_ack_due = False
        unacked, acked = self._unacked, []
        while unacked and unacked[0][0] <= position:
            acked.append(unacked.popleft()[1])
        if acked:
            self._awaiting_confirmation.append((out_id, acked))

    # --- sending ------------------------------------------------------------------

    def send(self, event: ev.Event) -> bytes:
        """The bytes that carry *event*; raises ``LocalProtocolError`` if it is not
        allowed now (e.g. anything before the login, or after Close)."""
        kind = type(event)
        if kind is ev.DataMessage and self.state is State.OPEN:  # the hot path
            return self._encode_data(event)  # type: ignore[arg-type]
        key = (self.role, self.state, "send", kind)
        if key in _LOGIN_TRANSITIONS:
            next_state = _LOGIN_TRANSITIONS[key]
        elif self.state is State.OPEN and isinstance(event, _OPEN_SEND):
            next_state = State.CLOSED if isinstance(event, ev.Close) else State.OPEN
        else:
            raise LocalProtocolError(f"cannot send {kind.__name__} while {self.state.value}")
        data = self._encode(event)
        self.state = next_state
        if isinstance(event, ev.LoginResponse) and not event.ok:
            self.state = State.CLOSED
        return data

    def _encode_data(self, event: ev.DataMessage) -> bytes:
        self.stream_id_out += 1
        stanza = event.stanza
        try:
            body = stanza.SerializeToString()
        except EncodeError as exc:
            raise LocalProtocolError(f"cannot send DataMessageStanza: {exc}") from None
        if stanza.persistent_id:
            self._awaiting_confirmation.append((self.stream_id_out, [stanza.persistent_id]))
        return self._stream_frame(8, body)

    def _encode(self, event: ev.Event) -> bytes:
        self.stream_id_out = 1 if isinstance(event, ev.LoginRequest | ev.LoginResponse) else (
            self.stream_id_out + 1
        )  # fmt: skip
        if isinstance(event, ev.LoginRequest):
            self._awaiting_confirmation.append((1, list(event.persistent_ids)))
            return bytes((MCS_VERSION,)) + _frame(2, login_request(event).SerializeToString())
        if isinstance(event, ev.LoginResponse):
            body = login_response(event, self.stream_id_in).SerializeToString()
            return bytes((MCS_VERSION,)) + _frame(3, body)
        if isinstance(event, ev.Close):
            return _frame(4, b"")
        if isinstance(event, ev.StreamError):
            return _frame(10, mcs_pb2.StreamErrorStanza(type=event.type, text=event.text)
                          .SerializeToString())  # fmt: skip
        return self._stream_frame(*_encode_stream_packet(event))

    def _stream_frame(self, tag: int, body: bytes) -> bytes:
        position = self.ack_position
        if position:
            # Appended last: a repeated scalar field's last occurrence wins, so this
            # never mutates (or copies) the caller's stanza.
            body += bytes((_LAST_STREAM_ID_KEY[tag],)) + encode_varint32(position)
            self._record_ack(self.stream_id_out, position)
        return _frame(tag, body)


_parse_data_message = mcs_pb2.DataMessageStanza.FromString
_NEW = object.__new__
_DataMessage = ev.DataMessage


def _missing_fields(message: Any) -> str:
    find = getattr(message, "FindInitializationErrors", None)
    missing = ", ".join(find()) if find is not None else "?"
    return f"required field(s) missing: {missing}"


def _frame(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + encode_varint32(len(body)) + body


def _encode_stream_packet(event: ev.Event) -> tuple[int, bytes]:
    if isinstance(event, ev.HeartbeatPing | ev.HeartbeatAck):
        cls = mcs_pb2.HeartbeatPing if isinstance(event, ev.HeartbeatPing) else mcs_pb2.HeartbeatAck
        message = cls(status=event.status) if event.status else cls()
        return (0 if isinstance(event, ev.HeartbeatPing) else 1), message.SerializeToString()
    iq = mcs_pb2.IqStanza(type=mcs_pb2.IqStanza.SET, id="")
    if isinstance(event, ev.StreamAck):
        iq.extension.id, iq.extension.data = _EXT_STREAM_ACK, b""
    elif isinstance(event, ev.SelectiveAck):
        iq.extension.id = _EXT_SELECTIVE_ACK
        iq.extension.data = mcs_pb2.SelectiveAck(id=event.ids).SerializeToString()
    else:
        assert isinstance(event, ev.Iq)
        iq.type, iq.id = event.type, event.id  # type: ignore[assignment]
        if event.extension_id is not None:
            iq.extension.id, iq.extension.data = event.extension_id, event.extension_data
        if event.persistent_id:
            iq.persistent_id = event.persistent_id
    return 7, iq.SerializeToString()


def _decode_iq(iq: mcs_pb2.IqStanza) -> tuple[ev.Event, Any]:
    extension = iq.extension if iq.HasField("extension") else None
    if extension is not None and extension.id == _EXT_STREAM_ACK:
        return ev.StreamAck(), iq
    if extension is not None and extension.id == _EXT_SELECTIVE_ACK:
        ids = opaque_ids(mcs_pb2.SelectiveAck.FromString(extension.data).id)
        return ev.SelectiveAck(ids), iq
    event = ev.Iq(
        type=iq.type,
        id=text(iq.id),
        extension_id=extension.id if extension is not None else None,
        extension_data=extension.data if extension is not None else b"",
        persistent_id=opaque_id(iq.persistent_id) if iq.persistent_id else "",
    )
    return event, iq
