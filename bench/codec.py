"""MCS codec throughput: 200-byte DataMessageStanzas fed in 64 KB chunks.

Run: ``python bench/codec.py [--frames N] [--repeat R]``.  Prints one JSON object with
frames/s through ``receive_data``/``next_event`` (plus ``message_done``, as the
receiver calls it), the protobuf parse alone for the same frames as the floor, and
the ratio.  Target: >= 100,000 frames/s on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import emit, pin_one_core

from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role
from pullkin.proto.mcs_pb2 import DataMessageStanza

CHUNK = 64 * 1024


def _wire(frames: int) -> tuple[bytes, bytes, list[bytes]]:
    """Server login bytes, then *frames* data frames of 200 bytes, and their bodies."""
    client, server = McsConnection(Role.CLIENT), McsConnection(Role.SERVER)
    server.receive_data(client.send(ev.LoginRequest(android_id=1, security_token=2)))
    server.next_event()
    login = server.send(ev.LoginResponse(id="chrome-63.0.3234.0"))
    template = DataMessageStanza(**{"from": "424242424242"}, category="org.chromium.linux")
    template.app_data.add(key="subtype", value="wp:bench#0")
    out, bodies = bytearray(), []
    for n in range(frames):
        stanza = DataMessageStanza()
        stanza.CopyFrom(template)
        stanza.persistent_id = f"0:{n:016d}%0123456789abcdef"
        stanza.raw_data = bytes(200 - 104)  # 200-byte frames incl. tag and size
        frame = server.send(ev.DataMessage(stanza))
        out += frame
        bodies.append(stanza.SerializeToString())
    return login, bytes(out), bodies


def _run_codec(login: bytes, wire: bytes) -> tuple[int, float]:
    client = McsConnection(Role.CLIENT)
    client.send(ev.LoginRequest(android_id=1, security_token=2))
    client.receive_data(login)
    client.next_event()
    count = 0
    start = time.perf_counter()
    for offset in range(0, len(wire), CHUNK):
        client.receive_data(wire[offset : offset + CHUNK])
        while True:
            event = client.next_event()
            if event is ev.NEED_DATA:
                break
            if type(event) is ev.DataMessage:
                client.message_done(event.stream_index)
                count += 1
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pin_one_core()
    login, wire, bodies = _wire(args.frames)
    best = min(_run_codec(login, wire)[1] for _ in range(args.repeat))
    count, _ = _run_codec(login, wire)
    assert count == args.frames
    parse = DataMessageStanza.FromString
    floor = min(_time(lambda: [parse(b) for b in bodies]) for _ in range(args.repeat))
    emit(
        "codec",
        {
            "frames": args.frames,
            "frame_bytes": round(len(wire) / args.frames, 1),
            "chunk_bytes": CHUNK,
            "frames_per_s": round(args.frames / best),
            "protobuf_parse_only_per_s": round(args.frames / floor),
            "ratio_to_parse_only": round(floor / best, 3),
            "target_frames_per_s": 100_000,
        },
    )


def _time(func: object) -> float:
    start = time.perf_counter()
    func()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
