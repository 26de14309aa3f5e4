"""PullkinCore's rare paths against the local fake of Google (test_core_fakes): an FCM
registration that vanished before its refresh, unregistering with an expired or deleted
installation, and the errors that must not be swallowed on the way."""

from __future__ import annotations

import datetime as dt

import pytest
from test_core import ANDROID, WEB, aged, core, inst
from test_core_fakes import Fault, fake_google

from pullkin import PullkinCore
from pullkin.errors import FcmRegisterError, InstallationError

pytestmark = pytest.mark.anyio

NOT_FOUND = (
    '{"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}'
)
DENIED = '{"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}}'
EXPIRED = {"fis_left": dt.timedelta(0), "fcm_age": dt.timedelta(days=1)}


# --- refresh --------------------------------------------------------------------------------


async def test_refresh_of_a_vanished_fcm_registration_creates_a_new_one() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(
            await pk.register_app(WEB), fis_left=dt.timedelta(days=3), fcm_age=dt.timedelta(days=8)
        )
        fake.fail("registrations_patch", Fault(404, NOT_FOUND))
        fresh = await pk.refresh(creds)
    assert fake.routes[-2:] == ["registrations_patch", "registrations"]
    created = fake.of("registrations")[-1]
    assert created.json() == fake.of("registrations")[0].json()  # same keys, same endpoint
    assert fresh.fcm.is_success
    assert fresh.fcm.token not in ("", creds.fcm.token)
    assert fresh.keys == creds.keys  # the subscription's keys survive


async def test_refresh_does_not_hide_an_fcm_refusal_other_than_not_found() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(
            await pk.register_app(WEB), fis_left=dt.timedelta(days=3), fcm_age=dt.timedelta(days=8)
        )
        fake.fail("registrations_patch", Fault(403, DENIED))
        with pytest.raises(FcmRegisterError) as info:
            await pk.refresh(creds)
    assert info.value.http_status == 403
    assert fake.routes[-1] == "registrations_patch"  # no new registration behind its back


async def test_refresh_does_not_hide_an_installation_refusal_other_than_gone() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(await pk.register_app(WEB), **EXPIRED)
        fake.fail("installation_token", Fault(403, DENIED))
        with pytest.raises(InstallationError) as info:
            await pk.refresh(creds)
    assert info.value.http_status == 403
    assert fake.routes[-1] == "installation_token"


# --- unregister -------------------------------------------------------------------------------


async def test_unregister_refreshes_an_expired_installation_token_first() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(await pk.register_app(WEB), **EXPIRED)
        await pk.unregister(creds)
    assert fake.routes[-4:] == [
        "installation_token", "registrations_delete", "register3", "installation_delete",
    ]  # fmt: skip
    fresh_token = fake.of("installation_token")[-1]
    delete = fake.of("registrations_delete")[0]
    assert delete.headers["x-goog-firebase-installations-auth"] != f"FIS {inst(creds).auth_token}"
    assert fresh_token.headers["Authorization"] == f"FIS_v2 {inst(creds).refresh_token}"


@pytest.mark.parametrize("status", [401, 404])
async def test_unregister_web_with_an_installation_that_is_gone_still_unregisters_register3(
    status: int,
) -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(await pk.register_app(WEB), **EXPIRED)
        fake.fail("installation_token", Fault(status, NOT_FOUND))
        await pk.unregister(creds)
    # Without an installation there is no FIS token to delete the FCM registration
    # (it dies with the installation), nor an installation to delete.
    assert fake.routes[-2:] == ["installation_token", "register3"]
    assert fake.of("register3")[-1].form()["delete"] == "true"
    assert fake.of("registrations_delete") == fake.of("installation_delete") == []


async def test_unregister_android_with_an_installation_that_is_gone_has_nothing_left_to_do() -> (
    None
):
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(await pk.register_app(ANDROID), **EXPIRED)
        fake.fail("installation_token", Fault(404, NOT_FOUND))
        await pk.unregister(creds)
    # The Android unregister3 needs the installation's token: with it gone, so is the
    # registration.
    assert fake.routes[-1] == "installation_token"
    assert [r.form().get("delete") for r in fake.of("register3")] == [None]


async def test_unregister_does_not_hide_an_installation_refusal_other_than_gone() -> None:
    async with fake_google() as fake, core(fake) as pk:
        creds = aged(await pk.register_app(WEB), **EXPIRED)
        fake.fail("installation_token", Fault(403, DENIED))
        with pytest.raises(InstallationError):
            await pk.unregister(creds)
    assert fake.routes[-1] == "installation_token"


async def test_unregister_after_a_failed_fcm_registration_skips_the_fcm_delete() -> None:
    async with fake_google() as fake, core(fake) as pk:
        fake.fail("registrations", Fault(403, DENIED))
        failed = await pk.register(424242, WEB.app_id, WEB.api_key, WEB.project_id)
        assert not failed.fcm.is_success
        await pk.unregister(failed)
    assert fake.routes[-2:] == ["register3", "installation_delete"]
    assert "registrations_delete" not in fake.routes
    assert "unmatched" not in fake.routes  # no DELETE of an empty token either


# --- the lower-level calls ------------------------------------------------------------------


async def test_gcm_register_with_an_installation_is_the_android_variant() -> None:
    async with fake_google() as fake, core(fake) as pk:
        installation = await pk.fcm_installation(
            ANDROID.app_id, ANDROID.api_key, ANDROID.android_cert, ANDROID.android_package,
            ANDROID.project_id,
        )  # fmt: skip
        gcm = await pk.gcm_register(
            424242, ANDROID.app_id, app_name="com.example.app", installation=installation,
            android_cert=ANDROID.android_cert,
        )  # fmt: skip
    form = fake.of("register3")[0].form()
    assert (form["app"], form["sender"], form["X-gmp_app_id"]) == (
        "com.example.app", "424242", ANDROID.app_id,
    )  # fmt: skip
    assert form["X-Goog-Firebase-Installations-Auth"] == installation.auth_token
    assert (gcm.app_name, gcm.app_id, gcm.sender) == ("com.example.app", "424242", "424242")
    assert gcm.token.startswith("gcm")


async def test_repr_names_the_class_and_check_in_url() -> None:
    async with PullkinCore() as pk:
        assert repr(pk) == "<PullkinCore checkin='https://android.clients.google.com/checkin'>"
