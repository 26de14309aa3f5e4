"""FCM message models: validation before sending, and the pure v1 encoding."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin.errors import InvalidArgumentError
from pullkin.senders.fcm_encode import encode_message
from pullkin.senders.fcm_models import (
    MAX_PAYLOAD,
    MAX_TOPIC_PAYLOAD,
    AndroidConfig,
    AndroidFcmOptions,
    AndroidNotification,
    ApnsConfig,
    ApnsFcmOptions,
    FcmOptions,
    LightSettings,
    Message,
    Notification,
    WebpushConfig,
    WebpushFcmOptions,
    normalize_topic,
    payload_size,
)

TOPIC_CHARS = st.sampled_from("abcXYZ019-_.~%")


# --- targets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"token": "t", "topic": "news"}, {"topic": "a", "condition": "'a' in topics"}],
)
def test_exactly_one_target_is_required(kwargs: dict[str, Any]) -> None:
    with pytest.raises(
        InvalidArgumentError, match="exactly one of token, topic or condition"
    ) as info:
        Message(**kwargs)
    assert info.value.vendor == "fcm"
    assert info.value.http_status is None


@given(st.text(TOPIC_CHARS, min_size=1, max_size=50))
def test_valid_topics_are_accepted_with_or_without_prefix(name: str) -> None:
    assert normalize_topic(name) == name
    assert normalize_topic(f"/topics/{name}") == name
    assert encode_message(Message(topic=f"/topics/{name}"))["message"]["topic"] == name


@given(
    st.text(min_size=1, max_size=30).filter(
        lambda s: re.fullmatch(r"[a-zA-Z0-9\-_.~%]+", s) is None
    )
)
def test_topics_outside_the_alphabet_are_rejected(name: str) -> None:
    if name.startswith("/topics/") and re.fullmatch(r"[a-zA-Z0-9\-_.~%]+", name[8:]):
        return
    with pytest.raises(InvalidArgumentError, match="topic"):
        Message(topic=name)


def test_conditions_name_at_most_five_valid_topics() -> None:
    Message(condition="'a' in topics && ('b' in topics || 'c' in topics)")
    with pytest.raises(InvalidArgumentError, match="at most 5"):
        Message(condition=" || ".join(f"'t{i}' in topics" for i in range(6)))
    with pytest.raises(InvalidArgumentError, match="topic"):
        Message(condition="'bad topic' in topics")
    with pytest.raises(InvalidArgumentError, match="name topics"):
        Message(condition="true")


# --- data ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [12, 1.5, None, True, ["x"], {"a": "b"}, b"bytes"])
def test_non_string_data_values_are_rejected_naming_the_key(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Message.data\['count'\] must be a str"):
        Message(token="t", data={"count": value})


@pytest.mark.parametrize(
    "key", ["from", "message_type", "google.x", "gcm.notification.title", "GOOGLE"]
)
def test_reserved_data_keys_are_rejected(key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="reserved"):
        Message(token="t", data={key: "v"})


@given(
    st.dictionaries(
        st.text(min_size=1).filter(
            lambda k: not k.lower().startswith(("google", "gcm", "from", "message_type"))
        ),
        st.text(),
        max_size=5,
    )
)
def test_string_data_round_trips_into_the_request(data: dict[str, str]) -> None:
    if (
        payload_size(Message(token="t"))
        + sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
        > MAX_PAYLOAD
    ):
        return
    assert encode_message(Message(token="t", data=data))["message"].get("data", {}) == data


def test_payload_over_4096_bytes_is_rejected_and_topic_limit_is_2048() -> None:
    Message(token="t", data={"k": "x" * (MAX_PAYLOAD - 1)})
    with pytest.raises(InvalidArgumentError, match="4097 bytes; FCM allows 4096"):
        Message(token="t", data={"k": "x" * MAX_PAYLOAD})
    with pytest.raises(InvalidArgumentError, match="allows 2048"):
        Message(topic="news", data={"k": "x" * MAX_TOPIC_PAYLOAD})
    with pytest.raises(InvalidArgumentError, match="4096"):
        Message(token="t", notification=Notification(title="é" * 2049))


def test_platform_data_replaces_message_data_in_the_size() -> None:
    message = Message(token="t", data={"a": "1"}, android=AndroidConfig(data={"b": "x" * 100}))
    assert payload_size(message) == 101
    with pytest.raises(InvalidArgumentError, match="4096"):
        Message(token="t", webpush=WebpushConfig(data={"b": "x" * 4096}))


# --- TTL and durations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "wire"),
    [
        (0, "0s"),
        (86400, "86400s"),
        (3.5, "3.5s"),
        (dt.timedelta(milliseconds=1), "0.001s"),
        (dt.timedelta(weeks=4), "2419200s"),
        ("60s", "60s"),
        ("1.25s", "1.25s"),
    ],
)
def test_ttl_is_encoded_as_a_duration_string(ttl: Any, wire: str) -> None:
    encoded = encode_message(Message(token="t", android=AndroidConfig(ttl=ttl)))
    assert encoded["message"]["android"]["ttl"] == wire


@pytest.mark.parametrize(
    ("ttl", "match"),
    [
        (-1, "must not be negative"),
        (2_419_201, "at most 4 weeks"),
        ("60", "duration like"),
        ("1h", "duration like"),
        (float("nan"), "finite"),
        (True, "seconds"),
        ([1], "seconds"),
    ],
)
def test_bad_ttls_are_rejected(ttl: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        AndroidConfig(ttl=ttl)


@given(st.integers(min_value=0, max_value=2_419_200), st.integers(min_value=0, max_value=999))
def test_duration_encoding_round_trips_milliseconds(seconds: int, millis: int) -> None:
    value = seconds + millis / 1000
    if value > 2_419_200:
        return
    wire = encode_message(Message(token="t", android=AndroidConfig(ttl=value)))["message"][
        "android"
    ]["ttl"]
    assert re.fullmatch(r"\d+(\.\d{1,9})?s", wire)
    assert abs(float(wire[:-1]) - value) < 1e-6


# --- platform configs ------------------------------------------------------------------


def test_full_android_config_encodes_enums_times_and_lights() -> None:
    event = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    android = AndroidConfig(
        priority="normal",
        restricted_package_name="com.example",
        direct_boot_ok=True,
        fcm_options=AndroidFcmOptions(analytics_label="lbl"),
        notification=AndroidNotification(
            title="t", color="#ff0000", body_loc_key="k", body_loc_args=["a"],
            event_time=event, notification_priority="high", visibility="private",
            vibrate_timings=[0.5, "1s"], notification_count=3, proxy="deny",
            light_settings=LightSettings("#00ff0080", 1, dt.timedelta(seconds=2)),
        ),
    )  # fmt: skip
    wire = encode_message(Message(token="t", android=android))["message"]["android"]
    assert wire == {
        "priority": "NORMAL",
        "restricted_package_name": "com.example",
        "direct_boot_ok": True,
        "fcm_options": {"analytics_label": "lbl"},
        "notification": {
            "title": "t",
            "color": "#ff0000",
            "body_loc_key": "k",
            "body_loc_args": ["a"],
            "event_time": "2024-05-01T10:00:00.000000Z",
            "notification_priority": "PRIORITY_HIGH",
            "visibility": "PRIVATE",
            "vibrate_timings": ["0.5s", "1s"],
            "notification_count": 3,
            "proxy": "DENY",
            "light_settings": {
                "color": {"red": 0.0, "green": 1.0, "blue": 0.0, "alpha": 128 / 255},
                "light_on_duration": "1s",
                "light_off_duration": "2s",
            },
        },
    }


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: AndroidNotification(color="red"), "color must be #rrggbb"),
        (lambda: AndroidNotification(body_loc_args=["a"]), "body_loc_key is required"),
        (lambda: AndroidNotification(title_loc_args=["a"]), "title_loc_key is required"),
        (lambda: AndroidNotification(event_time=dt.datetime(2024, 1, 1)), "timezone-aware"),
        (lambda: AndroidNotification(visibility="hidden"), "visibility must be one of"),  # type: ignore[arg-type]
        (lambda: AndroidNotification(notification_count=-1), "notification_count"),
        (lambda: AndroidConfig(priority="urgent"), "priority must be one of"),  # type: ignore[arg-type]
        (lambda: LightSettings("#12", 1, 1), "LightSettings.color"),
        (lambda: WebpushFcmOptions(link="http://x"), "https://"),
        (lambda: WebpushConfig(headers={"TTL": "ten"}), "TTL"),
        (lambda: WebpushConfig(headers={"Urgency": "asap"}), "Urgency"),
        (lambda: WebpushConfig(notification={"x": object()}), "JSON-serialisable"),
        (lambda: ApnsConfig(payload={"aps": "no"}), "aps"),
        (lambda: FcmOptions(analytics_label="has space"), "analytics_label"),
        (lambda: ApnsFcmOptions(analytics_label="x" * 51), "analytics_label"),
        (lambda: Notification(title=5), "Notification.title must be a str"),  # type: ignore[arg-type]
    ],
)
def test_bad_fields_name_the_field(factory: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        factory()


def test_webpush_and_apns_configs_encode_verbatim() -> None:
    message = Message(
        token="t",
        webpush=WebpushConfig(
            headers={"TTL": "60", "Urgency": "high"},
            data={"w": "1"},
            notification={"title": "W", "actions": [{"action": "a", "title": "A"}]},
            fcm_options=WebpushFcmOptions(link="https://example.com/x"),
        ),
        apns=ApnsConfig(
            headers={"apns-priority": "10"},
            payload={"aps": {"badge": 1}},
            fcm_options=ApnsFcmOptions(image="https://example.com/i.png"),
        ),
        fcm_options=FcmOptions(analytics_label="campaign"),
    )
    wire = encode_message(message)["message"]
    assert wire["webpush"] == {
        "headers": {"TTL": "60", "Urgency": "high"},
        "data": {"w": "1"},
        "notification": {"title": "W", "actions": [{"action": "a", "title": "A"}]},
        "fcm_options": {"link": "https://example.com/x"},
    }
    assert wire["apns"] == {
        "headers": {"apns-priority": "10"},
        "payload": {"aps": {"badge": 1}},
        "fcm_options": {"image": "https://example.com/i.png"},
    }
    assert wire["fcm_options"] == {"analytics_label": "campaign"}
    assert "validate_only" not in encode_message(message)
