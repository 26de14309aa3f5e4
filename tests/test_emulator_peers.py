"""Real peers against the emulator: firebase-admin (FCM v1, topics) and pywebpush (RFC
8030 + VAPID), unchanged except for the URLs and the CA they trust.

Both libraries are synchronous (requests), so they run in a worker thread while the
emulator serves on the test's event loop.  ``mcs_received`` then logs the device in over
MCS (the codec on a raw TLS socket) and returns what its session receives.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import firebase_admin
import pytest
from firebase_admin import credentials, exceptions, messaging
from pywebpush import WebPushException, webpush
from test_emulator_support import (
    WebDevice,
    android_device,
    app_data,
    client,
    delivered_stanzas,
    mcs_received,
    web_device,
)

from pullkin.crypto import decrypt
from pullkin.emulator import Emulator

pytestmark = [
    pytest.mark.anyio,
    # firebase-admin 7.7 deprecates Message.token in favour of Message.fid; both work.
    pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning"),
]

T = TypeVar("T")
_apps = itertools.count()
AdminApp = Callable[[Emulator], AbstractAsyncContextManager[firebase_admin.App]]


async def _in_thread(function: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(function)


@pytest.fixture
def trust_emulator(monkeypatch: pytest.MonkeyPatch) -> Callable[[Emulator], None]:
    """Make requests (both peers' HTTP stack) trust the emulator's CA, no proxy."""

    def trust(emu: Emulator) -> None:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_path))
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_path))  # httpx (send_each_async)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)

    return trust


@pytest.fixture
def admin_app(
    monkeypatch: pytest.MonkeyPatch, trust_emulator: Callable[[Emulator], None]
) -> AdminApp:
    """A firebase-admin app with the emulator's service account; only URLs redirected.

    Used inside ``async with Emulator()`` so its connections close before the emulator.
    """

    @asynccontextmanager
    async def make(emu: Emulator) -> AsyncIterator[firebase_admin.App]:
        trust_emulator(emu)
        template = emu.endpoints.fcm_send.replace("{project_id}", "{0}")
        monkeypatch.setattr(messaging._MessagingService, "FCM_URL", template)
        monkeypatch.setattr(messaging._MessagingService, "IID_URL", emu.endpoints.iid)
        cred = credentials.Certificate(emu.service_account_info)
        app = firebase_admin.initialize_app(cred, name=f"pullkin-emu-{next(_apps)}")
        service = messaging._get_messaging_service(app)
        # firebase-admin >= 7.7 manages topics per token under the FCM host.
        project = emu.firebase_config.project_id
        service._fcm_topic_url = f"{emu.url}/v1/projects/{project}/registrations"
        try:
            yield app
        finally:
            service._client.close()  # the requests session (and its token session)
            await _in_thread(lambda: firebase_admin.delete_app(app))

    return make


async def _web_json(emu: Emulator, device: WebDevice) -> dict[str, Any]:
    """The decrypted JSON the device's MCS session receives (and acks)."""
    [stanza] = await mcs_received(emu, device.android_id, device.security_token)
    payload: dict[str, Any] = json.loads(decrypt(stanza.raw_data, app_data(stanza), device.keys))
    return payload


# --- firebase-admin -----------------------------------------------------------------


async def test_firebase_admin_send_reaches_the_web_device(admin_app: AdminApp) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        device = await web_device(session, emu)
        message = messaging.Message(
            token=device.fcm_token,
            notification=messaging.Notification(title="Hello", body="from firebase-admin"),
            data={"order": "42"},
            webpush=messaging.WebpushConfig(
                fcm_options=messaging.WebpushFCMOptions(link="https://example.com/o/42")
            ),
        )
        name = await _in_thread(lambda: messaging.send(message, app=app))
        payload = await _web_json(emu, device)
    assert name.startswith(f"projects/{emu.firebase_config.project_id}/messages/0:")
    assert [delivery.android_id for delivery in emu.deliveries()] == [device.android_id]
    assert payload["notification"]["title"] == "Hello"
    assert payload["notification"]["click_action"] == "https://example.com/o/42"
    assert payload["data"] == {"order": "42"}


async def test_firebase_admin_send_each_async_speaks_http2_to_the_emulator(
    admin_app: AdminApp,
) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        device = await web_device(session, emu)
        messages = [messaging.Message(token=device.fcm_token, data={"n": str(n)}) for n in range(3)]
        messages.append(messaging.Message(token=device.fcm_token[:-4] + "dead"))
        # Its async client refreshes the OAuth token with a blocking call on the event
        # loop, which the in-process emulator cannot answer: a dry run (in a thread)
        # gets the token beforehand.
        await _in_thread(lambda: messaging.send(messages[0], dry_run=True, app=app))
        response = await messaging.send_each_async(messages, app=app)
        await messaging._get_messaging_service(app)._async_client.aclose()
        stanzas = await mcs_received(emu, device.android_id, device.security_token, count=3)
        assert emu.http2_connections == 1
    assert response.success_count == 3
    assert isinstance(response.responses[3].exception, messaging.UnregisteredError)
    assert [r.message_id for r in response.responses[:3]] == [
        f"projects/{emu.firebase_config.project_id}/messages/{s.persistent_id}" for s in stanzas
    ]


async def test_firebase_admin_send_by_fid_reaches_the_installation(admin_app: AdminApp) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        device = await web_device(session, emu)
        message = messaging.Message(fid=device.fid, data={"via": "fid"})
        await _in_thread(lambda: messaging.send(message, app=app))
        assert (await _web_json(emu, device))["data"] == {"via": "fid"}


async def test_firebase_admin_android_config_reaches_the_android_device(
    admin_app: AdminApp,
) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        device = await android_device(session, emu)
        message = messaging.Message(
            token=device.token,
            data={"k": "v"},
            android=messaging.AndroidConfig(
                ttl=90, priority="high", collapse_key="c",
                notification=messaging.AndroidNotification(title="T", channel_id="news"),
            ),
        )  # fmt: skip
        await _in_thread(lambda: messaging.send(message, app=app))
        [stanza] = await mcs_received(emu, device.android_id, device.security_token)
    data = app_data(stanza)
    assert (stanza.ttl, stanza.token) == (90, "c")
    assert (data["k"], data["gcm.n.title"], data["gcm.n.android_channel_id"]) == ("v", "T", "news")
    assert data["google.delivered_priority"] == "high"


async def test_firebase_admin_dry_run_delivers_nothing(admin_app: AdminApp) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        device = await web_device(session, emu)
        message = messaging.Message(token=device.fcm_token, data={"a": "b"})
        name = await _in_thread(lambda: messaging.send(message, dry_run=True, app=app))
    assert name.startswith("projects/")
    assert delivered_stanzas(emu, device.android_id) == []


async def test_firebase_admin_maps_emulator_errors_to_its_exception_classes(
    admin_app: AdminApp,
) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        foreign = await android_device(session, emu, sender="999999999999")

        def send(token: str) -> Exception:
            try:
                messaging.send(messaging.Message(token=token, data={"a": "b"}), app=app)
            except exceptions.FirebaseError as exc:
                return exc
            raise AssertionError("the emulator accepted a message it must refuse")

        unregistered = await _in_thread(lambda: send("abc:APA91b" + "u" * 140))
        mismatch = await _in_thread(lambda: send(foreign.token))
        malformed = await _in_thread(lambda: send("not-a-token"))
    assert isinstance(unregistered, messaging.UnregisteredError)
    assert isinstance(mismatch, messaging.SenderIdMismatchError)
    assert isinstance(malformed, exceptions.InvalidArgumentError)


async def test_firebase_admin_topic_subscription_and_send(admin_app: AdminApp) -> None:
    async with Emulator() as emu, client(emu) as session, admin_app(emu) as app:
        first = await web_device(session, emu)
        second = await web_device(session, emu)

        def legacy_subscribe() -> messaging.TopicManagementResponse:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return messaging.subscribe_to_topic_legacy([second.fcm_token], "news", app=app)

        v1 = await _in_thread(lambda: messaging.subscribe_to_topic([first.fcm_token], "news", app))
        legacy = await _in_thread(legacy_subscribe)
        bad = await _in_thread(
            lambda: messaging.subscribe_to_topic(["abc:APA91b" + "w" * 140], "news", app)
        )
        message = messaging.Message(topic="news", data={"breaking": "yes"})
        await _in_thread(lambda: messaging.send(message, app=app))
        assert (await _web_json(emu, first))["data"] == {"breaking": "yes"}
        assert (await _web_json(emu, second))["data"] == {"breaking": "yes"}
    assert (v1.success_count, legacy.success_count) == (1, 1)
    assert (bad.failure_count, bad.errors[0].reason) == (1, "NOT_FOUND")


# --- pywebpush ----------------------------------------------------------------------


def _subscription(emu: Emulator, device: WebDevice) -> dict[str, Any]:
    return {
        "endpoint": emu.endpoints.webpush_url(device.gcm_token),
        "keys": {"p256dh": device.keys.public_key, "auth": device.keys.auth_secret},
    }


@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
async def test_pywebpush_push_reaches_the_device(
    encoding: str, trust_emulator: Callable[[Emulator], None], tmp_path: Path
) -> None:
    async with Emulator() as emu, client(emu) as session:
        trust_emulator(emu)
        device = await web_device(session, emu, sender=emu.vapid_keys.public_key)
        pem = tmp_path / "vapid.pem"
        pem.write_text(emu.vapid_keys.private_pem)
        response = await _in_thread(
            lambda: webpush(
                _subscription(emu, device),
                data="hello from pywebpush",
                vapid_private_key=str(pem),
                vapid_claims={"sub": "mailto:ops@example.com"},
                content_encoding=encoding,
                ttl=60,
            )
        )
        [stanza] = await mcs_received(emu, device.android_id, device.security_token)
    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{emu.url}/fcm/send/0:")
    assert stanza.ttl == 60
    assert decrypt(stanza.raw_data, app_data(stanza), device.keys) == b"hello from pywebpush"


async def test_pywebpush_with_another_vapid_key_is_refused_with_403(
    trust_emulator: Callable[[Emulator], None],
) -> None:
    async with Emulator() as emu, client(emu) as session:
        trust_emulator(emu)
        device = await web_device(session, emu, sender=emu.vapid_keys.public_key)
        other = Emulator().vapid_keys  # a fresh key pair the registration never saw

        def push() -> WebPushException:
            try:
                webpush(_subscription(emu, device), data="x", vapid_private_key=other.private_key,
                        vapid_claims={"sub": "mailto:ops@example.com"})  # fmt: skip
            except WebPushException as exc:
                return exc
            raise AssertionError("a push signed with another key was accepted")

        refused = await _in_thread(push)
    assert refused.response is not None
    assert refused.response.status_code == 403
    assert delivered_stanzas(emu, device.android_id) == []
