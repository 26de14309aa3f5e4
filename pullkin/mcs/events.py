"""The events of the MCS codec: the only types that cross ``McsConnection``.

Every MCS packet maps to one frozen event; ``McsConnection.send(event)`` encodes it
and ``next_event()`` decodes one.  Stream bookkeeping (``last_stream_id_received``)
is the codec's job, so events carry only what the application decides.  The one
protobuf that crosses is ``DataMessageStanza``, which handlers receive (seed API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import cast

from pullkin.endpoints import CHROME_VERSION
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = [
    "NEED_DATA",
    "Close",
    "ConnectionClosed",
    "DataMessage",
    "Event",
    "HeartbeatAck",
    "HeartbeatPing",
    "InvalidDataMessage",
    "Iq",
    "LoginRequest",
    "LoginResponse",
    "NeedData",
    "SelectiveAck",
    "StreamAck",
    "StreamError",
    "UnhandledFrame",
]


class NeedData(Enum):
    """``next_event()`` needs more bytes before it can return an event."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA

# DataMessage's default app_data: "read it from the stanza" (never seen outside).
_FROM_STANZA = cast("Mapping[str, str]", None)


def app_data_of(stanza: DataMessageStanza) -> dict[str, str]:
    """*stanza*'s app_data, key to value (the last of a repeated key wins)."""
    app_data: dict[str, str] = {}
    for item in stanza.app_data:  # a loop: no comprehension frame (the codec's hot path)
        app_data[item.key] = item.value
    return app_data


@dataclass(frozen=True)
class LoginRequest:
    """Tag 2, the client's first packet (mcs.md §4–§5).

    Built from the device credentials; the codec fills in Chrome's constant fields
    (domain, auth_service, use_rmq2, network_type, the ``new_vc`` setting).
    ``persistent_ids`` are the received ids the server must not redeliver.
    ``heartbeat_interval_ms`` asks the server for a client heartbeat interval
    (setting ``hbping``); ``heartbeat_stat_ms`` fills ``heartbeat_stat`` (some
    receivers send it; Chrome does not).  ``client_id`` is the LoginRequest ``id``.
    """

    android_id: int
    security_token: int = field(repr=False)
    client_id: str = f"chrome-{CHROME_VERSION}"
    persistent_ids: tuple[str, ...] = ()
    heartbeat_interval_ms: int | None = None
    heartbeat_stat_ms: int | None = None
    settings: tuple[tuple[str, str], ...] = ()
    device_id: str | None = None

    @property
    def resolved_device_id(self) -> str:
        """``android-<lowercase hex android_id>`` unless given (Chrome's value)."""
        return self.device_id or f"android-{self.android_id:x}"


@dataclass(frozen=True)
class LoginResponse:
    """Tag 3, the server's answer.  ``error_code`` set and non-zero = login refused."""

    id: str
    jid: str = ""
    error_code: int | None = None
    error_message: str = ""
    server_timestamp_ms: int | None = None
    heartbeat_interval_ms: int | None = None
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error_code


@dataclass(frozen=True)
class HeartbeatPing:
    """Tag 0.  ``status`` is a bitmask (bit 0 = idle)."""

    status: int = 0


@dataclass(frozen=True)
class HeartbeatAck:
    """Tag 1."""

    status: int = 0


@dataclass(frozen=True)
class Close:
    """Tag 4: the peer ends the connection; reconnect with backoff."""


@dataclass(frozen=True)
class DataMessage:
    """Tag 8.  ``stream_index`` is this packet's position in the incoming stream; pass
    it to ``McsConnection.message_done`` once the message is handled.

    ``app_data`` is the stanza's app_data as a mapping (key to value; the last of a
    repeated key wins), read once by the codec so routing and decoding do not walk
    the protobuf again; do not modify it.  Left out, it is read from ``stanza``."""

    stanza: DataMessageStanza
    stream_index: int = 0
    app_data: Mapping[str, str] = field(default=_FROM_STANZA, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.app_data is _FROM_STANZA:
            object.__setattr__(self, "app_data", app_data_of(self.stanza))


@dataclass(frozen=True)
class InvalidDataMessage:
    """Tag 8 that must not reach handlers: a string field is not UTF-8, or the
    persistent id is too long to keep (``problem`` says which).  ``stanza`` is a
    cleaned copy (U+FFFD for bad bytes, an opaque stand-in for the persistent id).
    Acknowledge it like a ``DataMessage`` (``message_done(stream_index)``), or the
    server delivers it again forever."""

    stanza: DataMessageStanza
    stream_index: int
    problem: str


@dataclass(frozen=True)
class StreamAck:
    """IqStanza with extension 13: everything up to our position is acknowledged."""


@dataclass(frozen=True)
class SelectiveAck:
    """IqStanza with extension 12 listing persistent ids (may be empty)."""

    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Iq:
    """Any other IqStanza (type GET=0 SET=1 RESULT=2 IQ_ERROR=3)."""

    type: int
    id: str
    extension_id: int | None = None
    extension_data: bytes = b""
    persistent_id: str = ""


@dataclass(frozen=True)
class StreamError:
    """Tag 10: the server reports a stream error (Chrome only logs it)."""

    type: str
    text: str = ""


@dataclass(frozen=True)
class UnhandledFrame:
    """A frame of a known tag without a message type (5, 6, 9, 11–15): ignore it."""

    tag: int
    body: bytes


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed the byte stream cleanly between frames (``receive_data(b"")``)."""


Event = (
    LoginRequest
    | LoginResponse
    | HeartbeatPing
    | HeartbeatAck
    | Close
    | DataMessage
    | InvalidDataMessage
    | StreamAck
    | SelectiveAck
    | Iq
    | StreamError
    | UnhandledFrame
    | ConnectionClosed
)
