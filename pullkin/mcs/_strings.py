"""Strings from the wire, made safe before an event carries them.  Pure.

python-protobuf does not check proto2 ``string`` fields for UTF-8: a field that is
not valid UTF-8 comes back as ``bytes``, which breaks whoever expects ``str`` (JSON,
dict lookups, the next LoginRequest).  The codec therefore never hands such a value
on.  Per field:

* informational text (LoginResponse id/jid/error, settings, StreamError, Iq id):
  invalid bytes become U+FFFD — Chrome does not look at these either;
* persistent ids (Iq, SelectiveAck, LoginRequest): an opaque ASCII stand-in
  (``opaque_id``), so acknowledging and de-duplicating still work;
* a DataMessageStanza with any string field that is not UTF-8, or with a
  persistent id too long to keep, is not delivered: the codec yields
  ``InvalidDataMessage`` with a cleaned copy (``sanitized``), which the receiver
  reports and acknowledges.

Checking every field of every stanza costs more than parsing it, so
``data_message_problem`` first parses the body once more with a proto3 twin of
``DataMessageStanza`` (proto3 parsers reject bad UTF-8 in C) and looks field by field
only when that fails; an ASCII body cannot hold bad UTF-8 and skips even that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError

from pullkin.proto import mcs_pb2

__all__ = [
    "MAX_PERSISTENT_ID",
    "data_message_problem",
    "opaque_id",
    "opaque_ids",
    "sanitized",
    "text",
]

#: A persistent id longer than this is not kept (real ones are about 40 characters);
#: the message is reported and acknowledged instead (it would bloat the id window).
MAX_PERSISTENT_ID = 512
_OPAQUE_PREFIX = "invalid-id:"
_HEX_UP_TO = 32  # longer bad ids are named by a digest, so the stand-in stays short

_STRING_FIELDS = tuple(
    f.name
    for f in mcs_pb2.DataMessageStanza.DESCRIPTOR.fields
    if f.type == FieldDescriptor.TYPE_STRING
)


def text(value: str | bytes) -> str:
    """An informational string field: invalid UTF-8 becomes U+FFFD."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def opaque_id(value: str | bytes) -> str:
    """A persistent id as the receiver can store and compare it.

    Valid ids of sane length come back unchanged.  Anything else gets an ASCII stand-in
    that is the same for the same bytes, so a redelivered copy is still recognised.
    """
    if isinstance(value, str):
        if len(value) <= MAX_PERSISTENT_ID:
            return value
        raw = value.encode("utf-8", "surrogatepass")
    else:
        raw = value
    if len(raw) <= _HEX_UP_TO:
        return _OPAQUE_PREFIX + raw.hex()
    return f"{_OPAQUE_PREFIX}sha256-{hashlib.sha256(raw).hexdigest()}"


def opaque_ids(values: Iterable[str | bytes]) -> tuple[str, ...]:
    return tuple(opaque_id(value) for value in values)


def data_message_problem(
    stanza: mcs_pb2.DataMessageStanza, body: bytes, persistent_id: str | bytes
) -> str | None:
    """Why *stanza* (parsed from *body*) must not be delivered, or None (the hot path)."""
    if not body.isascii() and not _valid_utf8(body):
        bad = [name for name in _STRING_FIELDS if isinstance(getattr(stanza, name), bytes)]
        bad += _bad_app_data(stanza)
        if bad:
            verb = "is" if len(bad) == 1 else "are"
            return f"{', '.join(bad)} {verb} not valid UTF-8"
    if len(persistent_id) > MAX_PERSISTENT_ID:
        return f"persistent_id is {len(persistent_id)} long (at most {MAX_PERSISTENT_ID} kept)"
    return None


def sanitized(stanza: mcs_pb2.DataMessageStanza) -> mcs_pb2.DataMessageStanza:
    """A copy whose string fields are all ``str`` (U+FFFD for bad bytes) and whose
    persistent id is ``opaque_id`` of the original."""
    clean = mcs_pb2.DataMessageStanza()
    clean.CopyFrom(stanza)
    for name in _STRING_FIELDS:
        value = getattr(stanza, name)
        if name == "persistent_id":
            if value:
                clean.persistent_id = opaque_id(value)
        elif isinstance(value, bytes):
            setattr(clean, name, text(value))
    for item in clean.app_data:
        item.key, item.value = text(item.key), text(item.value)
    return clean


def _bad_app_data(stanza: mcs_pb2.DataMessageStanza) -> list[str]:
    bad: list[str] = []
    for index, item in enumerate(stanza.app_data):
        for name in ("key", "value"):
            if isinstance(getattr(item, name), bytes):  # the stubs say str; it may not be
                bad.append(f"app_data[{index}].{name}")
    return bad


def _proto3_twin(*messages: Any) -> dict[str, Any]:
    """Classes with the same fields as *messages*, in proto3 (which checks UTF-8)."""
    package = "pullkin_utf8_check"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package}.proto", package=package, syntax="proto3"
    )
    for descriptor in messages:
        proto = descriptor_pb2.DescriptorProto()
        descriptor.CopyToProto(proto)
        for field in proto.field:
            if field.label == FieldDescriptor.LABEL_REQUIRED:
                field.label = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            field.ClearField("default_value")
            if field.type_name:
                field.type_name = f".{package}.{field.type_name.rsplit('.', 1)[1]}"
        file.message_type.append(proto)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        d.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{d.name}"))
        for d in messages
    }


_CHECK = _proto3_twin(mcs_pb2.AppData.DESCRIPTOR, mcs_pb2.DataMessageStanza.DESCRIPTOR)[
    "DataMessageStanza"
].FromString


def _valid_utf8(body: bytes) -> bool:
    """Every string field of the DataMessageStanza *body* is UTF-8 (it parsed as proto2)."""
    try:
        _CHECK(body)
    except (DecodeError, UnicodeDecodeError):  # the pure-Python backend raises the latter
        return False
    return True
