"""Fuzz the MCS codec: mutated valid frames, invalid UTF-8 in string fields, noise.

Run: ``python bench/fuzz_codec.py [--n 1000000] [--seed 1]``.  Each input is fed to a
fresh ``McsConnection`` in the role and state it was meant for (a logged-in client for
server traffic, a server for client traffic), split at random points, sometimes
followed by EOF.  The only allowed outcomes are events (whose ``str`` fields hold
``str``) or ``RemoteProtocolError``; the JSON counts inputs by outcome, events by type,
and lists the first few violations.  Exit status 1 if there was any violation.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import emit
from google.protobuf.descriptor import FieldDescriptor

from pullkin.errors import RemoteProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs._buffer import encode_varint32
from pullkin.mcs.codec import McsConnection, Role
from pullkin.proto.mcs_pb2 import DataMessageStanza

LOGIN = ev.LoginRequest(android_id=5678901234567890123, security_token=1234567890123456789)
PID = "0:1438098844346796%c5da679ff9fd7ecd"
_INVALID = [b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]
# DataMessageStanza string fields, AppData key (1) / value (2), inside field 7
_DATA_STRINGS = [2, 3, 4, 5, 6, 9, 13]
_BYTES_FIELDS = {(ev.Iq, "extension_data"), (ev.UnhandledFrame, "body")}
# (a codec from before issue 13 has no InvalidDataMessage: the bench still runs on it)
_DATA_EVENTS = (ev.DataMessage, getattr(ev, "InvalidDataMessage", ev.DataMessage))


def _stanza(**app_data: str) -> DataMessageStanza:
    stanza = DataMessageStanza(category="org.chromium.linux", persistent_id=PID, id="m1", ttl=60)
    setattr(stanza, "from", "424242424242")
    for key, value in {"subtype": "wp:fuzz#1", **app_data}.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


def _corpus() -> tuple[bytes, list[bytes], list[bytes]]:
    """(server login answer, server frames, client frames incl. its login)."""
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    client_login = client.send(
        dataclasses.replace(LOGIN, persistent_ids=(PID,), heartbeat_interval_ms=60_000)
    )
    server.receive_data(client_login)
    server.next_event()
    login = server.send(ev.LoginResponse(id="chrome-63.0.3234.0", jid="1@mcs.android.com/1"))
    client.receive_data(login)
    client.next_event()
    web = _stanza(**{"crypto-key": "dh=BAAA", "encryption": "salt=AAAA", "content-encoding": "x"})
    web.raw_data = bytes(range(64))
    server_events: list[ev.Event] = [
        ev.SelectiveAck(()), ev.DataMessage(web), ev.HeartbeatPing(), ev.HeartbeatAck(),
        ev.StreamAck(), ev.SelectiveAck((PID, "0:2")), ev.Iq(type=2, id="x", persistent_id=PID),
        ev.DataMessage(_stanza(k="é ✓", **{"gcm.n.title": "t"})), ev.StreamError("t", "x"),
        ev.Close(),
    ]  # fmt: skip
    client_events: list[ev.Event] = [
        ev.HeartbeatPing(), ev.DataMessage(_stanza()), ev.StreamAck(), ev.SelectiveAck((PID,)),
        ev.HeartbeatAck(), ev.Close(),
    ]  # fmt: skip
    server_frames = [server.send(e) for e in server_events]
    client_frames = [client_login] + [client.send(e) for e in client_events]
    return login, server_frames, client_frames


def _field(number: int, payload: bytes) -> bytes:
    return encode_varint32(number << 3 | 2) + encode_varint32(len(payload)) + payload


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.login, self.server_frames, self.client_frames = _corpus()

    def bad_text(self) -> bytes:
        rng = self.rng
        head = rng.randbytes(rng.randrange(4)) if rng.random() < 0.3 else b"ok"
        return head + rng.choice(_INVALID) + b"x" * rng.randrange(3)

    def mutate(self, data: bytes, keep: int = 0) -> bytes:
        rng, out = self.rng, bytearray(data)
        for _ in range(rng.randint(1, 4)):
            span = len(out) - keep
            if span <= 0:
                break
            at = keep + rng.randrange(span)
            op = rng.random()
            if op < 0.35:
                out[at] ^= 1 << rng.randrange(8)
            elif op < 0.5:
                out[at] = rng.randrange(256)
            elif op < 0.65:
                out[at:at] = rng.randbytes(rng.randint(1, 6))
            elif op < 0.8:
                del out[at : at + rng.randint(1, 6)]
            elif op < 0.92:
                out[at : at + 1] = rng.choice(_INVALID)
            else:
                del out[at:]
        return bytes(out)

    def server_input(self) -> tuple[Role, bytes]:
        rng = self.rng
        frames = rng.sample(self.server_frames, rng.randint(1, 4))
        wire = self.login + b"".join(frames)
        return Role.CLIENT, self.mutate(wire, keep=len(self.login) if rng.random() < 0.8 else 0)

    def client_input(self) -> tuple[Role, bytes]:
        rng = self.rng
        wire = self.client_frames[0] + b"".join(
            rng.sample(self.client_frames[1:], rng.randint(0, 3))
        )
        return Role.SERVER, self.mutate(
            wire, keep=len(self.client_frames[0]) if rng.random() < 0.7 else 0
        )

    def spoiled_data_message(self) -> tuple[Role, bytes]:
        """A valid DataMessageStanza with one string field made invalid UTF-8."""
        rng = self.rng
        body = _stanza(n=str(rng.randrange(1000))).SerializeToString()
        spot = rng.randrange(len(_DATA_STRINGS) + 2)
        if spot < len(_DATA_STRINGS):
            body += _field(_DATA_STRINGS[spot], self.bad_text())
        else:
            pair = (
                (self.bad_text(), b"v") if spot == len(_DATA_STRINGS) else (b"k", self.bad_text())
            )
            body += _field(7, _field(1, pair[0]) + _field(2, pair[1]))
        role = Role.CLIENT if rng.random() < 0.8 else Role.SERVER
        frame = bytes((8,)) + encode_varint32(len(body)) + body
        prefix = self.login if role is Role.CLIENT else self.client_frames[0]
        return role, prefix + frame

    def noise(self) -> tuple[Role, bytes]:
        rng = self.rng
        role = rng.choice([Role.CLIENT, Role.SERVER])
        prefix = self.login if role is Role.CLIENT else bytes([41])
        return role, prefix + rng.randbytes(rng.randrange(64))

    def next_input(self) -> tuple[Role, bytes]:
        pick = self.rng.random()
        if pick < 0.4:
            return self.server_input()
        if pick < 0.65:
            return self.client_input()
        if pick < 0.9:
            return self.spoiled_data_message()
        return self.noise()


def _typed(event: Any) -> str | None:
    """Where *event* carries ``bytes`` in a ``str`` field, or None."""
    if isinstance(event, _DATA_EVENTS):
        for descriptor, value in event.stanza.ListFields():
            if descriptor.type == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
                return f"DataMessageStanza.{descriptor.name}"
        for item in event.stanza.app_data:
            if not (isinstance(item.key, str) and isinstance(item.value, str)):
                return "DataMessageStanza.app_data"
        return None
    for item in dataclasses.fields(event):
        if (type(event), item.name) in _BYTES_FIELDS:
            continue
        value = getattr(event, item.name)
        values = value if isinstance(value, tuple) else (value,)
        for one in values:
            inner = one if isinstance(one, tuple) else (one,)
            if any(isinstance(v, bytes | bytearray) for v in inner):
                return f"{type(event).__name__}.{item.name}"
    return None


def run_one(role: Role, data: bytes, rng: random.Random, events: Counter[str]) -> str:
    conn = McsConnection(role, max_frame_size=4096)
    if role is Role.CLIENT:
        conn.send(LOGIN)
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(3)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    if rng.random() < 0.5:
        pieces.append(b"")
    try:
        for piece in pieces:
            if conn.state.value == "closed" and piece:
                break
            conn.receive_data(piece)
            while (event := conn.next_event()) is not ev.NEED_DATA:
                name = type(event).__name__
                events[name] += 1
                leak = _typed(event)
                if leak is not None:
                    return f"bytes in {leak}"
                if isinstance(event, ev.LoginRequest) and conn.state.value == "logging in":
                    conn.send(ev.LoginResponse(id=event.client_id))
                if isinstance(event, _DATA_EVENTS):
                    conn.message_done(event.stream_index)
                if isinstance(event, ev.ConnectionClosed):
                    break
            if not piece:
                break
    except RemoteProtocolError:
        return "RemoteProtocolError"
    return "events"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    fuzzer = Fuzzer(args.seed)
    outcomes: Counter[str] = Counter()
    events: Counter[str] = Counter()
    violations: list[str] = []
    start = time.perf_counter()
    for index in range(args.n):
        role, data = fuzzer.next_input()
        try:
            outcome = run_one(role, data, fuzzer.rng, events)
        except Exception as exc:  # noqa: BLE001 - exactly what this benchmark looks for
            outcome = f"{type(exc).__name__} (not allowed)"
            if len(violations) < 5:
                tb = traceback.format_exception_only(exc)[-1].strip()
                violations.append(f"input {index} ({role.value}): {data.hex()} -> {tb}")
        else:
            if outcome.startswith("bytes") and len(violations) < 5:
                violations.append(f"input {index} ({role.value}): {data.hex()} -> {outcome}")
        outcomes[outcome] += 1
    elapsed = time.perf_counter() - start
    allowed = outcomes["events"] + outcomes["RemoteProtocolError"]
    emit("fuzz_codec", {
        "inputs": args.n,
        "seed": args.seed,
        "seconds": round(elapsed, 1),
        "inputs_per_s": round(args.n / elapsed),
        "outcomes": dict(outcomes.most_common()),
        "events": dict(events.most_common()),
        "violations": args.n - allowed,
        "first_violations": violations,
    })  # fmt: skip
    return 0 if allowed == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
