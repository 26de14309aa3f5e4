"""One registration request at a time, over aiohttp, retried until it is done or final.

``RegistrationHttp`` is what ``PullkinCore`` composes: it owns (or borrows) the aiohttp
session, sends the pure requests of ``pullkin.registration`` /
``pullkin.registration_firebase``, hands the answers to their parsers and retries what
they call transient.  Retry policy: exponential backoff with full jitter
(``pullkin._backoff``), never shorter than a ``Retry-After`` the server sent (a
``Retry-After`` over 10 minutes is not waited for: the error is raised), at least 1 s
after ``PHONE_REGISTRATION_ERROR``, and at most ``retries`` retries after the first
attempt.  Network failures are transient except an untrusted TLS certificate.
Log lines name the step, never a URL (FCM tokens sit in some paths), token or key.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypedDict, TypeVar

import aiohttp

from pullkin import registration as _reg
from pullkin import registration_firebase as _fb
from pullkin._backoff import Backoff, parse_retry_after
from pullkin._http_read import MAX_REGISTRATION_BODY, ResponseTooLarge, read_capped, tls
from pullkin.endpoints import Endpoints
from pullkin.errors import (
    CheckinError,
    ConfigError,
    FcmRegisterError,
    GcmRegisterError,
    InstallationError,
    RegistrationError,
)
from pullkin.models import (
    AppCredentialsFcm,
    AppCredentialsGcm,
    AppCredentialsKeys,
    FirebaseConfig,
    FirebaseInstallation,
)
from pullkin.proto.checkin_pb2 import AndroidCheckinResponse
from pullkin.registration import HttpRequest

__all__ = ["RegistrationHttp", "Response", "Sleep"]

log = logging.getLogger(__name__)

#: A Retry-After longer than this is not waited for: the error is raised instead.
MAX_RETRY_AFTER = 600.0
#: PHONE_REGISTRATION_ERROR clears once a fresh check-in has propagated, which takes
#: about a second (EN #44): retrying sooner only burns an attempt.
PHONE_REGISTRATION_MIN_DELAY = 1.0

_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    """What a parser needs of an HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _error(cls: type[RegistrationError], message: str, *, transient: bool) -> RegistrationError:
    if issubclass(cls, GcmRegisterError):
        return cls(message, "URL_FETCHING_FAILED", transient=transient)
    return cls(message, transient=transient)


def _gave_up(exc: RegistrationError, attempts: int) -> RegistrationError:
    """The last error again, saying that retrying did not help."""
    message = f"{exc} (gave up after {attempts} attempts)"
    if isinstance(exc, GcmRegisterError):
        return GcmRegisterError(message, exc.reason, transient=True, http_status=exc.http_status)
    return type(exc)(message, transient=True, http_status=exc.http_status)


class RegistrationHttp:
    """Session, timeouts and retries for the registration endpoints of *endpoints*."""

    def __init__(
        self,
        endpoints: Endpoints,
        session: aiohttp.ClientSession | None,
        *,
        timeout: float,
        sleep: Sleep | None,
        backoff: tuple[float, float],
        rng: random.Random | None,
    ) -> None:
        if timeout <= 0:
            raise ConfigError("PullkinCore timeout must be positive")
        if backoff[0] <= 0 or backoff[1] < backoff[0]:
            raise ConfigError("PullkinCore needs backoff_base > 0 and backoff_cap >= backoff_base")
        self.endpoints = endpoints
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self._backoff = backoff
        self._rng = rng if rng is not None else random.Random()
        self._ssl = tls(endpoints.ssl_context)

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- the machinery -------------------------------------------------------------

    async def _send(
        self, request: HttpRequest, step: str, error: type[RegistrationError]
    ) -> Response:
        """One attempt; network failures become *error*."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                ssl=self._ssl,
                timeout=self._timeout,
            ) as response:
                body = await read_capped(response, MAX_REGISTRATION_BODY)
                return Response(response.status, response.headers, body)
        except ResponseTooLarge as exc:
            raise _error(error, f"{step} refused: {exc}", transient=True) from None
        except aiohttp.ClientConnectorCertificateError:
            message = (
                f"{step}: the server's TLS certificate is not trusted (see Endpoints.ssl_context)"
            )
            failure = _error(error, message, transient=False)
            failure.untrusted_certificate = True
            raise failure from None
        except asyncio.TimeoutError:
            message = f"{step} timed out after {self._timeout.total:g} s"
            raise _error(error, message, transient=True) from None
        except aiohttp.ClientError as exc:
            message = f"{step} failed: {type(exc).__name__}"
            raise _error(error, message, transient=True) from exc

    async def call(
        self,
        step: str,
        request: HttpRequest,
        parse: Callable[[Response], _T],
        error: type[RegistrationError],
        retries: int,
    ) -> _T:
        """Send *request* until *parse* accepts the answer or the error is final."""
        if retries < 0:
            raise ConfigError("retries must not be negative")
        backoff = Backoff(*self._backoff, rng=self._rng)
        attempt = 0
        while True:
            attempt += 1
            response: Response | None = None
            try:
                response = await self._send(request, step, error)
                return parse(response)
            except RegistrationError as exc:
                if not exc.transient:
                    raise
                if attempt > retries:
                    raise _gave_up(exc, attempt) from exc
                delay = _delay(backoff, exc, response)
                if delay is None:
                    raise _too_long_to_wait(exc, response) from exc
                log.warning(
                    "%s failed (%s); attempt %d of %d, retrying in %.2f s",
                    step, exc, attempt, retries + 1, delay,
                )  # fmt: skip
                await self._sleep(delay)

    # --- check-in and register3 ------------------------------------------------------

    async def check_in(
        self, credentials: AppCredentialsGcm | None, retries: int, chrome_version: str | None = None
    ) -> AndroidCheckinResponse:
        request = _reg.checkin_request(
            self.endpoints.checkin, credentials, chrome_version=chrome_version
        )

        def parse(r: Response) -> AndroidCheckinResponse:
            return _reg.parse_checkin_response(
                r.status, r.headers, r.body, returning=credentials is not None
            )

        kind = "returning" if credentials else "new"
        step = f"check-in ({kind} device)"
        response = await self.call(step, request, parse, CheckinError, retries)
        log.info("checked in (%s device)", kind)
        return response

    async def register3(self, request: HttpRequest, retries: int) -> str:
        def parse(r: Response) -> str:
            return _reg.parse_register_response(r.status, r.headers, r.body)

        token = await self.call("register3", request, parse, GcmRegisterError, retries)
        log.info("register3 succeeded")
        return token

    async def unregister3(
        self, request: HttpRequest, accept: Collection[str], retries: int
    ) -> None:
        def parse(r: Response) -> None:
            _reg.parse_unregister_response(r.status, r.headers, r.body, accept=accept)

        await self.call("register3 delete", request, parse, GcmRegisterError, retries)
        log.info("register3 delete succeeded")

    # --- Firebase Installations ------------------------------------------------------

    async def create_installation(
        self,
        *,
        project_id: str,
        api_key: str,
        app_id: str,
        android_package: str | None,
        android_cert: str | None,
        retries: int,
    ) -> FirebaseInstallation:
        request = _fb.installation_create_request(
            self.endpoints.installations,
            project_id=project_id,
            api_key=api_key,
            app_id=app_id,
            fid=_fb.generate_fid(),
            android_package=android_package,
            android_cert=android_cert,
        )

        def parse(r: Response) -> FirebaseInstallation:
            return _fb.parse_installation_response(r.status, r.headers, r.body, now=utcnow())

        step = "Firebase Installations create"
        installation = await self.call(step, request, parse, InstallationError, retries)
        log.info("created a Firebase installation")
        return installation

    async def installation_token(
        self, config: FirebaseConfig, installation: FirebaseInstallation, retries: int
    ) -> FirebaseInstallation:
        request = _fb.installation_token_request(
            self.endpoints.installations, installation=installation, **_fis_app(config)
        )

        def parse(r: Response) -> FirebaseInstallation:
            return _fb.parse_installation_token_response(
                r.status, r.headers, r.body, installation=installation, now=utcnow()
            )

        step = "Firebase Installations generateAuthToken"
        result = await self.call(step, request, parse, InstallationError, retries)
        log.info("refreshed the Firebase installation auth token")
        return result

    async def delete_installation(
        self, config: FirebaseConfig, installation: FirebaseInstallation, retries: int
    ) -> None:
        request = _fb.installation_delete_request(
            self.endpoints.installations, installation=installation, **_fis_app(config)
        )

        def parse(r: Response) -> None:
            _fb.parse_installation_delete_response(r.status, r.headers, r.body)

        step = "Firebase Installations delete"
        await self.call(step, request, parse, InstallationError, retries)
        log.info("deleted the Firebase installation")

    # --- FCM registrations ------------------------------------------------------------

    async def _fcm(self, step: str, request: HttpRequest, retries: int) -> AppCredentialsFcm:
        def parse(r: Response) -> AppCredentialsFcm:
            return _fb.parse_fcm_response(r.status, r.headers, r.body, now=utcnow())

        fcm = await self.call(step, request, parse, FcmRegisterError, retries)
        log.info("%s succeeded", step)
        return fcm

    async def fcm_create(
        self,
        *,
        gcm_token: str,
        api_key: str,
        project_id: str,
        installation: FirebaseInstallation,
        keys: AppCredentialsKeys,
        vapid_key: str | None,
        retries: int,
    ) -> AppCredentialsFcm:
        body = _fb.fcm_web_body(self.endpoints.webpush_url(gcm_token), keys, vapid_key)
        request = _fb.fcm_create_request(
            self.endpoints.registrations,
            project_id=project_id,
            api_key=api_key,
            fis_auth_token=installation.auth_token,
            body=body,
        )
        return await self._fcm("FCM registrations create", request, retries)

    async def fcm_update(
        self,
        config: FirebaseConfig,
        installation: FirebaseInstallation,
        *,
        gcm_token: str,
        fcm_token: str,
        keys: AppCredentialsKeys,
        retries: int,
    ) -> AppCredentialsFcm:
        body = _fb.fcm_web_body(self.endpoints.webpush_url(gcm_token), keys, config.vapid_key)
        request = _fb.fcm_update_request(
            self.endpoints.registrations,
            project_id=config.project_id,
            api_key=config.api_key,
            fis_auth_token=installation.auth_token,
            token=fcm_token,
            body=body,
        )
        return await self._fcm("FCM registrations update", request, retries)

    async def fcm_delete(
        self, config: FirebaseConfig, installation: FirebaseInstallation, token: str, retries: int
    ) -> None:
        request = _fb.fcm_delete_request(
            self.endpoints.registrations,
            project_id=config.project_id,
            api_key=config.api_key,
            fis_auth_token=installation.auth_token,
            token=token,
        )

        def parse(r: Response) -> None:
            _fb.parse_fcm_delete_response(r.status, r.headers, r.body)

        await self.call("FCM registrations delete", request, parse, FcmRegisterError, retries)
        log.info("FCM registrations delete succeeded")


class _FisApp(TypedDict):
    project_id: str
    api_key: str
    android_package: str | None
    android_cert: str | None


def _fis_app(config: FirebaseConfig) -> _FisApp:
    """The app fields every Firebase Installations call about one installation needs."""
    return {
        "project_id": config.project_id,
        "api_key": config.api_key,
        "android_package": config.android_package,
        "android_cert": config.android_cert,
    }


def _too_long_to_wait(exc: RegistrationError, response: Response | None) -> RegistrationError:
    """The error again, saying how long the server asked to wait (more than we do)."""
    asked = parse_retry_after(response.headers.get("Retry-After")) if response else None
    wait = f"after {asked:g} s" if asked is not None else "later"
    message = (
        f"{exc} (the server asked to retry {wait}, more than the "
        f"{MAX_RETRY_AFTER:g} s a registration call waits: try again later)"
    )
    if isinstance(exc, GcmRegisterError):
        return GcmRegisterError(message, exc.reason, transient=True, http_status=exc.http_status)
    return type(exc)(message, transient=True, http_status=exc.http_status)


def _delay(backoff: Backoff, exc: RegistrationError, response: Response | None) -> float | None:
    """Seconds to wait before the next attempt, or None when the server asks too much."""
    delay = backoff.next_delay()
    if isinstance(exc, GcmRegisterError) and exc.reason == "PHONE_REGISTRATION_ERROR":
        delay = max(delay, PHONE_REGISTRATION_MIN_DELAY)
    if response is not None:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            if retry_after > MAX_RETRY_AFTER:
                return None
            delay = max(delay, retry_after)
    return delay
