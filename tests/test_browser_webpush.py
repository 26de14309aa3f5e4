"""Web Push end to end in a real, headless Chromium whose push service is the emulator:
subscribe, Web Push and FCM v1 sends, a burst, unsubscribe, and a message queued while
the browser was closed.  The service worker (examples/webpush/sw.js) reports every push
event to the test's web server, in the order it got them."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _browser_support import EXAMPLE, Site, browser, need_chromium, site, subscribed
from _receiver_support import wait_for

from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.emulator.chromium import Chromium, rewrite_subscription
from pullkin.errors import UnregisteredError
from pullkin.senders import FcmSender, WebPushSender
from pullkin.senders.fcm import Message, Notification

__all__ = ["browser", "site"]  # fixtures

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INSTANCE_ID = re.compile(r"[cdef][A-Za-z0-9_-]{10}")
CHROME_GUID = r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{9}-V2"


def web_push(emu: Emulator) -> WebPushSender:
    return WebPushSender(
        emu.vapid_keys.private_pem, "mailto:dev@example.com", ssl_context=emu.endpoints.ssl_context
    )


def chromium_registration(emu: Emulator, subscription: dict[str, Any]) -> Any:
    token = subscription["endpoint"].rsplit("/", 1)[1]
    return emu.state.gcm[token]


async def fcm_token_for(emu: Emulator, subscription: dict[str, Any]) -> str:
    """What the Firebase JS SDK does with a subscription: an installation, then an FCM
    registration of the endpoint and keys; the answer is the FCM token."""
    config = emu.firebase_config
    base = f"{emu.url}/v1/projects/{config.project_id}"
    headers = {"x-goog-api-key": config.api_key}
    async with aiohttp.ClientSession() as http:
        body = {"fid": "cAbCdEfGhIjKlMnOpQrStU", "authVersion": "FIS_v2",
                "appId": config.app_id, "sdkVersion": "w:0.6.17"}  # fmt: skip
        async with http.post(
            f"{base}/installations", json=body, headers=headers, ssl=emu.endpoints.ssl_context
        ) as response:
            fis = (await response.json())["authToken"]["token"]
        web = {**subscription["keys"], "endpoint": subscription["endpoint"],
               "applicationPubKey": emu.vapid_keys.public_key}  # fmt: skip
        async with http.post(
            f"{base}/registrations", json={"web": web},
            headers={**headers, "x-goog-firebase-installations-auth": f"FIS {fis}"},
            ssl=emu.endpoints.ssl_context,
        ) as response:  # fmt: skip
            assert response.status == 200, await response.text()
            token: str = (await response.json())["token"]
    return token


async def test_chromium_subscribes_the_way_pullkin_registers(
    emu: Emulator, site: Site, browser: Chromium
) -> None:
    """The receiver compared with the real thing on the same emulator: check-in
    version, InstanceID app id and instance id shapes, and the MCS LoginRequest."""
    subscription = await subscribed(browser, site, emu.vapid_keys.public_key)
    chromium = chromium_registration(emu, subscription)
    chromium_device = emu.state.devices[chromium.android_id]
    await wait_for(lambda: chromium.android_id in emu.mcs.login_requests)
    chromium_login = emu.mcs.login_requests[chromium.android_id]

    async with Pullkin(emu.endpoints) as client:
        credentials = await client.register_app(emu.firebase_config)
        client._start(None)
        await client.wait_connected()
        ours = emu.state.gcm[credentials.gcm.token]
        our_login = emu.mcs.login_requests[ours.android_id]
        await client.stop()

    assert chromium.app == ours.app == "org.chromium.linux"
    assert re.fullmatch(rf"wp:{site.origin}/#{CHROME_GUID}", chromium.subtype)
    assert re.fullmatch(rf"wp:https://{emu.firebase_config.project_id}\.firebaseapp\.com/#{CHROME_GUID}",
                        ours.subtype)  # fmt: skip
    assert INSTANCE_ID.fullmatch(chromium.instance_id or "")
    assert INSTANCE_ID.fullmatch(ours.instance_id or "")
    assert chromium.sender == emu.vapid_keys.public_key
    major = chromium_device.chrome_version.split(".")[0]
    assert int(major) >= 156
    for login, device in ((chromium_login, chromium_device), (our_login, None)):
        version = device.chrome_version if device else credentials.gcm.chrome_version
        assert login.client_id == f"chrome-{version}"
        assert login.device_id == f"android-{login.android_id:x}"
        assert (login.heartbeat_stat_ms, login.heartbeat_interval_ms, login.settings) == (
            None, None, ()
        )  # fmt: skip


async def test_web_push_and_fcm_v1_reach_the_service_worker_a_burst_in_order(
    emu: Emulator, site: Site, browser: Chromium
) -> None:
    subscription = rewrite_subscription(
        await subscribed(browser, site, emu.vapid_keys.public_key), emu
    )
    async with web_push(emu) as sender:
        await sender.send(subscription, {"hello": "browser"})
        assert await site.next_push() == {"hello": "browser"}
        for n in range(12):
            await sender.send(subscription, {"n": n}, encoding="aesgcm" if n % 2 else None)
        reports = [await site.next_report() for _ in range(12)]
    assert [r["seq"] for r in reports] == list(range(2, 14))
    assert [r["text"] for r in reports] == [f'{{"n":{n}}}' for n in range(12)]

    token = await fcm_token_for(emu, subscription)
    async with FcmSender(emu.service_account_info, endpoints=emu.endpoints) as fcm:
        await fcm.send(Message(token=token, notification=Notification(title="Hi", body="v1"),
                               data={"order": "42"}))  # fmt: skip
    payload = await site.next_push()
    assert payload["notification"] == {"title": "Hi", "body": "v1"}
    assert payload["data"] == {"order": "42"}
    assert payload["from"] == emu.firebase_config.sender_id


async def test_unsubscribe_deletes_the_subscription_and_later_pushes_are_410(
    emu: Emulator, site: Site, browser: Chromium
) -> None:
    subscription = await subscribed(browser, site, emu.vapid_keys.public_key)
    token = chromium_registration(emu, subscription).token
    local = rewrite_subscription(subscription, emu)
    fcm_token = await fcm_token_for(emu, local)
    page = await browser.new_page(site.origin + "/")
    assert await page.evaluate("unsubscribe()") is True
    await wait_for(lambda: token in emu.state.deleted_tokens, within=20)
    async with web_push(emu) as sender:
        with pytest.raises(UnregisteredError) as caught:
            await sender.send(local, {"too": "late"})
    assert caught.value.http_status == 410
    with pytest.raises(UnregisteredError):
        await emu.send(fcm_token, data={"too": "late"})


async def test_a_push_sent_while_the_browser_is_closed_arrives_after_restart(
    emu: Emulator, site: Site, browser: Chromium
) -> None:
    subscription = rewrite_subscription(
        await subscribed(browser, site, emu.vapid_keys.public_key), emu
    )
    await browser.stop()
    async with web_push(emu) as sender:
        result = await sender.send(subscription, {"while": "closed"})
    assert result.status == 201
    await browser.start()  # no page is opened: the push wakes the service worker
    assert await site.next_push(timeout=30) == {"while": "closed"}


async def test_the_webpush_example_passes_under_pytest(tmp_path: Path) -> None:
    """examples/webpush/test_webpush.py, run the way its reader runs it."""
    need_chromium()
    example = EXAMPLE / "test_webpush.py"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
        str(example), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()
    assert "1 passed" in output.decode()
