"""Stanza → Message: FCM web JSON, direct Web Push bodies, Android app_data, specials."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pullkin import crypto
from pullkin.errors import DecryptionError
from pullkin.mcs import events as ev
from pullkin.models import AppCredentialsKeys, Message
from pullkin.payload import _from_plaintext, _json, build_message, build_messages
from pullkin.proto.mcs_pb2 import DataMessageStanza

KEYS = AppCredentialsKeys.generate()


def web(
    body: bytes, encoding: crypto.ContentEncoding = "aesgcm", **fields: object
) -> DataMessageStanza:
    payload = crypto.encrypt(body, KEYS.public_key, KEYS.auth_secret, encoding=encoding)
    stanza = DataMessageStanza(category="org.chromium.linux", raw_data=payload.body, **fields)  # type: ignore[arg-type]
    setattr(stanza, "from", "BDOU99")
    for key, value in {**payload.app_data(), "subtype": "wp:x#1"}.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


def android(**app_data: str) -> DataMessageStanza:
    stanza = DataMessageStanza(category="com.example.app", token="ck", persistent_id="0:1%ab")
    setattr(stanza, "from", "424242")
    for key, value in app_data.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


def test_fcm_web_json_becomes_a_message() -> None:
    document = {
        "notification": {"title": "T", "body": "B", "image": "https://i", "click_action": "https://c",
                          "badge": "/b.png"},
        "data": {"k": "v"},
        "from": "424242",
        "fcmMessageId": "5a1c",
        "priority": "high",
        "collapse_key": "ck",
    }  # fmt: skip
    stanza = web(json.dumps(document).encode(), persistent_id="0:1%ab", sent=1697189311810)
    message = build_message(stanza, KEYS, sender_id="424242")
    assert message.notification is not None
    assert message.notification.title == "T"
    assert message.notification.click_action == "https://c"
    assert message.notification.extra == {"badge": "/b.png"}
    assert message.data == {"k": "v"}
    assert (message.from_, message.priority, message.fcm_message_id) == ("424242", "high", "5a1c")
    assert message.collapse_key == "ck"
    assert message.persistent_id == "0:1%ab"
    assert message.sender_id == "424242"
    assert message.sent_at == dt.datetime(2023, 10, 13, 9, 28, 31, 810000, tzinfo=dt.timezone.utc)
    assert message.raw == document


def test_direct_web_push_json_and_binary_bodies() -> None:
    message = build_message(web(b'{"title": "Hi", "url": "/x", "n": 3}', "aes128gcm"), KEYS)
    assert message.notification is not None
    assert message.notification.title == "Hi"
    assert message.data == {"title": "Hi", "url": "/x", "n": "3"}
    binary = build_message(web(b"\xff\x00raw", "aes128gcm"), KEYS)
    assert binary.payload == b"\xff\x00raw"
    assert binary.data == {}
    assert binary.notification is None


def test_android_app_data_with_both_notification_prefixes() -> None:
    message = build_message(
        android(**{
            "gcm.notification.title": "old", "gcm.n.title": "new", "gcm.n.body": "B",
            "gcm.n.sound2": "ding", "gcm.n.android_channel_id": "c1", "gcm.n.e": "1",
            "score": "9", "google.c.sender.id": "424242", "google.original_priority": "normal",
            "from": "424242", "collapse_key": "x",
        }),
        None,
    )  # fmt: skip
    assert message.notification is not None
    assert (message.notification.title, message.notification.body) == ("new", "B")
    assert message.notification.sound == "ding"
    assert message.notification.extra == {"android_channel_id": "c1"}
    assert message.data == {"score": "9"}
    assert message.priority == "normal"
    assert message.collapse_key == "ck"
    assert message.fcm_message_id is None or message.fcm_message_id == ""


def test_deleted_messages_is_a_special_message() -> None:
    message = build_message(android(message_type="deleted_messages", total_deleted="3"), None)
    assert message.message_type == "deleted_messages"
    assert message.raw["total_deleted"] == "3"
    assert message.data == {}


def test_encrypted_message_without_keys_is_a_decryption_error() -> None:
    with pytest.raises(DecryptionError, match="no Web Push keys"):
        build_message(web(b"{}"), None)


def test_sent_in_seconds_is_understood_too() -> None:
    message = build_message(android(x="1"), None)
    assert message.sent_at is None
    stanza = android(x="1")
    stanza.sent = 1_700_000_000
    assert build_message(stanza, None).sent_at == dt.datetime.fromtimestamp(
        1_700_000_000, dt.timezone.utc
    )


@given(body=st.binary(max_size=512))
def test_any_decrypted_body_yields_a_message(body: bytes) -> None:
    message = build_message(web(body, "aes128gcm"), KEYS)
    assert message.payload == body
    assert all(isinstance(v, str) for v in message.data.values())


@given(app_data=st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=10))
def test_any_android_app_data_yields_a_message(app_data: dict[str, str]) -> None:
    app_data.pop("message_type", None)
    app_data.pop("content-encoding", None)
    message = build_message(android(**app_data), None)
    assert set(message.data) <= set(app_data)
    assert message.to_dict()["data"] == message.data


def _burst_stanza(kind: str, n: int) -> DataMessageStanza:
    if kind == "android":
        return android(**{"gcm.n.title": f"t{n}", "n": str(n)})
    if kind == "special":
        return android(message_type="deleted_messages")
    stanza = web(json.dumps({"data": {"n": str(n)}, "from": "1"}).encode(),
                 "aes128gcm" if kind == "aes128gcm" else "aesgcm")  # fmt: skip
    if kind == "tampered":
        stanza.raw_data = stanza.raw_data[:-1] + bytes([stanza.raw_data[-1] ^ 1])
    return stanza


@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["aesgcm", "aes128gcm", "android", "special", "tampered"]), max_size=12
    )
)
def test_a_burst_builds_what_one_at_a_time_builds_in_order(kinds: list[str]) -> None:
    stanzas = [_burst_stanza(kind, n) for n, kind in enumerate(kinds)]
    built = build_messages(stanzas, KEYS, sender_id="42")
    assert len(built) == len(stanzas)
    # and the same with each stanza's app_data read beforehand (as the codec does)
    mappings = [ev.DataMessage(stanza).app_data for stanza in stanzas]
    again = build_messages(stanzas, KEYS, sender_id="42", app_data=mappings)
    assert [str(r) if isinstance(r, DecryptionError) else r for r in again] == [
        str(r) if isinstance(r, DecryptionError) else r for r in built
    ]
    for stanza, result in zip(stanzas, built, strict=True):
        try:
            expected: object = build_message(stanza, KEYS, sender_id="42")
        except DecryptionError as exc:
            expected = str(exc)
        assert (str(result) if isinstance(result, DecryptionError) else result) == expected
    for n, (kind, result) in enumerate(zip(kinds, built, strict=True)):
        if kind in ("aesgcm", "aes128gcm"):
            assert isinstance(result, Message)
            assert result.data == {"n": str(n)}


def test_a_burst_reads_the_app_data_it_is_given_not_the_stanzas_again() -> None:
    stanzas = [android(x="1"), android(y="2")]
    given = [{"x": "1"}, {"gcm.n.title": "t", "z": "3"}]
    first, second = build_messages(stanzas, None, app_data=given)
    assert isinstance(first, Message)
    assert first.data == {"x": "1"}
    assert isinstance(second, Message)
    assert second.data == {"z": "3"}
    assert second.notification is not None
    assert second.notification.title == "t"
    with pytest.raises(ValueError):  # one mapping per stanza
        build_messages(stanzas, None, app_data=given[:1])


def test_a_burst_without_keys_fails_only_its_encrypted_messages() -> None:
    built = build_messages([android(x="1"), web(b"{}"), android(y="2")], None)
    assert isinstance(built[0], Message)
    assert built[0].data == {"x": "1"}
    assert isinstance(built[1], DecryptionError)
    assert "no Web Push keys" in str(built[1])
    assert isinstance(built[2], Message)
    assert built[2].data == {"y": "2"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_NOTIFICATION_KEYS = st.sampled_from(
    ["title", "body", "image", "icon", "click_action", "tag", "color", "sound", "badge", "x"]
)
_FCM_FIELDS = st.sampled_from(["from", "fcmMessageId", "priority", "collapse_key"])


@settings(max_examples=200, deadline=None)
@given(
    notification=st.none() | st.dictionaries(_NOTIFICATION_KEYS, _JSON, max_size=6),
    data=st.none() | _JSON,
    extra=st.dictionaries(_FCM_FIELDS, _JSON, max_size=4),
    sent=st.none() | st.integers(min_value=0, max_value=2_000_000_000_000),
)
def test_an_fcm_document_builds_a_message_its_own_constructor_accepts_unchanged(
    notification: dict[str, object] | None,
    data: object,
    extra: dict[str, object],
    sent: int | None,
) -> None:
    # The FCM hot path builds Message and Notification without their __init__: what it
    # builds has every field, and re-validates (dataclasses.replace runs __init__ and
    # __post_init__) into an equal message.
    document: dict[str, object] = {"fcmMessageId": "id", **extra}
    if notification is not None:
        document["notification"] = notification
    if data is not None:
        document["data"] = data
    fields = {} if sent is None else {"sent": sent}
    stanza = DataMessageStanza(persistent_id="0:1", token="t", **fields)  # type: ignore[arg-type]
    message = _from_plaintext(stanza, json.dumps(document).encode(), "42")
    assert set(vars(message)) == {f.name for f in dataclasses.fields(Message)}
    assert dataclasses.replace(message) == message
    if message.notification is not None:
        assert set(vars(message.notification)) == {
            f.name for f in dataclasses.fields(message.notification)
        }
        assert dataclasses.replace(message.notification) == message.notification
    assert json.loads(json.dumps(message.to_json())) == message.to_json()


def _loaded(parse: object, text: str) -> object:
    try:
        return ("value", parse(text))  # type: ignore[operator]
    except ValueError:
        return ("ValueError", None)


@settings(max_examples=300, deadline=None)
@given(
    value=_JSON,
    before=st.sampled_from(["", " ", "\n\t ", "\ufeff", "x"]),
    after=st.sampled_from(["", " \r\n", " 1", "}", "\x00"]),
    spoil=st.text(max_size=12),
)
def test_the_hot_path_json_reader_agrees_with_json_loads(
    value: object, before: str, after: str, spoil: str
) -> None:
    text = before + json.dumps(value) + after
    for candidate in (text, spoil, text[: len(text) // 2] + spoil):
        assert _loaded(_json, candidate) == _loaded(json.loads, candidate)
