"""PullkinCore: the registration calls over aiohttp, with retries.

Two flows produce an ``AppCredentials`` (``protocol/register.md``):

* web (Chrome style): check-in → register3 (``wp:`` subtype, sender = VAPID key) →
  Firebase Installations → FCM registrations → FCM token; pushes arrive encrypted
  with the generated keys;
* Android app: check-in → Firebase Installations → register3 carrying the FIS token,
  whose answer is the FCM token itself; pushes arrive unencrypted.

Requests and parsing are pure (``pullkin.registration``, ``pullkin.registration_firebase``);
this module only sends, classifies and retries.  What is transient (register3
``PHONE_REGISTRATION_ERROR``, 5xx, 429, timeouts, dropped connections) is retried with
exponential backoff and full jitter, honouring ``Retry-After``, at most ``retries``
times after the first attempt; what is permanent (bad API key, unknown project,
``AUTHENTICATION_FAILED``, an untrusted TLS certificate…) raises at once.  Sleeping is
injectable (``sleep=``) so tests run at full speed.  Nothing here logs a token or key.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import random
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import aiohttp

from pullkin import registration as _reg
from pullkin._closing import AsyncClosing
from pullkin._registration_http import RegistrationHttp, Sleep, utcnow
from pullkin.endpoints import CHROME_VERSION, DEFAULT_VAPID_KEY, Endpoints
from pullkin.errors import ConfigError, FcmRegisterError, InstallationError
from pullkin.models import (
    AppCredentials,
    AppCredentialsFcm,
    AppCredentialsGcm,
    AppCredentialsKeys,
    FirebaseConfig,
    FirebaseInstallation,
)
from pullkin.registration import HttpRequest

if TYPE_CHECKING:
    from pullkin.proto.checkin_pb2 import AndroidCheckinResponse

__all__ = [
    "DEFAULT_ANDROID_CERT",
    "FCM_TOKEN_MAX_AGE",
    "FIS_REFRESH_MARGIN",
    "PullkinCore",
    "RegistrationTiming",
]

log = logging.getLogger(__name__)

#: The seed's default ``android_cert`` (SHA-1 of nothing, what PK sends).
DEFAULT_ANDROID_CERT = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
#: Refresh the FIS auth token when less than this is left (JS ``TOKEN_EXPIRATION_BUFFER``).
FIS_REFRESH_MARGIN = _dt.timedelta(hours=1)
#: Refresh the FCM token when older than this (JS ``TOKEN_EXPIRATION_MS``, AN Store).
FCM_TOKEN_MAX_AGE = _dt.timedelta(days=7)

_C = TypeVar("_C", bound="PullkinCore")


class RegistrationTiming(TypedDict, total=False):
    """Registration's timing, as keyword arguments of ``PullkinCore`` and ``Pullkin``
    (``Pullkin(endpoints, **timing)``): ``timeout`` s per request (30), and retries
    after full-jitter delays from ``backoff_base`` (1 s) up to ``backoff_cap`` (60 s)."""

    timeout: float
    backoff_base: float
    backoff_cap: float


class PullkinCore(AsyncClosing):
    """Registration with Google (or the emulator): check-in, register3, Installations,
    FCM registrations.  An async context manager; it owns its aiohttp session unless
    one is given.  ``timeout`` bounds each request; ``sleep`` and ``rng`` drive the
    retry waits (full-jitter backoff from ``backoff_base`` up to ``backoff_cap`` s).
    ``chrome_version`` is the Chrome a new device claims to be (stored devices keep
    theirs)."""

    def __init__(
        self,
        endpoints: Endpoints | None = None,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 30.0,
        sleep: Sleep | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        rng: random.Random | None = None,
        chrome_version: str = CHROME_VERSION,
    ) -> None:
        self.endpoints = endpoints if endpoints is not None else Endpoints()
        self.chrome_version = chrome_version
        self._http = RegistrationHttp(
            self.endpoints,
            session,
            timeout=timeout,
            sleep=sleep,
            backoff=(backoff_base, backoff_cap),
            rng=rng,
        )

    async def __aenter__(self: _C) -> _C:
        return self

    async def aclose(self) -> None:
        """Close the session if this object created it."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} checkin={self.endpoints.checkin!r}>"

    # --- check-in -------------------------------------------------------------------

    async def gcm_check_in(
        self, credentials: AppCredentialsGcm | None = None, *, retries: int = 5
    ) -> AndroidCheckinResponse:
        """Check in as Chrome: a new device without *credentials*, else the returning one.

        A 401 raises ``CheckinError`` (not transient): the stored pair is dead and the
        caller must register again.
        """
        return await self._http.check_in(credentials, retries)

    async def check_in(
        self, credentials: AppCredentialsGcm | AppCredentials, *, retries: int = 5
    ) -> AppCredentialsGcm:
        """Returning check-in; the device pair must come back unchanged (else CheckinError)."""
        gcm = credentials.gcm if isinstance(credentials, AppCredentials) else credentials
        response = await self._http.check_in(gcm, retries)
        return _reg.gcm_from_checkin(response, gcm)

    async def _device(self, device: AppCredentialsGcm | None, retries: int) -> AppCredentialsGcm:
        if device is not None:
            return await self.check_in(device, retries=retries)
        response = await self._http.check_in(None, retries, self.chrome_version)
        return _reg.gcm_from_checkin(response, chrome_version=self.chrome_version)

    # --- register3 ------------------------------------------------------------------

    async def gcm_register(
        self,
        sender_id: int | str,
        app_id: str,
        api_key: str | None = None,
        firebase_project_id: str | None = None,
        android_cert: str | None = None,
        app_name: str = "org.chromium.linux",
        retries: int = 5,
        current_retry: int = 0,
        *,
        vapid_key: str | None = None,
        subtype: str | None = None,
        device: AppCredentialsGcm | None = None,
        installation: FirebaseInstallation | None = None,
        **_: Any,
    ) -> AppCredentialsGcm:
        """Check in (as *device* when given, else as a new device) and call register3.

        As in the old Pullkin, *current_retry* retries are taken as already spent (at
        least the first attempt is always made) and other keywords are ignored.

        Without *installation*: what Chrome sends for a Push API subscription (A.3,
        InstanceID ``GetToken``) — ``app`` = *app_name*, ``X-subtype`` = *subtype*
        (default Chrome's ``wp:https://<project id>.firebaseapp.com/#<GUID>-V2``),
        ``scope=GCM``, ``gmsv``, ``appid`` = a new InstanceID, ``sender`` = *vapid_key*
        (default the Firebase key); the returned ``token`` is the GCM token.
        *sender_id*, *app_id* and *api_key* are not sent in this variant.

        With *installation*: the Android-app variant (A.4) — ``app`` = *app_name* (the
        package), ``sender`` = *sender_id*, ``X-gmp_app_id`` = *app_id*, ``cert`` =
        *android_cert*; the returned ``token`` is already the FCM token.
        """
        if current_retry < 0:
            raise ConfigError("current_retry must not be negative")
        retries = max(retries - current_retry, 0)
        checked = await self._device(device, retries)
        if installation is None:
            gcm = dataclasses.replace(
                checked,
                app_name=app_name,
                app_id=subtype or _reg.web_push_app_id(_web_origin(firebase_project_id)),
                sender=vapid_key or DEFAULT_VAPID_KEY,
                instance_id=_reg.new_instance_id(),
            )
            request = _reg.instance_id_token_request(
                self.endpoints.register, gcm, instance_id=gcm.instance_id
            )
        else:
            sender = str(sender_id)
            gcm = dataclasses.replace(checked, app_name=app_name, app_id=sender, sender=sender)
            request = self._android_request(gcm, android_cert, app_id, installation)
        return dataclasses.replace(gcm, token=await self._http.register3(request, retries))

    def _android_request(
        self,
        gcm: AppCredentialsGcm,
        cert: str | None,
        app_id: str,
        installation: FirebaseInstallation,
        *,
        delete: bool = False,
    ) -> HttpRequest:
        build = _reg.android_unregister_request if delete else _reg.android_register_request
        return build(
            self.endpoints.register,
            gcm,
            cert=cert or DEFAULT_ANDROID_CERT,
            app_id=app_id,
            fid=installation.fid,
            fis_auth_token=installation.auth_token,
        )

    async def _android_token(
        self,
        config: FirebaseConfig,
        device: AppCredentialsGcm,
        installation: FirebaseInstallation,
        retries: int,
    ) -> AppCredentials:
        """register3 A.4 for *device*: the answer is the FCM token."""
        gcm = dataclasses.replace(
            device,
            app_name=config.android_package or "",
            app_id=config.sender_id,
            sender=config.sender_id,
        )
        request = self._android_request(gcm, config.android_cert, config.app_id, installation)
        gcm = dataclasses.replace(gcm, token=await self._http.register3(request, retries))
        fcm = AppCredentialsFcm(token=gcm.token, created_at=utcnow())
        return AppCredentials(gcm=gcm, fcm=fcm, installation=installation, config=config)

    # --- Firebase ----------------------------------------------------------------------

    async def fcm_installation(
        self,
        app_id: str,
        api_key: str,
        android_cert: str | None,
        app_package: str | None,
        firebase_project_id: str,
        *,
        retries: int = 5,
    ) -> FirebaseInstallation:
        """Create a Firebase installation (a fresh FID; the server's ``fid`` is adopted).
        With *app_package* it is the Android SDK's request, else the web SDK's."""
        return await self._http.create_installation(
            project_id=firebase_project_id,
            api_key=api_key,
            app_id=app_id,
            android_package=app_package,
            android_cert=android_cert,
            retries=retries,
        )

    async def _installation_for(self, config: FirebaseConfig, retries: int) -> FirebaseInstallation:
        return await self.fcm_installation(
            config.app_id,
            config.api_key,
            config.android_cert,
            config.android_package,
            config.project_id,
            retries=retries,
        )

    async def fcm_register(
        self,
        gcm_token: str,
        api_key: str,
        firebase_project_id: str,
        firebase_installation: FirebaseInstallation,
        retries: int = 5,
        *,
        vapid_key: str | None = None,
        keys: AppCredentialsKeys | None = None,
    ) -> tuple[AppCredentialsKeys, AppCredentialsFcm]:
        """Generate keys (unless given) and turn the GCM token into an FCM token.

        As in the seed API a refusal does not raise: check ``is_success`` and read
        ``error`` on the returned ``AppCredentialsFcm``.
        """
        keys = keys or AppCredentialsKeys.generate()
        try:
            fcm = await self._http.fcm_create(
                gcm_token=gcm_token,
                api_key=api_key,
                project_id=firebase_project_id,
                installation=firebase_installation,
                keys=keys,
                vapid_key=vapid_key,
                retries=retries,
            )
        except FcmRegisterError as exc:
            log.error("FCM registration failed: %s", exc)
            return keys, AppCredentialsFcm(token="", error=str(exc))
        return keys, fcm

    # --- whole flows ---------------------------------------------------------------

    async def register(
        self,
        sender_id: int | str,
        app_id: str,
        api_key: str,
        firebase_project_id: str,
        android_cert: str = DEFAULT_ANDROID_CERT,
        app_name: str = "org.chromium.linux",
        retries: int = 5,
        *,
        vapid_key: str | None = None,
        android_package: str | None = None,
    ) -> AppCredentials:
        """Register in GCM and FCM (seed API): the Android-app flow with
        *android_package*, else the web flow (register3 ``app`` = *app_name*).

        As in the seed, an FCM registrations refusal does not raise: the result has
        ``fcm.error`` set.  :meth:`register_app` raises instead.
        """
        config = FirebaseConfig(
            api_key=api_key,
            project_id=firebase_project_id,
            app_id=app_id,
            sender_id=str(sender_id),
            vapid_key=vapid_key,
            android_package=android_package,
            android_cert=android_cert if android_package else None,
        )
        return await self._register(config, app_name, retries, strict=False)

    async def register_app(self, config: FirebaseConfig, *, retries: int = 5) -> AppCredentials:
        """Register the app *config* describes (``config.flow``: web or Android);
        every failure raises a ``RegistrationError`` subclass."""
        return await self._register(config, "org.chromium.linux", retries, strict=True)

    async def _register(
        self, config: FirebaseConfig, app_name: str, retries: int, *, strict: bool
    ) -> AppCredentials:
        if config.flow == "android":
            device = await self._device(None, retries)
            installation = await self._installation_for(config, retries)
            return await self._android_token(config, device, installation, retries)
        gcm = await self.gcm_register(
            config.sender_id,
            config.app_id,
            firebase_project_id=config.project_id,
            app_name=app_name,
            retries=retries,
            vapid_key=config.vapid_key,
        )
        installation = await self._installation_for(config, retries)
        keys = AppCredentialsKeys.generate()
        if strict:
            fcm = await self._http.fcm_create(
                gcm_token=gcm.token, api_key=config.api_key, project_id=config.project_id,
                installation=installation, keys=keys, vapid_key=config.vapid_key, retries=retries,
            )  # fmt: skip
        else:
            keys, fcm = await self.fcm_register(
                gcm.token, config.api_key, config.project_id, installation, retries,
                vapid_key=config.vapid_key, keys=keys,
            )  # fmt: skip
        return AppCredentials(gcm=gcm, fcm=fcm, keys=keys, installation=installation, config=config)

    # --- keeping credentials alive ------------------------------------------------------

    async def refresh(
        self,
        credentials: AppCredentials,
        *,
        retries: int = 5,
        now: _dt.datetime | None = None,
        force: bool = False,
    ) -> AppCredentials:
        """Renew what is due: the FIS auth token when under an hour is left (a new
        installation if the old one is gone), the FCM token when older than 7 days
        (web: PATCH; Android: register3 again).  Returns *credentials* itself when
        nothing was due."""
        config, installation = _registered(credentials)
        now = now or utcnow()
        created = credentials.fcm.created_at
        renew_token = force or created is None or now - created >= FCM_TOKEN_MAX_AGE
        if force or installation.expires_within(FIS_REFRESH_MARGIN.total_seconds(), now):
            try:
                installation = await self._http.installation_token(config, installation, retries)
            except InstallationError as exc:
                if exc.http_status not in (401, 404):
                    raise
                log.warning("the Firebase installation is gone; creating a new one")
                installation = await self._installation_for(config, retries)
                renew_token = True
        if renew_token:
            return await self._renew_token(credentials, config, installation, retries)
        if installation is credentials.installation:
            return credentials
        return credentials.replace(installation=installation)

    async def _renew_token(
        self,
        credentials: AppCredentials,
        config: FirebaseConfig,
        installation: FirebaseInstallation,
        retries: int,
    ) -> AppCredentials:
        if config.flow == "android":
            return await self._android_token(config, credentials.gcm, installation, retries)
        keys = credentials.keys or AppCredentialsKeys.generate()
        gcm_token = credentials.gcm.token
        fcm: AppCredentialsFcm | None = None
        if credentials.fcm.token:  # else an earlier FCM registration failed: create one
            try:
                fcm = await self._http.fcm_update(
                    config, installation, gcm_token=gcm_token, fcm_token=credentials.fcm.token,
                    keys=keys, retries=retries,
                )  # fmt: skip
            except FcmRegisterError as exc:
                if exc.http_status != 404:
                    raise
                log.warning("the FCM registration is gone; creating a new one")
        if fcm is None:
            fcm = await self._http.fcm_create(
                gcm_token=gcm_token, api_key=config.api_key, project_id=config.project_id,
                installation=installation, keys=keys, vapid_key=config.vapid_key, retries=retries,
            )  # fmt: skip
        return credentials.replace(fcm=fcm, keys=keys, installation=installation)

    async def unregister(self, credentials: AppCredentials, *, retries: int = 5) -> None:
        """Delete the FCM registration, the register3 registration and the installation.
        What is already gone counts as done; the credentials are useless afterwards."""
        config, stored = _registered(credentials)
        installation = await self._live_installation(config, stored, retries)
        gcm = credentials.gcm
        accept = {gcm.app_name, gcm.app_id}
        if config.flow == "web":
            if installation is not None and credentials.fcm.token:
                await self._http.fcm_delete(config, installation, credentials.fcm.token, retries)
            await self._http.unregister3(self._web_unregister_request(gcm), accept, retries)
        elif installation is not None:
            request = self._android_request(
                gcm, config.android_cert, config.app_id, installation, delete=True
            )
            await self._http.unregister3(request, accept, retries)
        if installation is not None:
            await self._http.delete_installation(config, installation, retries)
        log.info("unregistered")

    def _web_unregister_request(self, gcm: AppCredentialsGcm) -> HttpRequest:
        """What Chrome's ``PushSubscription.unsubscribe()`` sends (InstanceID DeleteID:
        ``sender=*``, ``scope=*``); GCM style for credentials stored before InstanceID."""
        url = self.endpoints.register
        if not gcm.instance_id:
            return _reg.gcm_unregister_request(url, gcm)
        return _reg.instance_id_delete_request(
            url, gcm, instance_id=gcm.instance_id, scope="*", sender="*"
        )

    async def _live_installation(
        self, config: FirebaseConfig, installation: FirebaseInstallation, retries: int
    ) -> FirebaseInstallation | None:
        """The installation with a usable auth token, or None when it is gone."""
        if not installation.expires_within(FIS_REFRESH_MARGIN.total_seconds()):
            return installation
        try:
            return await self._http.installation_token(config, installation, retries)
        except InstallationError as exc:
            if exc.http_status in (401, 404):
                return None
            raise


def _web_origin(project_id: str | None) -> str:
    """The origin in a web registration's app id: the project's default Firebase
    Hosting site, where a Firebase web app usually lives."""
    return f"https://{project_id}.firebaseapp.com/" if project_id else "https://receiver.push.com/"


def _registered(credentials: AppCredentials) -> tuple[FirebaseConfig, FirebaseInstallation]:
    if credentials.config is None or credentials.installation is None:
        raise ConfigError(
            "these credentials carry no Firebase config or installation: "
            "register again with PullkinCore.register_app(config)"
        )
    return credentials.config, credentials.installation
