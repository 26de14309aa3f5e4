"""The receive buffer of the MCS codec: whole frames out, partial frames kept.

Nothing is consumed until a frame is complete (an implicit commit; an incomplete
read rolls back by not moving the position), so bytes may arrive in any split.
Consumed bytes are discarded lazily to keep ``feed`` amortised O(n).
"""

from __future__ import annotations

from pullkin.errors import RemoteProtocolError

__all__ = ["ReceiveBuffer", "encode_varint32"]

_MAX_VARINT_BYTES = 5


def encode_varint32(value: int) -> bytes:
    """Protobuf varint of a non-negative 32-bit value (``300`` → ``ac02``)."""
    if not 0 <= value < 1 << 32:
        raise ValueError(f"varint32 out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class ReceiveBuffer:
    """Bytes received but not yet turned into frames."""

    __slots__ = ("_data", "_pos")

    def __init__(self) -> None:
        self._data = bytearray()
        self._pos = 0

    def __len__(self) -> int:
        return len(self._data) - self._pos

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos >= len(self._data) >> 1:
            del self._data[: self._pos]
            self._pos = 0
        self._data += data

    def peek(self) -> bytes:
        """The unconsumed bytes (a copy)."""
        return bytes(self._data[self._pos :])

    def read_byte(self) -> int | None:
        if self._pos >= len(self._data):
            return None
        value = self._data[self._pos]
        self._pos += 1
        return value

    def read_frame(self, max_size: int) -> tuple[int, bytes] | None:
        """``(tag, body)`` of the next whole ``tag | varint32 size | body`` frame.

        Returns None (consuming nothing) if the frame is incomplete; raises
        ``RemoteProtocolError`` for a size varint longer than 5 bytes or a size over
        *max_size* — as soon as the header shows it, without waiting for the body.
        """
        data, pos = self._data, self._pos
        end = len(data)
        if end - pos < 2:
            return None
        size = data[pos + 1]
        header = 2
        if size & 0x80:
            if end - pos > 2 and not data[pos + 2] & 0x80:  # two-byte size: 128..16383
                size = (size & 0x7F) | (data[pos + 2] << 7)
                header = 3
            else:
                size, header = self._long_varint(data, pos + 1, end)
                if header == 0:
                    return None
        if size > max_size:
            raise RemoteProtocolError(
                f"frame with tag {data[pos]} announces {size} bytes, over the {max_size}-byte limit"
            )
        start = pos + header
        if start + size > end:
            return None
        self._pos = start + size
        return data[pos], bytes(data[start : start + size])

    @staticmethod
    def _long_varint(data: bytearray, pos: int, end: int) -> tuple[int, int]:
        """(value, header length incl. tag) of a multi-byte varint; header 0 = incomplete."""
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            if pos + i >= end:
                return 0, 0
            byte = data[pos + i]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value >= 1 << 32:
                    raise RemoteProtocolError("frame size varint exceeds 32 bits")
                return value, i + 2
        raise RemoteProtocolError("frame size varint does not end within 5 bytes")
