"""PullkinCore against the local FCM emulator: both flows end to end, returning
clients, token refresh, unregister, and every fault the emulator injects on the
registration endpoints."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest

from pullkin import PullkinCore
from pullkin import registration as reg
from pullkin.cli import main
from pullkin.emulator import Emulator
from pullkin.errors import (
    CheckinError,
    FcmRegisterError,
    GcmRegisterError,
    InstallationError,
)
from pullkin.models import AppCredentials, AppCredentialsGcm

pytestmark = pytest.mark.anyio


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@asynccontextmanager
async def running(**core_options: object) -> AsyncIterator[tuple[Emulator, PullkinCore, Sleeps]]:
    sleeps = Sleeps()
    async with Emulator() as emu, PullkinCore(emu.endpoints, sleep=sleeps, **core_options) as pk:  # type: ignore[arg-type]
        yield emu, pk, sleeps


def aged(creds: AppCredentials, *, fis_left: dt.timedelta, fcm_age: dt.timedelta) -> AppCredentials:
    now = dt.datetime.now(dt.timezone.utc)
    assert creds.installation is not None
    installation = dataclasses.replace(creds.installation, expires_at=now + fis_left)
    fcm = dataclasses.replace(creds.fcm, created_at=now - fcm_age)
    return creds.replace(installation=installation, fcm=fcm)


# --- flows -------------------------------------------------------------------------------


async def test_web_flow_registers_a_subscription_the_emulator_delivers_to() -> None:
    async with running() as (emu, pk, sleeps):
        creds = await pk.register_app(emu.firebase_config)
        state = emu.state
        registration = state.fcm[creds.fcm.token]
        assert creds.keys is not None
        assert creds.installation is not None
        assert registration.gcm_token == creds.gcm.token
        assert registration.p256dh == creds.keys.public_key
        assert registration.auth == creds.keys.auth_secret
        assert registration.fid == creds.installation.fid
        assert state.device_of_token(creds.fcm.token) == (
            creds.gcm.android_id,
            state.gcm[creds.gcm.token],
        )
        assert state.gcm[creds.gcm.token].subtype == creds.gcm.app_id
        assert state.gcm[creds.gcm.token].kind == "web"
        assert creds.installation.fid in state.installations
    assert sleeps == []


async def test_web_flow_with_the_emulators_vapid_key() -> None:
    async with running() as (emu, pk, _):
        config = dataclasses.replace(emu.firebase_config, vapid_key=emu.vapid_keys.public_key)
        creds = await pk.register_app(config)
        assert emu.state.gcm[creds.gcm.token].sender == emu.vapid_keys.public_key
        assert emu.state.fcm[creds.fcm.token].application_pub_key == emu.vapid_keys.public_key


async def test_android_flow_gets_the_fcm_token_from_register3() -> None:
    async with running() as (emu, pk, _):
        creds = await pk.register_app(emu.android_config)
        registration = emu.state.gcm[creds.fcm.token]
        assert creds.installation is not None
        assert registration.kind == "android"
        assert registration.fid == creds.installation.fid
        assert registration.app == emu.android_config.android_package
        assert creds.keys is None
        assert creds.fcm.token == creds.gcm.token


async def test_seed_api_flow() -> None:
    async with running() as (emu, pk, _):
        config = emu.firebase_config
        creds = await pk.register(
            config.sender_id, config.app_id, config.api_key, config.project_id
        )
        assert creds.fcm.is_success
        gcm = await pk.gcm_register(
            config.sender_id, config.app_id, firebase_project_id=config.project_id
        )
        installation = await pk.fcm_installation(
            config.app_id, config.api_key, None, None, config.project_id
        )
        keys, fcm = await pk.fcm_register(
            gcm.token, config.api_key, config.project_id, installation
        )
        assert fcm.is_success
        assert emu.state.fcm[fcm.token].p256dh == keys.public_key


# --- returning clients ------------------------------------------------------------------------


async def test_returning_client_keeps_its_device() -> None:
    async with running() as (emu, pk, _):
        creds = await pk.register_app(emu.firebase_config)
        assert await pk.check_in(creds) == creds.gcm
        response = await pk.gcm_check_in(creds.gcm)
        assert (response.android_id, response.security_token) == (
            creds.gcm.android_id,
            creds.gcm.security_token,
        )
        # A re-registration on the same device (what the receiver does after a failed login).
        again = await pk.gcm_register(
            emu.firebase_config.sender_id,
            emu.firebase_config.app_id,
            subtype=creds.gcm.app_id,
            device=creds.gcm,
        )
        assert again.token == creds.gcm.token
        assert again.android_id == creds.gcm.android_id


async def test_a_dead_device_pair_is_a_final_checkin_error() -> None:
    async with running() as (_, pk, sleeps):
        stranger = AppCredentialsGcm(android_id=12345, security_token=67890)
        with pytest.raises(CheckinError, match="register again") as info:
            await pk.check_in(stranger)
    assert info.value.http_status == 401
    assert not info.value.transient
    assert sleeps == []


# --- refresh and unregister ---------------------------------------------------------------------


async def test_refresh_renews_an_expired_fis_token_and_the_old_one_dies() -> None:
    async with running() as (emu, pk, _):
        creds = aged(
            await pk.register_app(emu.firebase_config),
            fis_left=dt.timedelta(0),
            fcm_age=dt.timedelta(days=1),
        )
        fresh = await pk.refresh(creds)
        assert fresh.installation is not None
        assert creds.installation is not None
        assert fresh.installation.fid == creds.installation.fid
        assert fresh.installation.auth_token != creds.installation.auth_token
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        assert emu.state.installation_by_auth_token(creds.installation.auth_token, now) is None
        assert emu.state.installation_by_auth_token(fresh.installation.auth_token, now) is not None
        assert fresh.fcm == creds.fcm


async def test_refresh_patches_an_old_fcm_token() -> None:
    async with running() as (emu, pk, _):
        creds = aged(
            await pk.register_app(emu.firebase_config),
            fis_left=dt.timedelta(days=5),
            fcm_age=dt.timedelta(days=8),
        )
        fresh = await pk.refresh(creds)
        assert fresh.fcm.is_success
        assert fresh.fcm.token in emu.state.fcm
        assert fresh.fcm.created_at is not None
        assert creds.fcm.created_at is not None
        assert fresh.fcm.created_at > creds.fcm.created_at
        assert await pk.refresh(fresh) is fresh  # nothing due any more


async def test_refresh_survives_a_deleted_installation() -> None:
    async with running() as (emu, pk, _):
        creds = aged(
            await pk.register_app(emu.firebase_config),
            fis_left=dt.timedelta(0),
            fcm_age=dt.timedelta(days=1),
        )
        assert creds.installation is not None
        del emu.state.installations[creds.installation.fid]
        fresh = await pk.refresh(creds)
        assert fresh.installation is not None
        assert fresh.installation.fid != creds.installation.fid
        assert fresh.fcm.token in emu.state.fcm


async def test_android_refresh_keeps_a_working_token() -> None:
    async with running() as (emu, pk, _):
        creds = aged(
            await pk.register_app(emu.android_config),
            fis_left=dt.timedelta(0),
            fcm_age=dt.timedelta(days=9),
        )
        fresh = await pk.refresh(creds)
        assert fresh.fcm.token == fresh.gcm.token
        assert emu.state.gcm[fresh.fcm.token].kind == "android"


async def test_unregister_web_removes_everything() -> None:
    async with running() as (emu, pk, _):
        creds = await pk.register_app(emu.firebase_config)
        await pk.unregister(creds)
        assert creds.installation is not None
        assert creds.fcm.token not in emu.state.fcm
        assert creds.gcm.token not in emu.state.gcm
        assert creds.installation.fid not in emu.state.installations


async def test_unregister_android_removes_everything() -> None:
    async with running() as (emu, pk, _):
        creds = await pk.register_app(emu.android_config)
        await pk.unregister(creds)
        assert creds.installation is not None
        assert creds.gcm.token not in emu.state.gcm
        assert creds.installation.fid not in emu.state.installations


# --- faults --------------------------------------------------------------------------------------


async def test_phone_registration_error_twice_then_success() -> None:
    async with running() as (emu, pk, sleeps):
        emu.faults.register_error(times=2)
        creds = await pk.register_app(emu.firebase_config)
        assert creds.fcm.is_success
        assert emu.faults.fired.count("http:register3") == 2
    assert len(sleeps) == 2
    assert min(sleeps) >= 1.0


async def test_phone_registration_error_forever_gives_up() -> None:
    async with running() as (emu, pk, sleeps):
        emu.faults.register_error(times=10)
        with pytest.raises(GcmRegisterError, match="gave up after 4 attempts") as info:
            await pk.register_app(emu.firebase_config, retries=3)
    assert info.value.reason == "PHONE_REGISTRATION_ERROR"
    assert len(sleeps) == 3


async def test_503_with_retry_after_on_installations() -> None:
    async with running() as (emu, pk, sleeps):
        emu.faults.http_error("installations", 503, retry_after=0.01)
        creds = await pk.register_app(emu.firebase_config)
        assert creds.fcm.is_success
    assert len(sleeps) == 1
    assert sleeps[0] >= 0.01


async def test_429_on_registrations_is_retried() -> None:
    async with running() as (emu, pk, sleeps):
        emu.faults.http_error("registrations", 429, retry_after=2)
        creds = await pk.register_app(emu.firebase_config)
        assert creds.fcm.is_success
    assert len(sleeps) == 1
    assert sleeps[0] >= 2


@pytest.mark.parametrize("endpoint", ["checkin", "register3", "installations", "registrations"])
async def test_5xx_on_each_endpoint_is_retried(endpoint: str) -> None:
    async with running() as (emu, pk, sleeps):
        emu.faults.http_error(endpoint, 500, times=2)
        creds = await pk.register_app(emu.firebase_config)
        assert creds.fcm.is_success
        assert emu.faults.fired.count(f"http:{endpoint}") == 2
    assert len(sleeps) == 2


async def test_timeouts_are_retried() -> None:
    async with running(timeout=0.3) as (emu, pk, sleeps):
        emu.faults.http_delay("checkin", 1.0)
        emu.faults.http_delay("installations", 1.0)
        creds = await pk.register_app(emu.firebase_config)
        assert creds.fcm.is_success
    assert len(sleeps) == 2


async def test_fis_token_refresh_is_retried() -> None:
    async with running() as (emu, pk, sleeps):
        creds = aged(
            await pk.register_app(emu.firebase_config),
            fis_left=dt.timedelta(0),
            fcm_age=dt.timedelta(days=1),
        )
        emu.faults.http_error("installation_token", 503, retry_after=0.01)
        fresh = await pk.refresh(creds)
        assert fresh.installation != creds.installation
    assert len(sleeps) == 1


async def test_authentication_failed_fails_fast() -> None:
    async with running() as (emu, pk, sleeps):
        emu.faults.register_error("AUTHENTICATION_FAILED", times=3)
        with pytest.raises(GcmRegisterError) as info:
            await pk.register_app(emu.firebase_config)
        assert emu.faults.fired.count("http:register3") == 1
    assert info.value.reason == "AUTHENTICATION_FAILED"
    assert not info.value.transient
    assert sleeps == []


async def test_a_bad_api_key_fails_fast() -> None:
    async with running() as (emu, pk, sleeps):
        config = dataclasses.replace(emu.firebase_config, api_key="AIzaWrongKey")
        with pytest.raises(InstallationError, match="API key not valid") as info:
            await pk.register_app(config)
    assert info.value.http_status == 403
    assert not info.value.transient
    assert sleeps == []


async def test_an_unknown_project_fails_fast() -> None:
    async with running() as (emu, pk, sleeps):
        config = dataclasses.replace(emu.firebase_config, project_id="someone-elses-project")
        with pytest.raises(InstallationError, match="PERMISSION_DENIED") as info:
            await pk.register_app(config)
    assert not info.value.transient
    assert sleeps == []


async def test_a_wrong_android_cert_fails_fast() -> None:
    async with running() as (emu, pk, sleeps):
        config = dataclasses.replace(emu.android_config, android_cert="00" * 20)
        with pytest.raises(InstallationError, match="blocked"):
            await pk.register_app(config)
    assert sleeps == []


async def test_an_injected_permanent_fcm_error_fails_fast() -> None:
    body = json.dumps({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}})
    async with running() as (emu, pk, sleeps):
        emu.faults.http_error("registrations", 400, body=body)
        with pytest.raises(FcmRegisterError, match="INVALID_ARGUMENT") as info:
            await pk.register_app(emu.firebase_config)
    assert not info.value.transient
    assert sleeps == []


async def test_an_untrusted_certificate_is_not_retried() -> None:
    sleeps = Sleeps()
    async with Emulator() as emu:
        untrusting = emu.endpoints.replace(ssl_context=None)  # system trust store
        async with PullkinCore(untrusting, sleep=sleeps) as pk:
            with pytest.raises(CheckinError, match="TLS certificate is not trusted") as info:
                await pk.gcm_check_in()
    assert not info.value.transient
    assert sleeps == []


# --- the command line ----------------------------------------------------------------------------


async def test_cli_register_against_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Emulator() as emu:
        config_path = tmp_path / "emu.json"
        config_path.write_text(json.dumps(emu.config()))
        creds_path = tmp_path / "creds.json"
        argv = ["register", "--emulator", str(config_path), "--credentials", str(creds_path)]
        assert await anyio.to_thread.run_sync(main, argv) == 0
        token = capsys.readouterr().out.strip()
        assert token in emu.state.fcm
        assert (
            await anyio.to_thread.run_sync(
                main, [*argv, "--android-package", "com.example.pullkin"]
            )
            == 2
        )
        assert "registered with another --app-id" in capsys.readouterr().err
        android_path = tmp_path / "android.json"
        android_argv = [
            "register",
            "--emulator",
            str(config_path),
            "--credentials",
            str(android_path),
        ]
        assert (
            await anyio.to_thread.run_sync(
                main, [*android_argv, "--android-package", "com.example.pullkin"]
            )
            == 0
        )
        android_token = capsys.readouterr().out.strip()
        assert emu.state.gcm[android_token].kind == "android"


async def test_the_instance_id_variant_is_accepted_by_the_emulator() -> None:
    """register.md A.3/A.6 (real Chrome's InstanceID requests), which PullkinCore does
    not use, built by pullkin.registration and sent as they are."""
    async with running() as (emu, pk, _), aiohttp.ClientSession() as session:
        checked = await pk.gcm_check_in()
        device = AppCredentialsGcm(
            android_id=checked.android_id,
            security_token=checked.security_token,
            app_name="com.chrome.linux",
            app_id="wp:https://example.com/#8F2D6E1A-3C4B-4D5E-9F60-718293A4B5C6",
            sender=emu.vapid_keys.public_key,
        )

        async def post(request: reg.HttpRequest) -> tuple[int, bytes]:
            async with session.post(
                request.url, headers=dict(request.headers), data=request.body,
                ssl=emu.endpoints.ssl_context,
            ) as answer:  # fmt: skip
                return answer.status, await answer.read()

        url = emu.endpoints.register
        status, body = await post(reg.instance_id_token_request(url, device, instance_id="cId1"))
        token = reg.parse_register_response(status, {}, body)
        assert emu.state.gcm[token].subtype == device.app_id
        status, body = await post(reg.instance_id_delete_request(url, device, instance_id="cId1"))
        reg.parse_unregister_response(status, {}, body, accept=())
        assert token not in emu.state.gcm
