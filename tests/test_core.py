"""PullkinCore against a plain local aiohttp server (test_core_fakes): every request it
sends is checked field by field against ../shared/protocol/register.md and checkin.md,
and the retry policy is driven by scripted faults.  No emulator involved."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re

import aiohttp
import pytest
from test_core_fakes import ANDROID_ID, SECURITY_TOKEN, FakeGoogle, Fault, fake_google

from pullkin import PullkinCore
from pullkin.endpoints import CHROME_VERSION, DEFAULT_VAPID_KEY
from pullkin.errors import (
    CheckinError,
    ConfigError,
    FcmRegisterError,
    GcmRegisterError,
    InstallationError,
)
from pullkin.models import AppCredentials, AppCredentialsKeys, FirebaseConfig, FirebaseInstallation
from pullkin.proto import checkin_pb2

pytestmark = pytest.mark.anyio

WEB = FirebaseConfig(
    api_key="AIzaSyTestKey", project_id="proj-1", app_id="1:424242:web:abc", sender_id="424242"
)
ANDROID = FirebaseConfig(
    api_key="AIzaSyTestKey",
    project_id="proj-1",
    app_id="1:424242:android:def",
    sender_id="424242",
    android_package="com.example.app",
    android_cert="0123456789abcdef0123456789abcdef01234567",
)
AIDLOGIN = f"AidLogin {ANDROID_ID}:{SECURITY_TOKEN}"
# Chrome's app id GUID: upper case, the last three characters replaced by "-V2".
CHROME_GUID = r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{9}-V2"
INSTANCE_ID = re.compile(r"[cdef][A-Za-z0-9_-]{10}")
FID = re.compile(r"^[cdef][A-Za-z0-9_-]{21}$")


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def inst(creds: AppCredentials) -> FirebaseInstallation:
    assert creds.installation is not None
    return creds.installation


def keys_of(creds: AppCredentials) -> AppCredentialsKeys:
    assert creds.keys is not None
    return creds.keys


def core(fake: FakeGoogle, sleeps: Sleeps | None = None, **kwargs: object) -> PullkinCore:
    return PullkinCore(fake.endpoints, sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)  # type: ignore[arg-type]


# --- the two flows, field by field --------------------------------------------------------


async def test_web_flow_sends_what_register_md_says() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(WEB)
    assert fake.routes == ["checkin", "register3", "installations", "registrations"]

    checkin = checkin_pb2.AndroidCheckinRequest.FromString(fake.of("checkin")[0].body)
    assert (checkin.id, checkin.security_token, checkin.version) == (0, 0, 3)
    assert fake.of("checkin")[0].headers["Content-Type"] == "application/x-protobuf"
    build = checkin.checkin.chrome_build
    assert (build.chrome_version, build.channel) == (CHROME_VERSION, build.CHANNEL_STABLE)

    # What Chromium 156 sends for PushManager.subscribe() (InstanceID GetToken, A.3).
    register = fake.of("register3")[0]
    assert register.headers["Authorization"] == AIDLOGIN
    assert register.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert register.form_keys() == [
        "app", "X-subtype", "device", "scope", "X-scope", "gmsv", "appid", "sender",
    ]  # fmt: skip
    form = register.form()
    assert form["app"] == "org.chromium.linux"
    assert re.fullmatch(rf"wp:https://proj-1\.firebaseapp\.com/#{CHROME_GUID}", form["X-subtype"])
    assert b"X-subtype=wp%3Ahttps%3A%2F%2Fproj-1.firebaseapp.com%2F%23" in register.body
    assert form["device"] == str(ANDROID_ID)
    assert (form["scope"], form["X-scope"], form["gmsv"]) == ("GCM", "GCM", "156")
    assert INSTANCE_ID.fullmatch(form["appid"])
    assert form["sender"] == DEFAULT_VAPID_KEY

    fis = fake.of("installations")[0]
    assert fis.path == "/v1/projects/proj-1/installations"
    assert fis.headers["x-goog-api-key"] == "AIzaSyTestKey"
    assert fis.headers["Content-Type"] == "application/json"
    assert fis.headers["Accept"] == "application/json"
    body = fis.json()
    assert set(body) == {"fid", "authVersion", "appId", "sdkVersion"}
    assert FID.match(body["fid"])
    assert (body["authVersion"], body["appId"]) == ("FIS_v2", "1:424242:web:abc")
    assert body["sdkVersion"].startswith("w:")

    fcm = fake.of("registrations")[0]
    assert fcm.path == "/v1/projects/proj-1/registrations"
    assert fcm.headers["x-goog-api-key"] == "AIzaSyTestKey"
    assert fcm.headers["x-goog-firebase-installations-auth"] == f"FIS {inst(creds).auth_token}"
    assert fcm.json() == {
        "web": {
            "endpoint": f"https://fcm.googleapis.com/fcm/send/{creds.gcm.token}",
            "p256dh": keys_of(creds).public_key,
            "auth": keys_of(creds).auth_secret,
        }
    }  # no applicationPubKey for the default key

    assert creds.gcm.token.startswith("gcm")
    assert creds.gcm.app_id == form["X-subtype"]
    assert creds.gcm.instance_id == form["appid"]
    assert creds.gcm.chrome_version == CHROME_VERSION
    assert (creds.gcm.android_id, creds.gcm.security_token) == (ANDROID_ID, SECURITY_TOKEN)
    assert creds.fcm.is_success
    assert creds.fcm.token.startswith("fcm")
    assert creds.installation is not None
    assert inst(creds).fid == fake.server_fid != body["fid"]  # the server's fid wins
    assert creds.config == WEB
    assert creds.encrypted


async def test_web_flow_with_a_custom_vapid_key_sends_it_twice() -> None:
    vapid = (
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
    )
    config = FirebaseConfig(**{**WEB.to_dict(), "vapid_key": vapid})
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(config)
    assert fake.of("register3")[0].form()["sender"] == vapid
    assert fake.of("registrations")[0].json()["web"]["applicationPubKey"] == vapid
    assert creds.gcm.sender == vapid


async def test_android_flow_sends_what_register_md_a4_says() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(ANDROID)
    assert fake.routes == ["checkin", "installations", "register3"]

    fis = fake.of("installations")[0]
    assert fis.headers["X-Android-Package"] == "com.example.app"
    assert fis.headers["X-Android-Cert"] == ANDROID.android_cert
    assert fis.headers["x-goog-api-key"] == "AIzaSyTestKey"
    assert fis.json()["appId"] == "1:424242:android:def"
    assert fis.json()["sdkVersion"].startswith("a:")

    register = fake.of("register3")[0]
    assert register.headers["Authorization"] == AIDLOGIN
    form = register.form()
    assert form["app"] == "com.example.app"
    assert form["cert"] == ANDROID.android_cert
    assert form["device"] == str(ANDROID_ID)
    assert (form["sender"], form["X-subtype"], form["X-scope"]) == ("424242", "424242", "*")
    assert form["X-gmp_app_id"] == "1:424242:android:def"
    assert form["X-appid"] == fake.server_fid
    assert form["X-Goog-Firebase-Installations-Auth"] == inst(creds).auth_token

    assert creds.fcm.token == creds.gcm.token
    assert creds.fcm.is_success
    assert creds.keys is None
    assert not creds.encrypted
    assert (creds.gcm.app_name, creds.gcm.sender) == ("com.example.app", "424242")


async def test_seed_register_picks_the_flow_from_android_package() -> None:
    async with fake_google() as fake, core(fake) as pk:
        web = await pk.register(424242, WEB.app_id, WEB.api_key, WEB.project_id)
        android = await pk.register(
            "424242", ANDROID.app_id, ANDROID.api_key, "proj-1", android_package="com.example.app"
        )
    assert web.config is not None
    assert web.config.flow == "web"
    assert web.keys is not None
    assert android.config is not None
    assert android.config.flow == "android"
    assert fake.of("register3")[1].form()["cert"] == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


async def test_seed_gcm_register_then_fcm_register() -> None:
    async with fake_google() as fake, core(fake) as pk:
        gcm = await pk.gcm_register("424242", WEB.app_id, firebase_project_id="proj-1")
        installation = await pk.fcm_installation(WEB.app_id, WEB.api_key, None, None, "proj-1")
        keys, fcm = await pk.fcm_register(gcm.token, WEB.api_key, "proj-1", installation)
    assert fcm.is_success
    assert fcm.error is None
    assert fake.of("registrations")[0].json()["web"]["p256dh"] == keys.public_key


async def test_seed_fcm_register_reports_refusal_in_the_error_field() -> None:
    denied = '{"error": {"code": 403, "message": "Requests are blocked.", "status": "PERMISSION_DENIED"}}'
    async with fake_google() as fake, core(fake) as pk:
        fake.fail("registrations", Fault(403, denied), Fault(403, denied))
        installation = await pk.fcm_installation(WEB.app_id, WEB.api_key, None, None, "proj-1")
        _, fcm = await pk.fcm_register("gcm:APA91b", WEB.api_key, "proj-1", installation)
        creds = await pk.register(424242, WEB.app_id, WEB.api_key, WEB.project_id)
    assert not fcm.is_success
    assert fcm.error is not None
    assert "PERMISSION_DENIED" in fcm.error
    assert not creds.fcm.is_success
    assert creds.fcm.error is not None


async def test_register_app_raises_on_fcm_refusal() -> None:
    denied = '{"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}}'
    async with fake_google() as fake, core(fake) as pk:
        fake.fail("registrations", Fault(403, denied))
        with pytest.raises(FcmRegisterError) as info:
            await pk.register_app(WEB)
    assert info.value.http_status == 403
    assert not info.value.transient


# --- check-in ------------------------------------------------------------------------------


async def test_returning_check_in_sends_the_stored_pair() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(WEB)
        gcm = await pk.check_in(creds)
    assert gcm == creds.gcm
    sent = checkin_pb2.AndroidCheckinRequest.FromString(fake.of("checkin")[1].body)
    assert (sent.id, sent.security_token) == (ANDROID_ID, SECURITY_TOKEN)


async def test_check_in_401_is_final_and_says_register_again() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        creds = await pk.register_app(WEB)
        fake.checkin_status = 401
        with pytest.raises(CheckinError, match="register again") as info:
            await pk.check_in(creds)
    assert not info.value.transient
    assert info.value.http_status == 401
    assert len(fake.of("checkin")) == 2
    assert sleeps == []


# --- retries ---------------------------------------------------------------------------------


async def test_phone_registration_error_twice_then_success() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail(
            "register3",
            Fault(body="Error=PHONE_REGISTRATION_ERROR"),
            Fault(body="Error=PHONE_REGISTRATION_ERROR"),
        )
        creds = await pk.register_app(WEB)
    assert creds.fcm.is_success
    assert len(fake.of("register3")) == 3
    assert len(sleeps) == 2
    assert all(s >= 1.0 for s in sleeps)
    assert fake.of("register3")[0].body == fake.of("register3")[2].body  # the same request again


async def test_retries_are_bounded_and_the_last_error_says_so() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail("register3", *[Fault(body="Error=PHONE_REGISTRATION_ERROR")] * 10)
        with pytest.raises(GcmRegisterError, match="gave up after 3 attempts") as info:
            await pk.gcm_register("424242", WEB.app_id, retries=2)
    assert info.value.reason == "PHONE_REGISTRATION_ERROR"
    assert info.value.transient
    assert len(fake.of("register3")) == 3
    assert len(sleeps) == 2


async def test_backoff_grows_with_full_jitter_under_the_cap() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps, backoff_base=0.5, backoff_cap=4.0) as pk:
        fake.fail("installations", *[Fault(503, "busy")] * 6)
        with pytest.raises(InstallationError):
            await pk.fcm_installation(WEB.app_id, WEB.api_key, None, None, "proj-1", retries=5)
    bounds = [0.5, 1.0, 2.0, 4.0, 4.0]
    assert len(sleeps) == 5
    assert all(0 <= s <= b for s, b in zip(sleeps, bounds, strict=True))


async def test_503_with_retry_after_is_honoured() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail("installations", Fault(503, "{}", {"Retry-After": "7"}))
        installation = await pk.fcm_installation(WEB.app_id, WEB.api_key, None, None, "proj-1")
    assert installation.fid == fake.server_fid
    assert len(sleeps) == 1
    assert sleeps[0] >= 7


async def test_429_is_retried_after_retry_after() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail("registrations", Fault(429, "{}", {"Retry-After": "3"}))
        creds = await pk.register_app(WEB)
    assert creds.fcm.is_success
    assert len(sleeps) == 1
    assert sleeps[0] >= 3


async def test_a_retry_after_beyond_ten_minutes_is_not_waited_for() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail("checkin", Fault(503, "", {"Retry-After": "3600"}))
        with pytest.raises(CheckinError) as info:
            await pk.gcm_check_in()
    assert info.value.http_status == 503
    assert sleeps == []


async def test_timeouts_are_retried() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps, timeout=0.3) as pk:
        fake.fail("checkin", Fault(stall=1.0))
        response = await pk.gcm_check_in()
    assert response.android_id == ANDROID_ID
    assert len(fake.of("checkin")) == 2
    assert len(sleeps) == 1


async def test_timeouts_exhaust_into_a_clear_error() -> None:
    async with fake_google() as fake, core(fake, timeout=0.2) as pk:
        fake.fail("checkin", Fault(stall=1.0), Fault(stall=1.0))
        with pytest.raises(CheckinError, match=r"timed out after 0\.2 s.*gave up after 2"):
            await pk.gcm_check_in(retries=1)


async def test_dropped_connections_are_retried() -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail("register3", Fault(reset=True))
        gcm = await pk.gcm_register("424242", WEB.app_id)
    assert gcm.token
    assert len(fake.of("register3")) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("route", "fault", "error"),
    [
        ("register3", Fault(body="Error=AUTHENTICATION_FAILED"), GcmRegisterError),
        ("register3", Fault(body="Error=INVALID_SENDER"), GcmRegisterError),
        (
            "installations",
            Fault(
                403,
                '{"error": {"code": 403, "message": "API key not valid.", "status": "PERMISSION_DENIED"}}',
            ),
            InstallationError,
        ),
        (
            "installations",
            Fault(
                404,
                '{"error": {"code": 404, "message": "Project not found.", "status": "NOT_FOUND"}}',
            ),
            InstallationError,
        ),
        (
            "registrations",
            Fault(400, '{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'),
            FcmRegisterError,
        ),
        ("checkin", Fault(400, ""), CheckinError),
    ],
)
async def test_permanent_errors_fail_fast_without_retry(
    route: str, fault: Fault, error: type[Exception]
) -> None:
    sleeps = Sleeps()
    async with fake_google() as fake, core(fake, sleeps) as pk:
        fake.fail(route, fault)
        with pytest.raises(error) as info:
            await pk.register_app(WEB)
    assert not info.value.transient  # type: ignore[attr-defined]
    assert len(fake.of(route)) == 1
    assert sleeps == []


async def test_negative_retries_is_a_config_error() -> None:
    async with fake_google() as fake, core(fake) as pk:
        with pytest.raises(ConfigError, match="retries"):
            await pk.gcm_check_in(retries=-1)
    assert fake.requests == []


# --- refresh and unregister ----------------------------------------------------------------


def aged(creds: AppCredentials, *, fis_left: dt.timedelta, fcm_age: dt.timedelta) -> AppCredentials:
    now = dt.datetime.now(dt.timezone.utc)
    assert creds.installation is not None
    installation = inst(creds).__class__(**{**inst(creds).__dict__, "expires_at": now + fis_left})
    fcm = creds.fcm.__class__(**{**creds.fcm.__dict__, "created_at": now - fcm_age})
    return creds.replace(installation=installation, fcm=fcm)


async def test_refresh_does_nothing_when_nothing_is_due() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(WEB)
        before = len(fake.requests)
        assert await pk.refresh(creds) is creds
    assert len(fake.requests) == before


async def test_refresh_renews_an_expiring_fis_token() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(
            await pk.register_app(WEB),
            fis_left=dt.timedelta(minutes=30),
            fcm_age=dt.timedelta(days=1),
        )
        fresh = await pk.refresh(creds)
    request = fake.of("installation_token")[0]
    assert (
        request.path == f"/v1/projects/proj-1/installations/{fake.server_fid}/authTokens:generate"
    )
    assert request.headers["Authorization"] == f"FIS_v2 {inst(creds).refresh_token}"
    assert request.headers["x-goog-api-key"] == "AIzaSyTestKey"
    assert fresh.installation is not None
    assert creds.installation is not None
    assert inst(fresh).auth_token != inst(creds).auth_token
    assert not inst(fresh).expires_within(6 * 86400)
    assert fresh.fcm == creds.fcm
    assert fake.of("registrations_patch") == []


async def test_refresh_patches_an_fcm_token_older_than_7_days() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(
            await pk.register_app(WEB), fis_left=dt.timedelta(days=3), fcm_age=dt.timedelta(days=8)
        )
        fresh = await pk.refresh(creds)
    patch = fake.of("registrations_patch")[0]
    assert patch.method == "PATCH"
    assert patch.path == f"/v1/projects/proj-1/registrations/{creds.fcm.token}"
    assert patch.headers["x-goog-firebase-installations-auth"] == f"FIS {inst(creds).auth_token}"
    assert patch.json() == fake.of("registrations")[0].json()
    assert fresh.fcm.token != creds.fcm.token
    assert fresh.fcm.created_at is not None
    assert fresh.fcm.created_at > creds.fcm.created_at  # type: ignore[operator]
    assert fresh.keys == creds.keys
    assert fresh.gcm == creds.gcm


async def test_refresh_replaces_a_vanished_installation() -> None:
    gone = '{"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}'
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(
            await pk.register_app(WEB), fis_left=dt.timedelta(0), fcm_age=dt.timedelta(days=1)
        )
        fake.fail("installation_token", Fault(404, gone))
        fresh = await pk.refresh(creds)
    assert fake.routes[-3:] == ["installation_token", "installations", "registrations_patch"]
    assert fresh.installation is not None
    assert inst(fresh).refresh_token != inst(creds).refresh_token


async def test_android_refresh_registers_again_with_the_new_fis_token() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(
            await pk.register_app(ANDROID), fis_left=dt.timedelta(0), fcm_age=dt.timedelta(days=9)
        )
        fresh = await pk.refresh(creds)
    assert fake.routes[-2:] == ["installation_token", "register3"]
    form = fake.of("register3")[1].form()
    assert form["X-Goog-Firebase-Installations-Auth"] == inst(fresh).auth_token
    assert fresh.fcm.token == fresh.gcm.token != creds.fcm.token


async def test_unregister_web_deletes_all_three() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(WEB)
        await pk.unregister(creds)
    assert fake.routes[-3:] == ["registrations_delete", "register3", "installation_delete"]
    delete = fake.of("registrations_delete")[0]
    assert delete.path == f"/v1/projects/proj-1/registrations/{creds.fcm.token}"
    assert delete.headers["x-goog-firebase-installations-auth"] == f"FIS {inst(creds).auth_token}"
    # What Chromium 156 sends for PushSubscription.unsubscribe() (InstanceID DeleteID).
    assert list(fake.of("register3")[1].form().items()) == [
        ("app", "org.chromium.linux"),
        ("X-subtype", creds.gcm.app_id),
        ("device", str(ANDROID_ID)),
        ("delete", "true"),
        ("appid", creds.gcm.instance_id),
        ("sender", "*"),
        ("scope", "*"),
        ("X-scope", "*"),
        ("gmsv", "156"),
    ]
    fis = fake.of("installation_delete")[0]
    assert fis.path == f"/v1/projects/proj-1/installations/{fake.server_fid}"
    assert fis.headers["Authorization"] == f"FIS_v2 {inst(creds).refresh_token}"


async def test_unregister_of_credentials_stored_before_instance_id_is_gcm_style() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(WEB)
        old = creds.replace(gcm=dataclasses.replace(
            creds.gcm, instance_id="", app_id="wp:receiver.push.com#3f1c", chrome_version="63.0.3234.0"
        ))  # fmt: skip
        await pk.unregister(old)
    assert fake.of("register3")[1].form() == {
        "app": "org.chromium.linux",
        "X-subtype": "wp:receiver.push.com#3f1c",
        "device": str(ANDROID_ID),
        "delete": "true",
        "gcm_unreg_caller": "false",
    }


async def test_a_new_device_claims_the_chrome_version_it_is_given() -> None:
    async with fake_google() as fake, core(fake, chrome_version="157.0.1.2") as pk:
        creds = await pk.register_app(WEB)
    checkin = checkin_pb2.AndroidCheckinRequest.FromString(fake.of("checkin")[0].body)
    assert checkin.checkin.chrome_build.chrome_version == "157.0.1.2"
    assert fake.of("register3")[0].form()["gmsv"] == "157"
    assert creds.gcm.chrome_version == "157.0.1.2"


async def test_unregister_android_deletes_token_and_installation() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(ANDROID)
        await pk.unregister(creds)
    assert fake.routes[-2:] == ["register3", "installation_delete"]
    form = fake.of("register3")[1].form()
    assert (form["delete"], form["X-delete"], form["app"]) == ("1", "1", "com.example.app")


async def test_unregister_needs_a_config() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = await pk.register_app(WEB)
        with pytest.raises(ConfigError, match="register_app"):
            await pk.unregister(creds.replace(config=None))


# --- hygiene --------------------------------------------------------------------------------


async def test_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="pullkin"):
        async with fake_google() as fake, core(fake) as pk:
            fake.fail("register3", Fault(body="Error=PHONE_REGISTRATION_ERROR"))
            fake.fail("registrations", Fault(503, "{}"))
            creds = await pk.register_app(WEB)
            creds = await pk.refresh(creds, force=True)
            await pk.unregister(creds)
    assert "retrying" in caplog.text
    assert creds.installation is not None
    assert creds.keys is not None
    secrets = [
        str(SECURITY_TOKEN), creds.gcm.token, creds.fcm.token, WEB.api_key,
        inst(creds).auth_token, inst(creds).refresh_token,
        keys_of(creds).private_key, keys_of(creds).auth_secret,
    ]  # fmt: skip
    for secret in secrets:
        assert secret not in caplog.text
    assert str(SECURITY_TOKEN) not in repr(creds)


async def test_a_given_session_is_used_and_left_open() -> None:
    async with fake_google() as fake, aiohttp.ClientSession() as session:
        async with PullkinCore(fake.endpoints, session) as pk:
            await pk.gcm_check_in()
        assert not session.closed
    assert fake.routes == ["checkin"]


async def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        PullkinCore(timeout=0)
    with pytest.raises(ConfigError, match="backoff"):
        PullkinCore(backoff_base=2, backoff_cap=1)


async def test_refresh_creates_the_fcm_registration_a_seed_register_failed_to_make() -> None:
    denied = '{"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}}'
    async with fake_google() as fake, core(fake) as pk:
        fake.fail("registrations", Fault(403, denied))
        failed = await pk.register(424242, WEB.app_id, WEB.api_key, WEB.project_id)
        assert not failed.fcm.is_success
        fixed = await pk.refresh(failed)
    assert fixed.fcm.is_success
    assert fake.routes[-1] == "registrations"
    assert fake.of("registrations_patch") == []
    assert fixed.keys == failed.keys
