"""AzureNotificationHub: request shapes against the captured official-SDK requests
(vendors/azure-nh.md §3), and installation/registration management on the emulator."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _local_http import catch_all, serve_local
from aiohttp import web

from pullkin.emulator import Emulator
from pullkin.emulator.vendors.azure import check_sas
from pullkin.errors import ConfigError, InvalidArgumentError, NotFoundError, SendError
from pullkin.senders._http import RetryPolicy
from pullkin.senders.azure import (
    AzureNotification,
    AzureNotificationHub,
    Installation,
    InstallationPatch,
    Registration,
)
from pullkin.senders.azure_models import parse_sas_token, sas_token

pytest_plugins = ["_vendor_support"]

pytestmark = pytest.mark.anyio

CONNECTION_STRING = "Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=2hV0b1Sf5nL2yQn+0tXwYd4m7P8r9sQ1uK3vW6xZ/aA="
KEY = "2hV0b1Sf5nL2yQn+0tXwYd4m7P8r9sQ1uK3vW6xZ/aA="


@dataclass
class Capture:
    url: str = ""
    status: int = 201
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            {
                "method": request.method,
                "path": request.raw_path.split("?")[0],
                "query": request.query_string,
                "headers": request.headers.copy(),
                "body": await request.read(),
            }
        )
        return web.Response(
            status=self.status,
            headers={
                "Location": f"https://mynamespace.servicebus.windows.net/MyHub/messages/n-{len(self.requests)}?api-version=2020-06",
                "TrackingId": "track-1",
            },
        )


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    state = Capture()
    runner, port = await serve_local(catch_all(state.handle))
    state.url = f"http://127.0.0.1:{port}/"
    yield state
    await runner.cleanup()


def hub(capture: Capture) -> AzureNotificationHub:
    return AzureNotificationHub(
        CONNECTION_STRING, "MyHub", base_url=capture.url, retry=RetryPolicy(attempts=1)
    )


def assert_sas_valid_for_the_namespace(headers: Any) -> None:
    fields = parse_sas_token(headers["Authorization"])
    assert fields["sr"] == "https%3A%2F%2Fmynamespace.servicebus.windows.net%2F"
    expiry = int(fields["se"])
    assert time.time() < expiry <= time.time() + 3600
    assert headers["Authorization"] == sas_token(
        "https://mynamespace.servicebus.windows.net/",
        "DefaultFullSharedAccessSignature",
        KEY,
        expiry,
    )


async def test_tag_send_matches_the_official_sdk_capture(capture: Capture) -> None:
    async with hub(capture) as nh:
        outcome = await nh.send_apple_notification(
            {"aps": {"alert": "Hello"}}, "user:123 && lang:en"
        )
    [sent] = capture.requests
    assert (sent["method"], sent["path"], sent["query"]) == (
        "POST",
        "/MyHub/messages/",
        "api-version=2020-06",
    )
    headers = sent["headers"]
    assert headers["x-ms-version"] == "2020-06"
    assert headers["ServiceBusNotification-Format"] == "apple"
    assert headers["ServiceBusNotification-Tags"] == "user:123 && lang:en"
    assert headers["Content-Type"] == "application/json;charset=utf-8"
    assert sent["body"] == b'{"aps":{"alert":"Hello"}}'
    assert headers["x-ms-client-request-id"]
    assert_sas_valid_for_the_namespace(headers)
    assert (outcome.state, outcome.notification_id, outcome.tracking_id) == (
        "Enqueued",
        "n-1",
        "track-1",
    )


async def test_direct_send_matches_the_official_sdk_capture(capture: Capture) -> None:
    async with hub(capture) as nh:
        note = AzureNotification(
            "fcmv1", {"message": {"notification": {"title": "T", "body": "B"}}}
        )
        await nh.send_direct_notification(note, "fcm-token-1")
    [sent] = capture.requests
    assert sent["query"] == "api-version=2020-06&direct=true"
    assert sent["headers"]["ServiceBusNotification-Format"] == "fcmv1"
    assert sent["headers"]["ServiceBusNotification-DeviceHandle"] == "fcm-token-1"
    assert sent["body"] == b'{"message":{"notification":{"title":"T","body":"B"}}}'


async def test_test_send_is_a_query_parameter_never_a_header(capture: Capture) -> None:
    async with hub(capture) as nh:
        await nh.send_template_notification({"title": "Hi"}, test=True)
    [sent] = capture.requests
    assert sent["query"] == "api-version=2020-06&test=true"
    assert sent["headers"]["ServiceBusNotification-Format"] == "template"
    assert not [h for h in sent["headers"] if "test" in h.lower() or "debug" in h.lower()]
    assert sent["body"] == b'{"title":"Hi"}'


async def test_scheduled_send_and_cancel(capture: Capture) -> None:
    when = dt.datetime(2023, 11, 15, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    async with hub(capture) as nh:
        outcome = await nh.schedule_notification(
            AzureNotification("template", {"a": "b"}), when, ["x"]
        )
        capture.status = 200
        await nh.cancel_scheduled_notification("n-1")
    schedule, cancel = capture.requests
    assert schedule["path"] == "/MyHub/schedulednotifications/"
    assert schedule["headers"]["ServiceBusNotification-ScheduleTime"] == "2023-11-15T00:00:00.000Z"
    assert outcome.state == "Scheduled"
    assert (cancel["method"], cancel["path"]) == ("DELETE", "/MyHub/schedulednotifications/n-1")


async def test_windows_sends_carry_the_wns_type(capture: Capture) -> None:
    async with hub(capture) as nh:
        await nh.send_windows_notification("<toast><visual/></toast>", {"sports", "news"})
        await nh.send_windows_notification(b"\x01raw", wns_type="wns/raw")
        with pytest.raises(InvalidArgumentError, match="wns_type"):
            await nh.send_windows_notification("<unknown/>")
    toast, raw = capture.requests
    assert toast["headers"]["X-WNS-Type"] == "wns/toast"
    assert toast["headers"]["Content-Type"] == "application/xml"
    assert set(toast["headers"]["ServiceBusNotification-Tags"].split(" || ")) == {"sports", "news"}
    assert raw["headers"]["Content-Type"] == "application/octet-stream"


async def test_mpns_sends_carry_the_target_and_class_like_the_sample(capture: Capture) -> None:
    async with hub(capture) as nh:
        await nh.send_mpns_notification("<wp:Notification><wp:Toast/></wp:Notification>", "a")
        await nh.send_mpns_notification("<wp:Notification><wp:Tile/></wp:Notification>")
    toast, tile = capture.requests
    assert toast["headers"]["ServiceBusNotification-Format"] == "windowsphone"
    assert toast["headers"]["X-WindowsPhone-Target"] == "toast"
    assert toast["headers"]["X-NotificationClass"] == "2"
    assert (tile["headers"]["X-WindowsPhone-Target"], tile["headers"]["X-NotificationClass"]) == (
        "tile",
        "1",
    )
    assert toast["headers"]["Content-Type"] == "application/xml"


async def test_direct_batch_is_chunked_at_1000_handles_as_multipart(capture: Capture) -> None:
    handles = [f"h{i}" for i in range(2500)]
    async with hub(capture) as nh:
        outcomes = await nh.send_direct_batch_notification(
            AzureNotification("gcm", {"data": {"a": "1"}}), handles
        )
    assert len(outcomes) == 3
    counts = []
    for sent in capture.requests:
        assert sent["path"] == "/MyHub/messages/$batch"
        assert sent["query"] == "api-version=2020-06&direct=true"
        boundary = sent["headers"]["Content-Type"].split('boundary="')[1].rstrip('"')
        parts = sent["body"].split(f"--{boundary}".encode())
        assert b"name=notification" in parts[1]
        assert b'{"data":{"a":"1"}}' in parts[1]
        counts.append(len(json.loads(parts[2].split(b"\r\n\r\n", 1)[1])))
    assert counts == [1000, 1000, 500]


async def test_browser_direct_send_carries_the_subscription_keys(capture: Capture) -> None:
    async with hub(capture) as nh:
        note = AzureNotification("browser", {"title": "x"})
        await nh.send_direct_notification(
            note, {"endpoint": "https://push.example/x", "p256dh": "P", "auth": "A"}
        )
        with pytest.raises(InvalidArgumentError, match="subscription"):
            await nh.send_direct_notification(note, "just-a-string")
    headers = capture.requests[0]["headers"]
    assert (headers["ServiceBusNotification-DeviceHandle"], headers["P256DH"], headers["Auth"]) == (
        "https://push.example/x",
        "P",
        "A",
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda nh: nh.send_template_notification({"a": 1}), "flat dict"),
        (lambda nh: nh.send_apple_notification({"aps": {"alert": "x" * 70000}}), "64 KB"),
        (lambda nh: nh.send_apple_notification({"aps": {}}, "bad tag!"), "tag"),
        (
            lambda nh: nh.schedule_notification(
                AzureNotification("template", {}), dt.datetime(2030, 1, 1)
            ),
            "timezone-aware",
        ),
        (
            lambda nh: nh.send_direct_batch_notification(AzureNotification("gcm", {}), []),
            "non-empty",
        ),
    ],
)
async def test_bad_input_is_rejected_before_any_request(
    capture: Capture, call: Any, match: str
) -> None:
    async with hub(capture) as nh:
        with pytest.raises(InvalidArgumentError, match=match):
            await call(nh)
    assert capture.requests == []


@pytest.mark.parametrize(
    "text",
    ["", "Endpoint=sb://x/", "nonsense", "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey="],
)
def test_malformed_connection_strings_fail_in_the_constructor(text: str) -> None:
    with pytest.raises(ConfigError):
        AzureNotificationHub(text, "hub")


def test_hub_name_is_required() -> None:
    with pytest.raises(ConfigError, match="hub_name"):
        AzureNotificationHub(CONNECTION_STRING, "a/b")


# --- the emulator's SAS check ------------------------------------------------------------


def test_the_fake_verifies_signature_expiry_and_audience() -> None:
    url = "https://mynamespace.servicebus.windows.net/myhub/messages/"
    future = int(time.time()) + 600
    token = sas_token(
        "https://mynamespace.servicebus.windows.net/",
        "DefaultFullSharedAccessSignature",
        KEY,
        future,
    )
    assert check_sas(token, KEY, url, time.time()) is None
    assert "expired" in (check_sas(token, KEY, url, future + 1) or "")
    assert "signature" in (check_sas(token, "other-key", url, time.time()) or "")
    assert "audience" in (
        check_sas(token, KEY, "https://elsewhere.example/myhub/", time.time()) or ""
    )
    hub_only = sas_token(
        "https://mynamespace.servicebus.windows.net/otherhub",
        "DefaultFullSharedAccessSignature",
        KEY,
        future,
    )
    assert "audience" in (check_sas(hub_only, KEY, url, time.time()) or "")
    assert "missing" in (check_sas(None, KEY, url, time.time()) or "")
    assert "malformed" in (check_sas("SharedAccessSignature sr=x", KEY, url, time.time()) or "")


def test_the_fake_accepts_the_python_samples_lower_case_hub_token() -> None:
    # Vector 2 style (audience = hub URL, lower-case escapes) must verify too.
    from urllib.parse import quote

    from pullkin.senders.azure_models import sas_signature

    future = int(time.time()) + 600
    sr = quote("https://mynamespace.servicebus.windows.net/MyHub", safe="").lower()
    sig = quote(sas_signature(f"{sr}\n{future}", KEY))
    token = (
        f"SharedAccessSignature sig={sig}&se={future}&skn=DefaultFullSharedAccessSignature&sr={sr}"
    )
    assert (
        check_sas(
            token, KEY, "https://mynamespace.servicebus.windows.net/MyHub/messages/", time.time()
        )
        is None
    )


# --- management on the emulator --------------------------------------------------------------


async def test_installations_create_get_patch_delete(
    emu_hub: tuple[Emulator, AzureNotificationHub],
) -> None:
    _, nh = emu_hub
    await nh.create_or_update_installation(
        Installation("inst-1", "apns", "00fc13ad", ("likes_hockey",))
    )
    got = await nh.get_installation("inst-1")
    assert (got.platform, got.push_channel, got.tags) == ("apns", "00fc13ad", ("likes_hockey",))
    assert got.expiration_time
    await nh.update_installation(
        "inst-1",
        [
            InstallationPatch("add", "/tags", "likes_football"),
            {"op": "remove", "path": "/tags/likes_hockey"},
            InstallationPatch("replace", "/pushChannel", "beef"),
            InstallationPatch("add", "/templates/t1", {"body": '{"aps":{"alert":"$(m)"}}'}),
        ],
    )
    got = await nh.get_installation("inst-1")
    assert (got.push_channel, got.tags, set(got.templates)) == ("beef", ("likes_football",), {"t1"})
    await nh.delete_installation("inst-1")
    with pytest.raises(NotFoundError):
        await nh.get_installation("inst-1")


async def test_registrations_crud_with_etags(
    emu_hub: tuple[Emulator, AzureNotificationHub],
) -> None:
    _, nh = emu_hub
    created = await nh.create_registration(Registration("fcmv1", "tok-1", ("a", "b")))
    assert created.registration_id
    assert created.etag == "1"
    assert (await nh.get_registration(created.registration_id)).pns_handle == "tok-1"
    changed = Registration(
        "fcmv1", "tok-2", ("a",), registration_id=created.registration_id, etag=created.etag
    )
    updated = await nh.update_registration(changed)
    assert (updated.pns_handle, updated.etag) == ("tok-2", "2")
    with pytest.raises(SendError) as stale:
        await nh.update_registration(changed)  # still carries etag 1
    assert stale.value.http_status == 412
    await nh.delete_registration(created.registration_id)
    with pytest.raises(NotFoundError):
        await nh.get_registration(created.registration_id)


async def test_registration_ids_and_create_or_update(
    emu_hub: tuple[Emulator, AzureNotificationHub],
) -> None:
    _, nh = emu_hub
    reg_id = await nh.create_registration_id()
    stored = await nh.create_or_update_registration(
        Registration(
            "apple",
            "ABCDEF",
            ("x",),
            registration_id=reg_id,
            template='{"aps":{"alert":"$(m)"}}',
            template_name="t",
        )
    )
    assert stored.registration_id == reg_id
    assert (stored.template, stored.template_name) == ('{"aps":{"alert":"$(m)"}}', "t")
    with pytest.raises(InvalidArgumentError, match="registration_id"):
        await nh.create_or_update_registration(Registration("apple", "ABCDEF"))


async def test_list_by_tag_pages_with_continuation_tokens(
    emu_hub: tuple[Emulator, AzureNotificationHub],
) -> None:
    _, nh = emu_hub
    for i in range(5):
        await nh.create_registration(
            Registration("gcm", f"t{i}", ("even" if i % 2 == 0 else "odd",))
        )
    page = await nh.list_registrations_by_tag("even", top=2)
    assert [r.pns_handle for r in page.registrations] == ["t0", "t2"]
    assert page.continuation_token
    rest = await nh.list_registrations_by_tag(
        "even", top=2, continuation_token=page.continuation_token
    )
    assert ([r.pns_handle for r in rest.registrations], rest.continuation_token) == (["t4"], None)
    assert len((await nh.list_registrations()).registrations) == 5


async def test_scheduled_send_is_recorded_and_cancelled(
    emu_hub: tuple[Emulator, AzureNotificationHub],
) -> None:
    emu, nh = emu_hub
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    outcome = await nh.schedule_notification(AzureNotification("template", {"m": "later"}), when)
    assert outcome.notification_id
    assert emu.inbox("azure")[-1]["kind"] == "scheduled"
    await nh.cancel_scheduled_notification(outcome.notification_id)
    with pytest.raises(NotFoundError):
        await nh.cancel_scheduled_notification(outcome.notification_id)
