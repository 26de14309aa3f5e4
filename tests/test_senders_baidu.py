"""BaiduSender: PHP-urlencode signing (fixed vectors A, B, C verbatim), parameter
limits, result codes, and every Channel method against the emulator's Baidu fake
(which recomputes the sign over what it received).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote_plus

import anyio
import pytest
from _vendor_support import emulator_config_file, parse_cli, vendor_sender
from hypothesis import given
from hypothesis import strategies as st

from pullkin.commands import send_baidu
from pullkin.emulator import Emulator
from pullkin.emulator.vendors import baidu as baidu_fake
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
from pullkin.senders.baidu import (
    BaiduAndroidNotification,
    BaiduIosNotification,
    BaiduSender,
    DeviceType,
)
from pullkin.senders.baidu_results import BaiduTimer, error_for
from pullkin.senders.baidu_sign import php_urlencode, sign

pytest_plugins = ["_vendor_support"]

URL_A = "http://api.tuisong.baidu.com/rest/3.0/push/single_device"
API_KEY = "Ljc8jEN2TpLmGDqmjvqS7xGX"
SECRET = "9pnWcMfkbeIGmbbqOI1vfK4iKrLCCRwH"
COMMON = {
    "apikey": API_KEY,
    "timestamp": 1700000000,
    "device_type": 3,
    "channel_id": "3812345678901234567",
    "msg_type": 1,
}
MSG_A = '{"title":"Hello","description":"hello world"}'
MSG_B = '{"title":"Hi~*","description":"你好 world"}'


# --- the fixed vectors ---------------------------------------------------------------


def test_vector_a_gather_encoding_and_sign() -> None:
    gather = 'POSThttp://api.tuisong.baidu.com/rest/3.0/push/single_deviceapikey=Ljc8jEN2TpLmGDqmjvqS7xGXchannel_id=3812345678901234567device_type=3msg={"title":"Hello","description":"hello world"}msg_type=1timestamp=17000000009pnWcMfkbeIGmbbqOI1vfK4iKrLCCRwH'
    encoded = "POSThttp%3A%2F%2Fapi.tuisong.baidu.com%2Frest%2F3.0%2Fpush%2Fsingle_deviceapikey%3DLjc8jEN2TpLmGDqmjvqS7xGXchannel_id%3D3812345678901234567device_type%3D3msg%3D%7B%22title%22%3A%22Hello%22%2C%22description%22%3A%22hello+world%22%7Dmsg_type%3D1timestamp%3D17000000009pnWcMfkbeIGmbbqOI1vfK4iKrLCCRwH"
    assert php_urlencode(gather) == encoded
    assert (
        sign("POST", URL_A, {**COMMON, "msg": MSG_A}, SECRET) == "b5a119753d04261a0a7fea4e52cbaa69"
    )


def test_vector_b_tilde_asterisk_and_utf8_sign_like_php_not_quote_plus() -> None:
    assert (
        "msg%3D%7B%22title%22%3A%22Hi%7E%2A%22%2C%22description%22%3A%22%E4%BD%A0%E5%A5%BD+world%22%7D"
        in php_urlencode(f"msg={MSG_B}")
    )
    assert (
        sign("POST", URL_A, {**COMMON, "msg": MSG_B}, SECRET) == "1eaf0e348b2cddbc5e4af58d192cc26d"
    )
    # What the official Python SDK computes (quote_plus keeps "~"): Baidu says 30603.
    params = {**COMMON, "msg": MSG_B}
    gather = "POST" + URL_A + "".join(f"{k}={params[k]}" for k in sorted(params)) + SECRET
    wrong = hashlib.md5(quote_plus(gather).encode()).hexdigest()
    assert wrong == "381918f4198468505780a5bbd2af1c91"


def test_vector_c_signs_whatever_parameters_are_sent() -> None:
    params = {**COMMON, "msg": MSG_A, "secretKey": SECRET}
    assert sign("POST", URL_A, params, SECRET) == "f09bf2d5d8b5208f1934c34eec35da9c"


def test_sender_builds_vector_a_from_the_model_and_never_sends_the_secret() -> None:
    baidu = BaiduSender(
        API_KEY,
        SECRET,
        device_type=3,
        base_url="http://api.tuisong.baidu.com/rest/3.0/",
        clock=lambda: 1700000000.5,
    )
    from pullkin.senders import baidu_params

    msg = BaiduAndroidNotification(title="Hello", description="hello world")
    params = {"channel_id": "3812345678901234567", **baidu_params.push(msg, now=1700000000)}
    url, form = baidu.signed_form("push/single_device", params)
    assert url == URL_A
    assert form["msg"] == MSG_A
    assert form["sign"] == "b5a119753d04261a0a7fea4e52cbaa69"
    assert SECRET not in form.values()
    assert "secretKey" not in form


@given(st.text())
def test_php_urlencode_is_reversible_and_uses_only_safe_characters(text: str) -> None:
    encoded = php_urlencode(text)
    assert set(encoded) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+%"
    )
    assert unquote_plus(encoded, errors="surrogatepass") == text


@given(st.text(alphabet=st.sampled_from("~*'()! aZ09-_.")))
def test_php_urlencode_differs_from_quote_plus_only_on_tilde(text: str) -> None:
    assert php_urlencode(text) == quote_plus(text, safe="").replace("~", "%7E")


# --- parameter limits ---------------------------------------------------------------------


def offline() -> BaiduSender:
    # Nothing listens here: a request would fail with UnavailableError, not InvalidArgument.
    return BaiduSender(API_KEY, SECRET, base_url="https://127.0.0.1:9/rest/3.0/", retry=NO_RETRY)


BAD_CALLS: list[tuple[str, Callable[[BaiduSender], Awaitable[object]]]] = [
    ("msg_expires", lambda b: b.push_all("m", msg_expires=0)),
    ("msg_expires", lambda b: b.push_all("m", msg_expires=604801)),
    ("msg_type", lambda b: b.push_all("m", msg_type=2)),
    ("deploy_status applies to iOS", lambda b: b.push_all("m", deploy_status=1, device_type=3)),
    ("deploy_status", lambda b: b.push_all("m", deploy_status=3, device_type=4)),
    ("device_type", lambda b: b.push_all("m", device_type=5)),
    ("one minute", lambda b: b.push_all("m", send_time=int(time.time()) + 30)),
    ("msg is", lambda b: b.push_all("x" * 4097)),
    ("msg must not be empty", lambda b: b.push_all("")),
    ("pass-through", lambda b: b.push_all(BaiduAndroidNotification(description="d"), msg_type=0)),
    ("tag must be 1..128", lambda b: b.push_tags("t" * 129, "m")),
    ("type must be 1", lambda b: b.push_tags("vip", "m", type=2)),
    (
        "channel_ids must hold 1..10000",
        lambda b: b.push_batch_device([str(i) for i in range(10001)], "m"),
    ),
    ("must not repeat", lambda b: b.push_batch_device(["1", "1"], "m")),
    ("not a string", lambda b: b.push_batch_device("123", "m")),
    ("topic_id", lambda b: b.push_batch_device(["1"], "m", topic_id="bad topic")),
    ("channel_id", lambda b: b.push_single_device("", "m")),
    (
        "channel_ids must hold 1..10",
        lambda b: b.add_devices_to_tag("vip", [str(i) for i in range(11)]),
    ),
    ("limit", lambda b: b.query_tags(limit=101)),
    ("start", lambda b: b.query_topic_list(start=-1)),
    (
        "range_start must not be after",
        lambda b: b.query_timer_records("t1", range_start=5, range_end=4),
    ),
    ("timer_id", lambda b: b.query_timer_records("")),
    ("msg_id", lambda b: b.query_msg_status([])),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("fragment", "call"), BAD_CALLS)
async def test_bad_arguments_fail_before_any_request(
    fragment: str, call: Callable[[BaiduSender], Awaitable[object]]
) -> None:
    async with offline() as baidu:
        with pytest.raises(InvalidArgumentError, match=fragment) as info:
            await call(baidu)
    assert info.value.vendor == "baidu"


def test_notification_models_validate_their_fields() -> None:
    with pytest.raises(InvalidArgumentError, match="open_type 1 needs a url"):
        BaiduAndroidNotification(description="d", open_type=1)
    with pytest.raises(InvalidArgumentError, match="builder_id 0"):
        BaiduAndroidNotification(
            description="d", notification_builder_id=2, notification_basic_style=7
        )
    with pytest.raises(InvalidArgumentError, match="alert"):
        BaiduIosNotification()
    ios = BaiduIosNotification(alert="hi", badge=1, custom={"key1": "value1"})
    assert ios.to_json() == {"aps": {"alert": "hi", "badge": 1}, "key1": "value1"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (30600, UnavailableError),
        (30602, InvalidArgumentError),
        (30603, UnauthenticatedError),
        (30606, UnauthenticatedError),
        (30607, UnregisteredError),
        (30608, UnregisteredError),
        (30611, NotFoundError),
        (30604, QuotaExceededError),
        (30699, QuotaExceededError),
    ],
)
def test_error_codes_map_to_error_classes(code: int, cls: type[SendError]) -> None:
    error = error_for({"request_id": 7, "error_code": code, "error_msg": "m"}, http_status=400)
    assert type(error) is cls
    assert (error.code, error.request_id, error.vendor) == (str(code), "7", "baidu")


# --- against the emulator ------------------------------------------------------------------


def sender(emu: Emulator, **kw: Any) -> BaiduSender:
    return vendor_sender(BaiduSender, "baidu", emu, **kw)


@pytest.mark.anyio
async def test_push_single_device_with_vector_b_text_is_accepted(emu: Emulator) -> None:
    async with sender(emu, device_type=DeviceType.ANDROID) as baidu:
        result = await baidu.push_msg_to_single_device(
            "3812345678901234567", BaiduAndroidNotification(title="Hi~*", description="你好 world")
        )
    assert result.msg_id.isdigit()
    assert result.send_time is not None
    (record,) = emu.inbox("baidu")
    assert record["method"] == "push/single_device"
    assert record["params"]["msg"] == MSG_B
    assert (record["params"]["msg_type"], record["params"]["device_type"]) == ("1", "3")
    assert "secretKey" not in record["params"]


@pytest.mark.anyio
async def test_a_wrong_secret_is_rejected_with_30603(emu: Emulator) -> None:
    async with sender(emu, secret_key="x" * 32) as baidu:
        with pytest.raises(UnauthenticatedError) as info:
            await baidu.push_all("hello")
    assert (info.value.code, info.value.http_status) == ("30603", 401)
    assert isinstance(info.value.request_id, str)
    assert emu.inbox("baidu") == []


@pytest.mark.anyio
async def test_push_all_and_push_tags_with_send_time_create_timers(emu: Emulator) -> None:
    later = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=5)
    async with sender(emu) as baidu:
        assert (await baidu.create_tag("vip")).ok
        await baidu.add_devices_to_tag("vip", ["11", "12"])
        timer = await baidu.push_msg_to_tag("vip", "to vip", send_time=later)
        broadcast = await baidu.push_all("to all", msg_expires=3600)
        timers = await baidu.query_timer_list(limit=10)
        records = await baidu.query_timer_records(timer.timer_id or "", start=0, limit=5)
        one = await baidu.query_timer_list(timer_id=timer.timer_id)
    assert broadcast.timer_id is None
    assert timer.timer_id is not None
    assert timer.send_time == int(later.timestamp())
    assert [t.timer_id for t in timers.result] == [timer.timer_id]
    assert isinstance(timers.result[0], BaiduTimer)
    assert timers.result[0].msg == "to vip"
    assert records.id == timer.timer_id
    assert [r.msg_id for r in records.result] == [timer.msg_id]
    assert one.total_num == 1


@pytest.mark.anyio
async def test_batch_push_topics_and_statistics(emu: Emulator) -> None:
    async with sender(emu) as baidu:
        pushed = await baidu.push_batch_uni_msg(["1", "2", "3"], "batch", topic_id="topic_1")
        status = await baidu.query_msg_status(pushed.msg_id)
        topics = await baidu.query_topic_list()
        records = await baidu.query_topic_records("topic_1", range_start=0, range_end=2**40)
        stats = await baidu.query_statistic_topic("topic_1")
        devices = await baidu.query_statistic_device()
    assert [(s.msg_id, s.success, s.total_num) for s in status.result] == [(pushed.msg_id, 3, 3)]
    assert [(t.topic_id, t.push_cnt, t.ack_cnt) for t in topics.result] == [("topic_1", 3, 3)]
    assert [r.msg_id for r in records.result] == [pushed.msg_id]
    assert list(stats.result.values()) == [3]
    assert devices.total_num == 1


@pytest.mark.anyio
async def test_tag_management_round_trip(emu: Emulator) -> None:
    baidu_fake.fake(emu).dead_channels.add("dead")
    async with sender(emu) as baidu:
        await baidu.create_tag("vip")
        added = await baidu.add_devices_to_tag("vip", ["1", "2", "dead"])
        assert [(d.channel_id, d.ok) for d in added] == [("1", True), ("2", True), ("dead", False)]
        assert (await baidu.query_device_num_in_tag("vip")).device_num == 2
        removed = await baidu.del_devices_from_tag("vip", ["1", "9"])
        assert [d.ok for d in removed] == [True, False]
        assert (await baidu.query_device_num_in_tag("vip")).device_num == 1
        tags = await baidu.query_tags(tag="vip")
        assert [t.tag for t in tags.result] == ["vip"]
        assert (await baidu.delete_tag("vip")).ok
        assert (await baidu.query_tags()).total_num == 0
        with pytest.raises(NotFoundError) as info:
            await baidu.delete_tag("vip")
    assert info.value.code == "30611"


@pytest.mark.anyio
async def test_a_channel_not_bound_to_the_app_is_unregistered(emu: Emulator) -> None:
    baidu_fake.fake(emu).dead_channels.add("4000")
    async with sender(emu) as baidu:
        with pytest.raises(UnregisteredError) as info:
            await baidu.push_single_device("4000", "hello")
    assert info.value.code == "30608"


@pytest.mark.anyio
async def test_an_expired_request_is_resigned_once_with_a_fresh_timestamp(emu: Emulator) -> None:
    stamps = [time.time() - 3600]  # the first signature is an hour old: 30606

    def clock() -> float:
        stamps.append(time.time())
        return stamps.pop(0)

    async with sender(emu, clock=clock) as baidu:
        result = await baidu.query_statistic_device()
    assert result.total_num == 1
    assert len(emu.inbox("baidu")) == 1  # the fresh one
    assert len(stamps) == 1  # signed exactly twice


@pytest.mark.anyio
async def test_a_clock_always_wrong_raises_30606(emu: Emulator) -> None:
    async with sender(emu, clock=lambda: time.time() - 3600) as baidu:
        with pytest.raises(UnauthenticatedError) as info:
            await baidu.push_all("late")
    assert info.value.code == "30606"


@pytest.mark.anyio
async def test_sign_expires_is_signed_and_honoured(emu: Emulator) -> None:
    async with sender(emu, sign_expires=60) as baidu:
        await baidu.push_all("m")
    params = emu.inbox("baidu")[0]["params"]
    assert int(params["expires"]) == int(params["timestamp"]) + 60


@pytest.mark.anyio
async def test_too_frequent_requests_are_throttled_and_retried(emu: Emulator) -> None:
    window = baidu_fake.fake(emu).request_window
    window.limit, window.seconds = 1, 0.05
    async with sender(emu, retry=NO_RETRY) as baidu:
        await baidu.push_all("one")
        with pytest.raises(QuotaExceededError) as info:
            await baidu.push_all("two")
    assert (info.value.code, info.value.http_status) == ("30699", 503)
    # Full-jitter delays are random: enough attempts that their sum outlasts the
    # 50 ms window for certain (five attempts could all come out short now and then).
    async with sender(emu, retry=RetryPolicy(attempts=20, base=0.05, cap=0.1)) as baidu:
        await baidu.push_all("three")
        await baidu.push_all("four")
    assert [r["params"]["msg"] for r in emu.inbox("baidu")] == ["one", "three", "four"]


@pytest.mark.anyio
async def test_active_timers_are_capped(emu: Emulator) -> None:
    baidu_fake.fake(emu).max_timers = 1
    later = int(time.time()) + 600
    async with sender(emu) as baidu:
        await baidu.push_all("first", send_time=later)
        with pytest.raises(QuotaExceededError) as info:
            await baidu.push_all("second", send_time=later)
    assert info.value.code == "30604"


@pytest.mark.anyio
async def test_server_errors_are_retried(emu: Emulator) -> None:
    emu.faults.http_error("baidu", 500, body='{"request_id":1,"error_code":30600,"error_msg":"x"}')
    async with sender(emu, retry=RetryPolicy(attempts=2, base=0.01)) as baidu:
        await baidu.query_statistic_device()
    assert emu.faults.fired == ["http:baidu"]


@pytest.mark.anyio
async def test_ios_notifications_with_deploy_status(emu: Emulator) -> None:
    async with sender(emu, device_type=DeviceType.IOS) as baidu:
        await baidu.push_single_device(
            "5", BaiduIosNotification(alert="hi", sound="", badge=1), deploy_status=2
        )
    params = emu.inbox("baidu")[0]["params"]
    assert params["msg"] == '{"aps":{"alert":"hi","sound":"","badge":1}}'
    assert (params["device_type"], params["deploy_status"], params["msg_type"]) == ("4", "2", "1")


def test_form_body_parses_back_to_the_signed_fields() -> None:
    baidu = BaiduSender(API_KEY, SECRET, clock=lambda: 1700000000)
    url, form = baidu.signed_form("push/all", {"msg": "a&b=c ~"})
    from urllib.parse import urlencode

    assert dict(parse_qsl(urlencode(form))) == form
    unsigned = {k: v for k, v in form.items() if k != "sign"}
    assert sign("POST", url, unsigned, SECRET) == form["sign"]


# --- the CLI module ---------------------------------------------------------------------


cli_args = functools.partial(parse_cli, send_baidu)


@pytest.mark.anyio
async def test_cli_pushes_and_calls_any_method(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = emulator_config_file(emu, tmp_path)
    args = cli_args(
        "--emulator", str(config), "--channel-id", "42", "--title", "Hi~", "--description", "你好"
    )
    assert await anyio.to_thread.run_sync(send_baidu.run, args) == 0
    assert json.loads(capsys.readouterr().out)["msg_id"]
    args = cli_args("--emulator", str(config), "--call", "create_tag", "--params", '{"tag": "vip"}')
    await anyio.to_thread.run_sync(send_baidu.run, args)
    assert json.loads(capsys.readouterr().out)["result"] == 0
    assert emu.inbox("baidu")[0]["params"]["msg"] == '{"title":"Hi~","description":"你好"}'


def test_cli_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULLKIN_BAIDU_API_KEY", "k")
    monkeypatch.delenv("PULLKIN_BAIDU_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="secret_key"):
        send_baidu.run(cli_args("--all", "--msg", "m"))


def test_cli_call_with_bad_params_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULLKIN_BAIDU_API_KEY", "k")
    monkeypatch.setenv("PULLKIN_BAIDU_SECRET_KEY", "s")
    with pytest.raises(ConfigError, match="--call create_tag"):
        send_baidu.run(cli_args("--call", "create_tag", "--params", '{"name": "x"}'))
    with pytest.raises(ConfigError, match="no method"):
        send_baidu.run(cli_args("--call", "_post"))
