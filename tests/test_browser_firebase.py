"""A Firebase web app's push flow end to end in a real Chromium, offline: the npm
``firebase`` SDK (examples/firebase-web, bundled by esbuild) on the emulator, and a
backend sending with firebase-admin.  getToken → send → onMessage (tab open) and
onBackgroundMessage (tab closed); deleteToken → UnregisteredError; the FID-based
register()/unregister() of SDK 13."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _browser_support import browser
from _firebase_web import FirebaseSite, firebase_site, firebase_web_bundle
from _receiver_support import wait_for
from firebase_admin import exceptions, messaging
from test_emulator_peers import AdminApp, admin_app, trust_emulator

from pullkin.emulator import Emulator
from pullkin.emulator.chromium import Chromium
from pullkin.emulator.devtools import Page
from pullkin.senders import FcmSender
from pullkin.senders.fcm import Message

__all__ = ["admin_app", "browser", "firebase_site", "firebase_web_bundle", "trust_emulator"]

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LINK = "https://example.com/orders/42"


async def open_app(browser: Chromium, site: FirebaseSite) -> Page:
    await browser.grant_notifications(site.origin)
    return await browser.new_page(site.origin + "/")


def shipped(**target: str) -> messaging.Message:
    return messaging.Message(
        notification=messaging.Notification(title="Shipped", body="Order 42 is on its way"),
        data={"order": "42"},
        webpush=messaging.WebpushConfig(fcm_options=messaging.WebpushFCMOptions(link=LINK)),
        **target,
    )


async def admin_send(app: Any, message: messaging.Message) -> str:
    return await anyio.to_thread.run_sync(lambda: messaging.send(message, app=app))


async def admin_refused(app: Any, message: messaging.Message) -> Exception:
    """The error firebase-admin raises for *message* (kept out of the event loop's
    frames: a live traceback would keep its HTTP connection open)."""

    def send() -> Exception:
        try:
            messaging.send(message, app=app)
        except exceptions.FirebaseError as exc:
            exc.__traceback__ = None
            return exc
        raise AssertionError("the emulator accepted a message it must refuse")

    return await anyio.to_thread.run_sync(send)


# firebase-admin 7.7 deprecates sending to tokens in favour of FIDs; getToken's users do.
@pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning")
async def test_get_token_then_foreground_and_background_messages_then_delete_token(
    emu: Emulator, firebase_site: FirebaseSite, browser: Chromium, admin_app: AdminApp
) -> None:
    page = await open_app(browser, firebase_site)
    token = await page.evaluate("pushDemo.token()")
    assert token in emu.state.fcm
    async with admin_app(emu) as app:
        await admin_send(app, shipped(token=token))
        report = await firebase_site.next_report()
        assert report["kind"] == "foreground"
        payload = report["payload"]
        assert payload["notification"] == {"title": "Shipped", "body": "Order 42 is on its way"}
        assert payload["data"] == {"order": "42"}
        assert payload["from"] == emu.firebase_config.sender_id
        assert payload["collapseKey"] == "do_not_collapse"
        assert payload["messageId"]

        await page.close()  # no tab of the app: the service worker handles it
        await admin_send(app, shipped(token=token))
        report = await firebase_site.next_report()
        assert report["kind"] == "background"
        payload = report["payload"]
        assert payload["notification"] == {"title": "Shipped", "body": "Order 42 is on its way"}
        assert payload["data"] == {"order": "42"}
        assert payload["fcmOptions"] == {"link": LINK}

        async with FcmSender(emu.service_account_info, endpoints=emu.endpoints) as fcm:
            await fcm.send(Message(token=token, data={"kind": "data only"}))
        report = await firebase_site.next_report()
        assert (report["kind"], report["payload"]["data"]) == ("background", {"kind": "data only"})

        page = await open_app(browser, firebase_site)
        assert await page.evaluate("pushDemo.deleteToken()") is True
        refused = await admin_refused(app, shipped(token=token))
    assert isinstance(refused, messaging.UnregisteredError)


async def test_register_and_unregister_by_fid(
    emu: Emulator, firebase_site: FirebaseSite, browser: Chromium, admin_app: AdminApp
) -> None:
    page = await open_app(browser, firebase_site)
    fid = await page.evaluate("pushDemo.register()")
    assert fid in emu.state.installations
    [registration] = [r for r in emu.state.fcm.values() if r.fid == fid and r.by_fid]
    async with admin_app(emu) as app:
        await admin_send(app, shipped(fid=fid))
        report = await firebase_site.next_report()
    assert report["kind"] == "foreground"
    assert report["payload"]["data"] == {"order": "42"}

    assert await page.evaluate("pushDemo.unregister()") == fid
    await wait_for(lambda: registration.token not in emu.state.fcm)
