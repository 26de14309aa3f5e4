"""HmsSender: the typed model and encoder, result codes, and every operation against
the emulator's HMS fake (which checks the OAuth token, limits and answers like Huawei).

The fixed vector of ../shared/vendors/README.md (token form) appears verbatim.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from _vendor_support import emulator_config_file, parse_cli, vendor_sender
from hypothesis import given
from hypothesis import strategies as st

from pullkin.commands import send_hms
from pullkin.emulator import Emulator
from pullkin.emulator.vendors import hms as hms_fake
from pullkin.errors import (
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)
from pullkin.senders._http import NO_RETRY, RetryPolicy
from pullkin.senders.hms import HmsSender, token_form
from pullkin.senders.hms_encode import encode_message, send_body
from pullkin.senders.hms_models import (
    AndroidConfig,
    AndroidNotification,
    ApnsAlert,
    ApnsAps,
    ApnsConfig,
    ApnsHeaders,
    ApnsHmsOptions,
    ApnsPayload,
    BadgeNotification,
    Button,
    ClickAction,
    LightSettings,
    LightSettingsColor,
    Message,
    Notification,
    WebPushAction,
    WebPushConfig,
    WebPushHeaders,
    WebPushHmsOptions,
    WebPushNotification,
)
from pullkin.senders.hms_results import error_for, parse_partial

pytest_plugins = ["_vendor_support"]

OPEN_APP = ClickAction(type=3)


def notification_message(tokens: list[str] | None = None, **kw: Any) -> Message:
    return Message(
        notification=Notification(title="Hello", body="World"),
        android=AndroidConfig(notification=AndroidNotification(click_action=OPEN_APP)),
        token=tokens,
        **kw,
    )


# --- the fixed vector and the encoder ---------------------------------------------------


def test_token_form_percent_encodes_the_secret_like_the_fixed_vector() -> None:
    assert token_form("100123457", "a1B2+c3/d4==e5&x") == (
        "grant_type=client_credentials&client_id=100123457&client_secret=a1B2%2Bc3%2Fd4%3D%3De5%26x"
    )


def test_encode_matches_the_request_captured_from_the_seed_sdk() -> None:
    captured = (
        '{"validate_only": true, "message": {"notification": {"title": "Hello", "body": "World"}, '
        '"android": {"collapse_key": -1, "urgency": "HIGH", "ttl": "86400s", "notification": '
        '{"title": "Hello", "body": "World", "click_action": {"type": 3}, "use_default_vibrate": '
        'true, "use_default_light": true, "foreground_show": true}}, "token": ["good-token", "bad"]}}'
    )
    message = Message(
        notification=Notification(title="Hello", body="World"),
        android=AndroidConfig(
            collapse_key=-1,
            urgency="HIGH",
            ttl=86400,
            notification=AndroidNotification(
                title="Hello",
                body="World",
                click_action=OPEN_APP,
                use_default_vibrate=True,
                use_default_light=True,
                foreground_show=True,
            ),
        ),
        token=["good-token", "bad"],
    )
    body = send_body(encode_message(message), True, ["good-token", "bad"])
    assert json.loads(body) == json.loads(captured)
    assert b", " not in body  # compact, one serialisation


def test_encode_keeps_false_zero_and_the_fields_the_seed_sdk_drops() -> None:
    android = AndroidConfig(
        collapse_key=0,
        receipt_id="RCP1",
        target_user_type=1,
        notification=AndroidNotification(
            click_action=OPEN_APP,
            foreground_show=False,
            local_only=False,
            style=3,
            inbox_content=["one", "two"],
            buttons=[
                Button(name="Open", action_type=0),
                Button(name="Go", action_type=2, intent="https://x"),
            ],
            profile_id="p1",
            badge=BadgeNotification(add_num=1, clazz="com.example.Main"),
        ),
    )
    encoded = encode_message(Message(android=android, topic="news"))["android"]
    assert encoded["collapse_key"] == 0
    assert encoded["receipt_id"] == "RCP1"
    assert encoded["target_user_type"] == 1
    n = encoded["notification"]
    assert n["foreground_show"] is False
    assert n["local_only"] is False
    assert n["inbox_content"] == ["one", "two"]
    assert n["profile_id"] == "p1"
    assert n["buttons"][1] == {"name": "Go", "action_type": 2, "intent": "https://x"}
    assert n["badge"] == {"add_num": 1, "class": "com.example.Main"}
    assert n["use_default_vibrate"] is True  # the seed SDK's defaults
    assert n["use_default_light"] is True
    assert encoded["urgency"] == "NORMAL"


def test_encode_writes_apns_and_webpush_with_their_wire_names() -> None:
    message = Message(
        apns=ApnsConfig(
            headers=ApnsHeaders(apns_topic="com.example", apns_priority="10", apns_expiration=0),
            payload=ApnsPayload(
                aps=ApnsAps(
                    alert=ApnsAlert(title="t", loc_key="K", loc_args=["a"], launch_image="i.png"),
                    badge=5,
                    content_available=True,
                    thread_id="th",
                ),
                custom_data={"acme": [1, 2]},
            ),
            hms_options=ApnsHmsOptions(target_user_type=1),
        ),
        webpush=WebPushConfig(
            headers=WebPushHeaders(ttl=990, urgency="high"),
            notification=WebPushNotification(
                title="w", dir="rtl", vibrate=[100, 200], require_interaction=False,
                actions=[WebPushAction(action="open", title="Open")],
            ),
            hms_options=WebPushHmsOptions(link="https://example.com"),
        ),
        token=["t"],
    )  # fmt: skip
    encoded = encode_message(message)
    apns = encoded["apns"]
    assert apns["headers"] == {
        "apns-expiration": "0",
        "apns-priority": "10",
        "apns-topic": "com.example",
    }
    aps = apns["payload"]["aps"]
    assert aps["alert"] == {
        "title": "t",
        "loc-key": "K",
        "loc-args": ["a"],
        "launch-image": "i.png",
    }
    assert aps["content-available"] == 1
    assert aps["thread-id"] == "th"
    assert aps["badge"] == 5
    assert apns["payload"]["acme"] == [1, 2]
    assert apns["hms_options"] == {"target_user_type": 1}
    web = encoded["webpush"]
    assert web["headers"] == {"ttl": "990", "urgency": "high"}
    assert web["notification"]["actions"] == [{"action": "open", "title": "Open"}]
    assert web["notification"]["require_interaction"] is False
    assert web["hms_options"] == {"link": "https://example.com"}


def test_encode_renders_ttl_when_data_and_light_settings() -> None:
    when = _dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=_dt.timezone.utc)
    message = Message(
        data={"k": "v", "n": 1},
        android=AndroidConfig(
            ttl=_dt.timedelta(hours=1),
            notification=AndroidNotification(
                click_action=OPEN_APP,
                when=when,
                vibrate_config=["1", "1.5s"],
                light_settings=LightSettings(
                    color=LightSettingsColor(alpha=0, red=0, green=1, blue=1),
                    light_on_duration="3.5",
                    light_off_duration="5S",
                ),
            ),
        ),
        condition="'a' in topics && ('b' in topics || 'c' in topics)",
    )
    encoded = encode_message(message)
    assert encoded["data"] == '{"k":"v","n":1}'
    assert encoded["android"]["ttl"] == "3600s"
    n = encoded["android"]["notification"]
    assert n["when"] == "2024-01-02T03:04:05.000Z"
    assert n["light_settings"]["color"] == {"alpha": 0, "red": 0, "green": 1, "blue": 1}


BAD_MODELS: list[tuple[str, Callable[[], object]]] = [
    ("AndroidConfig.ttl must not be negative", lambda: AndroidConfig(ttl=-1)),
    ("at most 15 days", lambda: AndroidConfig(ttl=1_296_001)),
    ("collapse_key", lambda: AndroidConfig(collapse_key=101)),
    ("urgency", lambda: AndroidConfig(urgency="URGENT")),
    ("category", lambda: AndroidConfig(category="SPAM")),
    ("ClickAction.type 2 needs a url", lambda: ClickAction(type=2)),
    ("https", lambda: ClickAction(type=2, url="http://x")),
    ("ClickAction.type 1", lambda: ClickAction(type=1)),
    ("big_title", lambda: AndroidNotification(click_action=OPEN_APP, style=1)),
    (
        "inbox_content allows 5",
        lambda: AndroidNotification(click_action=OPEN_APP, inbox_content=["x"] * 6),
    ),
    ("vibrate_config", lambda: AndroidNotification(click_action=OPEN_APP, vibrate_config=["61"])),
    ("color", lambda: AndroidNotification(click_action=OPEN_APP, color="red")),
    ("image", lambda: AndroidNotification(click_action=OPEN_APP, image="http://x/i.png")),
    ("when", lambda: AndroidNotification(click_action=OPEN_APP, when="yesterday")),
    (
        "3 buttons",
        lambda: AndroidNotification(
            click_action=OPEN_APP, buttons=[Button(name="b", action_type=0)] * 4
        ),
    ),
    ("visibility", lambda: AndroidNotification(click_action=OPEN_APP, visibility="ALL")),
    ("add_num", lambda: BadgeNotification(add_num=0)),
    (
        "light_on_duration",
        lambda: LightSettings(
            color=LightSettingsColor(), light_on_duration="3m", light_off_duration="1"
        ),
    ),
    ("Button.name", lambda: Button(name="", action_type=0)),
    ("exactly one of token", lambda: Message(token=["a"], topic="t")),
    ("exactly one of token", lambda: Message()),
    ("must not repeat", lambda: Message(token=["a", "a"])),
    ("not a string", lambda: Message(token="abc")),
    (
        "at most 5 topics",
        lambda: Message(condition=" && ".join(f"'t{i}' in topics" for i in range(6))),
    ),
    ("Message.topic", lambda: Message(topic="no spaces")),
    ("apns_priority", lambda: ApnsHeaders(apns_priority="1")),
    ("urgency", lambda: WebPushHeaders(urgency="asap")),
    ("Notification.image", lambda: Notification(image="ftp://x")),
]


@pytest.mark.parametrize(("fragment", "build"), BAD_MODELS)
def test_bad_model_values_raise_invalid_argument_naming_the_field(
    fragment: str, build: Callable[[], object]
) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment) as info:
        build()
    assert info.value.vendor == "hms"
    assert info.value.http_status is None


def test_size_limit_counts_the_message_but_not_the_token_list() -> None:
    tokens = [f"{i:0130d}" for i in range(1000)]  # 130 KB of tokens: fine
    send_body(encode_message(notification_message(tokens)), False, tokens)
    big = Message(data="x" * 4100, token=["t"])
    with pytest.raises(InvalidArgumentError, match="4096") as info:
        send_body(encode_message(big), False, ["t"])
    assert info.value.code == "80300008"


# --- result codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("80100001", 400, InvalidArgumentError),
        ("80100003", 400, InvalidArgumentError),
        ("80100017", 400, QuotaExceededError),
        ("80200001", 401, UnauthenticatedError),
        ("80200003", 401, UnauthenticatedError),
        ("80300002", 400, UnauthenticatedError),
        ("80300007", 400, UnregisteredError),
        ("80300008", 400, InvalidArgumentError),
        ("81000001", 500, UnavailableError),
        (None, 503, QuotaExceededError),
        (None, 502, UnavailableError),
        (None, 404, NotFoundError),
    ],
)
def test_result_codes_map_to_error_classes(
    code: str | None, status: int, cls: type[SendError]
) -> None:
    error = error_for(code, msg="m", http_status=status, request_id="r1")
    assert type(error) is cls
    assert (error.vendor, error.code, error.http_status, error.request_id) == (
        "hms",
        code,
        status,
        "r1",
    )


def test_partial_success_report_is_parsed_from_the_json_text() -> None:
    assert parse_partial('{"success":3,"failure":1,"illegal_tokens":["xxx"]}') == (3, 1, ("xxx",))


@given(st.text())
def test_partial_report_parser_returns_a_report_or_raises_send_error(text: str) -> None:
    try:
        success, failure, illegal = parse_partial(text)
    except SendError:
        return
    assert isinstance(success, int)
    assert isinstance(failure, int)
    assert all(isinstance(token, str) for token in illegal)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.lists(st.text(min_size=1)))
def test_partial_report_round_trips(success: int, failure: int, illegal: list[str]) -> None:
    text = json.dumps({"success": success, "failure": failure, "illegal_tokens": illegal})
    assert parse_partial(text) == (success, failure, tuple(illegal))


# --- against the emulator -----------------------------------------------------------------


def sender(emu: Emulator, **kw: Any) -> HmsSender:
    return vendor_sender(HmsSender, "hms", emu, **kw)


@pytest.mark.anyio
async def test_send_to_tokens_delivers_and_is_recorded(emu: Emulator) -> None:
    async with sender(emu) as hms:
        result = await hms.send(notification_message(["t1", "t2"]))
    assert result.code == "80000000"
    assert result.succeeded == ("t1", "t2")
    assert result.request_id
    assert not result.illegal_tokens
    (record,) = emu.inbox("hms")
    assert record["tokens"] == ["t1", "t2"]
    assert record["validate_only"] is False
    assert record["message"]["android"]["notification"]["click_action"] == {"type": 3}


@pytest.mark.anyio
async def test_validate_only_reaches_huawei_as_a_dry_run(emu: Emulator) -> None:
    async with sender(emu) as hms:
        await hms.send(notification_message(["t1"]), validate_only=True)
    assert emu.inbox("hms")[0]["validate_only"] is True


@pytest.mark.anyio
async def test_partial_success_names_dead_tokens_and_good_ones_are_not_resent(
    emu: Emulator,
) -> None:
    hms_fake.fake(emu).dead_tokens.add("dead")
    async with sender(emu) as hms:
        result = await hms.send(notification_message(["good", "dead", "fine"]))
    assert result.code == "80100000"
    assert result.succeeded == ("good", "fine")
    assert result.illegal_tokens == ("dead",)
    assert result.retryable == ()
    assert result.failure_count == 1
    assert isinstance(result.results[1].error, UnregisteredError)
    assert [r["tokens"] for r in emu.inbox("hms")] == [["good", "fine"]]  # one request only


@pytest.mark.anyio
async def test_all_tokens_dead_marks_each_token_unregistered(emu: Emulator) -> None:
    hms_fake.fake(emu).dead_tokens.update({"d1", "d2"})
    async with sender(emu) as hms:
        result = await hms.send(notification_message(["d1", "d2"]))
    assert result.code == "80300007"
    assert result.illegal_tokens == ("d1", "d2")
    assert all(r.error is not None and r.error.code == "80300007" for r in result.results)


@pytest.mark.anyio
async def test_more_than_1000_tokens_go_out_1000_a_request(emu: Emulator) -> None:
    tokens = [f"tok{i}" for i in range(2500)]
    async with sender(emu) as hms:
        result = await hms.send(notification_message(tokens))
        assert hms.token_fetches == 1
    assert [len(r["tokens"]) for r in emu.inbox("hms")] == [1000, 1000, 500]
    assert result.succeeded == tuple(tokens)
    assert len(result.request_ids) == 3


@pytest.mark.anyio
async def test_a_failed_later_chunk_keeps_earlier_results_and_marks_the_rest(emu: Emulator) -> None:
    hms_fake.fake(emu).send_window.limit = 1  # the second request is flow-controlled
    hms_fake.fake(emu).send_window.seconds = 3600
    tokens = [f"tok{i}" for i in range(1500)]
    async with sender(emu, retry=NO_RETRY) as hms:
        result = await hms.send(notification_message(tokens))
    assert result.succeeded == tuple(tokens[:1000])
    assert result.retryable == tuple(tokens[1000:])
    assert isinstance(result.results[-1].error, QuotaExceededError)
    assert len(emu.inbox("hms")) == 1


@pytest.mark.anyio
async def test_a_failed_first_request_raises(emu: Emulator) -> None:
    emu.faults.http_error("hms_send", 500, body='{"code":"81000001","msg":"boom"}')
    async with sender(emu, retry=NO_RETRY) as hms:
        with pytest.raises(UnavailableError) as info:
            await hms.send(notification_message(["t1"]))
    assert info.value.code == "81000001"
    assert info.value.http_status == 500


@pytest.mark.anyio
async def test_flow_control_503_is_retried_after_retry_after(emu: Emulator) -> None:
    emu.faults.http_error("hms_send", 503, retry_after=0.01, body='{"msg":"flow control"}')
    async with sender(emu) as hms:
        result = await hms.send(notification_message(["t1"]))
    assert result.succeeded == ("t1",)
    assert "http:hms_send" in emu.faults.fired


@pytest.mark.anyio
async def test_the_token_is_fetched_once_and_reused(emu: Emulator) -> None:
    async with sender(emu) as hms:
        await asyncio.gather(*(hms.send(notification_message([f"t{i}"])) for i in range(20)))
        assert hms.token_fetches == 1
    assert hms_fake.fake(emu).token_requests == 1


@pytest.mark.anyio
async def test_the_token_is_renewed_before_it_expires(emu: Emulator) -> None:
    hms_fake.fake(emu).token_lifetime = 600
    now = [1000.0]
    async with sender(emu, clock=lambda: now[0]) as hms:
        await hms.send(notification_message(["t1"]))
        now[0] += 299  # the sender renews 300 s before the end
        await hms.send(notification_message(["t1"]))
        assert hms.token_fetches == 1
        now[0] += 2
        await hms.send(notification_message(["t1"]))
        assert hms.token_fetches == 2


@pytest.mark.anyio
@pytest.mark.parametrize("knob", ["expire_tokens", "revoke_tokens"])
async def test_a_rejected_token_is_renewed_once_and_the_send_retried(
    emu: Emulator, knob: str
) -> None:
    async with sender(emu) as hms:
        await hms.send(notification_message(["t1"]))
        getattr(hms_fake.fake(emu), knob)()
        result = await hms.send(notification_message(["t2"]))
        assert hms.token_fetches == 2
    assert result.succeeded == ("t2",)
    assert len(emu.inbox("hms")) == 2


@pytest.mark.anyio
async def test_concurrent_rejections_renew_the_token_once(emu: Emulator) -> None:
    async with sender(emu) as hms:
        await hms.send(notification_message(["t0"]))
        hms_fake.fake(emu).expire_tokens()
        await asyncio.gather(*(hms.send(notification_message([f"t{i}"])) for i in range(10)))
        assert hms.token_fetches == 2


@pytest.mark.anyio
async def test_a_token_rejected_again_after_renewal_is_raised(emu: Emulator) -> None:
    hms_fake.fake(emu).token_lifetime = 0  # every token is born expired
    async with sender(emu) as hms:
        with pytest.raises(UnauthenticatedError) as info:
            await hms.send(notification_message(["t1"]))
        assert hms.token_fetches == 2  # one renewal, then give up
    assert info.value.code == "80200003"
    assert info.value.http_status == 401
    assert emu.inbox("hms") == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("credentials", "code"),
    [({"app_secret": "wrong"}, "12304"), ({"app_id": "1234"}, "20003")],
)
async def test_wrong_credentials_are_rejected_with_huawei_oauth_errors(
    emu: Emulator, credentials: dict[str, str], code: str
) -> None:
    async with sender(emu, **credentials) as hms:
        with pytest.raises(UnauthenticatedError) as info:
            await hms.send(notification_message(["t1"]))
    assert info.value.code == code
    assert info.value.http_status == 400
    assert isinstance(info.value.response, dict)
    assert info.value.response["error"] == 1101
    assert emu.inbox("hms") == []


@pytest.mark.anyio
async def test_token_requests_beyond_the_quota_are_refused(emu: Emulator) -> None:
    hms_fake.fake(emu).token_window.limit = 1
    async with sender(emu) as first:
        await first.send(notification_message(["t1"]))
    async with sender(emu, retry=NO_RETRY) as second:
        with pytest.raises(QuotaExceededError):
            await second.send(notification_message(["t1"]))


@pytest.mark.anyio
async def test_bad_input_fails_before_any_request(emu: Emulator) -> None:
    async with sender(emu) as hms:
        with pytest.raises(InvalidArgumentError):
            await hms.send(Message(data="x" * 5000, token=["t1"]))
        with pytest.raises(InvalidArgumentError):
            await hms.subscribe_topic("bad topic", ["t1"])
        with pytest.raises(InvalidArgumentError):
            await hms.subscribe_topic("news", [])
        with pytest.raises(InvalidArgumentError):
            await hms.send("not a message")  # type: ignore[arg-type]
        assert hms.token_fetches == 0
    assert emu.inbox("hms") == []


@pytest.mark.anyio
async def test_tls_is_verified(emu: Emulator) -> None:
    async with HmsSender(**emu.vendor("hms"), retry=NO_RETRY) as hms:  # no emulator CA
        with pytest.raises(UnavailableError) as info:
            await hms.send(notification_message(["t1"]))
    assert info.value.code == "TLS_CERTIFICATE"


# --- topics ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_subscribe_query_send_and_unsubscribe_a_topic(emu: Emulator) -> None:
    hms_fake.fake(emu).dead_tokens.add("dead")
    async with sender(emu) as hms:
        subscribed = await hms.subscribe_topic("weather", ["t1", "dead", "t2"])
        assert (subscribed.success_count, subscribed.failure_count) == (2, 1)
        assert [(e.index, e.token, e.reason) for e in subscribed.errors] == [
            (1, "dead", "80300007")
        ]
        listed = await hms.query_subscribe_list("t1")
        assert [t.name for t in listed.topics] == ["weather"]
        assert listed.code == "80000000"
        await hms.send(notification_message(topic="weather"))
        await hms.unsubscribe_topic("weather", ["t1"])
        assert (await hms.list_topics("t1")).topics == ()
    assert emu.inbox("hms")[0]["tokens"] == ["t1", "t2"]


@pytest.mark.anyio
async def test_subscribing_more_than_1000_tokens_is_chunked(emu: Emulator) -> None:
    tokens = [f"t{i}" for i in range(1200)]
    hms_fake.fake(emu).dead_tokens.add("t1100")
    async with sender(emu) as hms:
        result = await hms.subscribe_topic("news", tokens)
    assert (result.success_count, result.failure_count) == (1199, 1)
    assert [(e.index, e.token) for e in result.errors] == [(1100, "t1100")]
    assert len(result.request_ids) == 2


@pytest.mark.anyio
async def test_condition_sends_are_accepted(emu: Emulator) -> None:
    async with sender(emu, retry=RetryPolicy(attempts=1)) as hms:
        result = await hms.send(notification_message(condition="'a' in topics || 'b' in topics"))
    assert result.code == "80000000"
    assert result.results == ()
    assert emu.inbox("hms")[0]["message"]["condition"] == "'a' in topics || 'b' in topics"


# --- the CLI module ---------------------------------------------------------------------


cli_args = functools.partial(parse_cli, send_hms)


@pytest.mark.anyio
async def test_cli_sends_and_prints_json(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hms_fake.fake(emu).dead_tokens.add("dead")
    config = emulator_config_file(emu, tmp_path)
    args = cli_args(
        "--emulator",
        str(config),
        "--token",
        "t1",
        "--token",
        "dead",
        "--title",
        "Hi",
        "--body",
        "Yo",
    )
    assert await anyio.to_thread.run_sync(send_hms.run, args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["code"] == "80100000"
    assert printed["results"][1]["error"]["error"] == "UnregisteredError"
    args = cli_args("--emulator", str(config), "--subscribe", "news", "--token", "t1")
    await anyio.to_thread.run_sync(send_hms.run, args)
    args = cli_args(
        "--emulator", str(config), "--call", "query_subscribe_list", "--params", '{"token": "t1"}'
    )
    await anyio.to_thread.run_sync(send_hms.run, args)
    outputs = capsys.readouterr().out
    assert '"name": "news"' in outputs


def test_cli_without_credentials_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULLKIN_HMS_APP_ID", raising=False)
    monkeypatch.delenv("PULLKIN_HMS_APP_SECRET", raising=False)
    with pytest.raises(ConfigError, match="PULLKIN_HMS_APP_SECRET"):
        send_hms.run(cli_args("--token", "t1", "--title", "x"))


def test_cli_rejects_unknown_credential_fields(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text('{"app_id": "1", "app_secret": "s", "password": "x"}')
    with pytest.raises(ConfigError, match="password"):
        send_hms.run(cli_args("--credentials", str(path), "--token", "t1", "--title", "x"))
