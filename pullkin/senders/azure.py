"""``AzureNotificationHub``: the Notification Hubs data plane, async, typed and retrying.

What Microsoft's Python sample (seed 004) leaves out, on the shared HTTP base: SAS
tokens per vendors/azure-nh.md §2 (cached, renewed five minutes before expiry),
native and template sends with tag expressions, direct and batch sends, scheduled
sends, test sends with their per-registration outcome, installations and
registrations, and the error table of §6 (403/409/429 are throttling: retried).

The SAS audience is always the connection string's namespace URL; ``base_url`` only
moves where requests go (the emulator), so the same token is valid at both.
"""

from __future__ import annotations

import datetime as _dt
import logging
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from pullkin.errors import ConfigError, InvalidArgumentError, SendError
from pullkin.senders._http import HttpClient, HttpResponse, RetryPolicy, _OwnsHttpClient
from pullkin.senders.azure_models import (
    AzureNotification,
    parse_connection_string,
    sas_token,
    tag_expression,
)
from pullkin.senders.azure_records import (
    Installation,
    InstallationPatch,
    NotificationOutcome,
    Registration,
    parse_registration,
    parse_registration_feed,
    registration_entry,
)
from pullkin.senders.azure_wire import (
    bad_response,
    classify_azure,
    debug_request,
    debug_response,
    direct_handle_headers,
    guess_wns_type,
    multipart_batch,
    outcome,
    parse_body,
    send_headers,
)

__all__ = [
    "AzureNotification",
    "AzureNotificationHub",
    "Installation",
    "InstallationPatch",
    "NotificationOutcome",
    "Registration",
    "RegistrationPage",
]

log = logging.getLogger(__name__)

API_VERSION = "2020-06"
MAX_BATCH = 1000
_RENEW_BEFORE = 300.0
_ATOM = "application/atom+xml;type=entry;charset=utf-8"

Tags = str | Iterable[str] | None


@dataclass(frozen=True)
class RegistrationPage:
    """One page of a registration listing; pass ``continuation_token`` for the next."""

    registrations: list[Registration]
    continuation_token: str | None


class AzureNotificationHub(_OwnsHttpClient):
    """One notification hub.

    ``connection_string``: the hub's access policy string (``Endpoint=sb://…;
    SharedAccessKeyName=…;SharedAccessKey=…``); ``base_url`` overrides where requests
    go (``emu.vendor("azure")["base_url"]``), never the SAS audience.  ``debug``
    (the sample's third argument) logs every request and response at DEBUG level on
    the ``pullkin.senders.azure`` logger, the SAS token and device handles redacted;
    the sample's per-registration send outcome is ``test=True`` on a send.
    """

    def __init__(
        self,
        connection_string: str,
        hub_name: str,
        debug: bool | int = False,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sas_lifetime: int = 3600,
    ) -> None:
        self._cs = parse_connection_string(connection_string)
        if not isinstance(hub_name, str) or not hub_name.strip() or "/" in hub_name:
            raise ConfigError("hub_name must be the notification hub's name (no '/')")
        if sas_lifetime <= _RENEW_BEFORE:
            raise ConfigError(f"sas_lifetime must exceed {_RENEW_BEFORE:.0f} seconds")
        self.hub_name = hub_name
        self.debug = bool(debug)
        base = base_url or self._cs.namespace_url
        if urlsplit(base).scheme not in ("http", "https"):
            raise ConfigError(f"base_url must be an http(s) URL, got {base!r}")
        self._hub_url = base.rstrip("/") + "/" + quote(hub_name, safe="")
        self._sas_lifetime = sas_lifetime
        self._sas: tuple[dict[str, str], float] | None = None
        self._http = HttpClient(
            "azure",
            session=session,
            timeout=timeout,
            retry=retry,
            ssl=ssl_context,
            insecure=insecure,
            classify=classify_azure,
            request_id_header="x-ms-client-request-id",
            response_id_headers=("TrackingId",),
        )

    async def _auth(self) -> dict[str, str]:
        now = time.time()
        if self._sas is None or now >= self._sas[1] - _RENEW_BEFORE:
            expiry = int(now + self._sas_lifetime)
            token = sas_token(self._cs.namespace_url, self._cs.key_name, self._cs.key, expiry)
            self._sas = ({"Authorization": token, "x-ms-version": API_VERSION}, expiry)
        return self._sas[0]

    def _url(self, path: str, **query: str) -> str:
        params = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self._hub_url}/{path}?api-version={API_VERSION}{params}"

    async def _call(
        self, method: str, url: str, *, data: bytes | None = None, **kwargs: Any
    ) -> HttpResponse:
        if not self.debug:
            return await self._http.request(method, url, data=data, auth=self._auth, **kwargs)
        body = data if data is not None else kwargs.get("json")
        log.debug("%s", debug_request(method, url, kwargs.get("headers") or {}, body))
        try:
            response = await self._http.request(method, url, data=data, auth=self._auth, **kwargs)
        except SendError as exc:
            log.debug("%s", debug_response(exc.http_status, {}, exc.response))
            raise
        log.debug("%s", debug_response(response.status, response.headers, response.body))
        return response

    # --- sends ------------------------------------------------------------------------

    async def send_notification(
        self, notification: AzureNotification, tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        """Send to every registration matching *tags* (a tag, an expression such as
        ``"sports && !muted"``, or a set joined with ``||``); ``None``, ``""`` (the
        sample's default) or an empty set broadcasts.
        ``test=True`` asks for the per-registration outcome (debug send)."""
        headers = {**send_headers(notification), **_tags_header(tags)}
        url = self._url("messages/", **({"test": "true"} if test else {}))
        response = await self._call(
            "POST", url, data=notification.encoded_body(), headers=headers, idempotent=False
        )
        return outcome(response, "DetailedStateAvailable" if test else "Enqueued")

    async def send_fcm_v1_notification(
        self, payload: Mapping[str, Any], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        """FCM HTTP v1 body ``{"message": {…}}`` without a target."""
        return await self.send_notification(AzureNotification("fcmv1", payload), tags, test=test)

    async def send_gcm_notification(
        self, payload: Mapping[str, Any], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        """Legacy FCM (GCM) body ``{"data": …, "notification": …}``."""
        return await self.send_notification(AzureNotification("gcm", payload), tags, test=test)

    #: The name Microsoft's Python sample uses for GCM sends.
    send_google_notification = send_gcm_notification

    async def send_apple_notification(
        self,
        payload: Mapping[str, Any],
        tags: Tags = None,
        *,
        headers: Mapping[str, str] | None = None,
        test: bool = False,
    ) -> NotificationOutcome:
        """APNs JSON (``{"aps": …}``); *headers* such as ``apns-push-type`` pass through."""
        note = AzureNotification("apple", payload, dict(headers or {}))
        return await self.send_notification(note, tags, test=test)

    async def send_windows_notification(
        self,
        payload: str | bytes,
        tags: Tags = None,
        *,
        wns_type: str | None = None,
        test: bool = False,
    ) -> NotificationOutcome:
        """WNS XML (or bytes for ``wns/raw``); ``wns_type`` is guessed from the XML
        root (toast, tile, badge) when not given."""
        kind = wns_type or guess_wns_type(payload)
        note = AzureNotification("windows", payload, {"X-WNS-Type": kind})
        return await self.send_notification(note, tags, test=test)

    async def send_mpns_notification(
        self, payload: str, tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        """MPNS (Windows Phone 8) XML, as Microsoft's sample sends it.  MPNS itself is
        retired; hubs still accept the format for old registrations."""
        if "<wp:Toast" in payload:
            headers = {"X-WindowsPhone-Target": "toast", "X-NotificationClass": "2"}
        elif "<wp:Tile" in payload:
            headers = {"X-WindowsPhone-Target": "tile", "X-NotificationClass": "1"}
        else:
            headers = {"X-NotificationClass": "3"}  # raw
        note = AzureNotification("windowsphone", payload, headers)
        return await self.send_notification(note, tags, test=test)

    async def send_baidu_notification(
        self, payload: Mapping[str, Any], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        return await self.send_notification(AzureNotification("baidu", payload), tags, test=test)

    async def send_xiaomi_notification(
        self, payload: Mapping[str, Any], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        return await self.send_notification(AzureNotification("xiaomi", payload), tags, test=test)

    async def send_browser_notification(
        self, payload: Mapping[str, Any], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        note = AzureNotification("browser", payload)
        return await self.send_notification(note, tags, test=test)

    async def send_adm_notification(
        self, payload: Mapping[str, Any], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        return await self.send_notification(AzureNotification("adm", payload), tags, test=test)

    async def send_template_notification(
        self, properties: Mapping[str, str], tags: Tags = None, *, test: bool = False
    ) -> NotificationOutcome:
        """Fill every matching registration's template with *properties*."""
        note = AzureNotification("template", properties)
        return await self.send_notification(note, tags, test=test)

    async def send_direct_notification(
        self, notification: AzureNotification, device_handle: str | Mapping[str, str]
    ) -> NotificationOutcome:
        """Send to one PNS handle without a registration.  For ``browser`` pass the
        subscription ``{"endpoint", "p256dh", "auth"}``."""
        headers = send_headers(notification)
        headers.update(direct_handle_headers(notification.format, device_handle))
        url = self._url("messages/", direct="true")
        response = await self._call(
            "POST", url, data=notification.encoded_body(), headers=headers, idempotent=False
        )
        return outcome(response, "Enqueued")

    async def send_direct_batch_notification(
        self, notification: AzureNotification, device_handles: Sequence[str]
    ) -> list[NotificationOutcome]:
        """Send to many handles; split into requests of at most 1000 handles."""
        handles = list(device_handles)
        if not handles or not all(isinstance(h, str) and h for h in handles):
            raise InvalidArgumentError(
                "device_handles must be a non-empty list of handle strings",
                vendor="azure", code="INVALID_ARGUMENT",
            )  # fmt: skip
        outcomes = []
        for start in range(0, len(handles), MAX_BATCH):
            chunk = handles[start : start + MAX_BATCH]
            boundary = f"pullkin-{time.monotonic_ns():x}"
            headers = send_headers(notification)
            headers["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
            body = multipart_batch(boundary, notification, chunk)
            url = self._url("messages/$batch", direct="true")
            response = await self._call("POST", url, data=body, headers=headers, idempotent=False)
            outcomes.append(outcome(response, "Enqueued"))
        return outcomes

    async def schedule_notification(
        self, notification: AzureNotification, scheduled_time: _dt.datetime, tags: Tags = None
    ) -> NotificationOutcome:
        """Deliver at *scheduled_time* (timezone-aware; Standard tier)."""
        if not isinstance(scheduled_time, _dt.datetime) or scheduled_time.tzinfo is None:
            raise InvalidArgumentError(
                "scheduled_time must be a timezone-aware datetime",
                vendor="azure", code="INVALID_ARGUMENT",
            )  # fmt: skip
        headers = send_headers(notification)
        utc = scheduled_time.astimezone(_dt.timezone.utc)
        headers["ServiceBusNotification-ScheduleTime"] = (
            utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
        )
        headers.update(_tags_header(tags))
        url = self._url("schedulednotifications/")
        response = await self._call(
            "POST", url, data=notification.encoded_body(), headers=headers, idempotent=False
        )
        return outcome(response, "Scheduled")

    async def cancel_scheduled_notification(self, notification_id: str) -> None:
        await self._call("DELETE", self._url(f"schedulednotifications/{_segment(notification_id)}"))

    # --- installations -----------------------------------------------------------------

    async def create_or_update_installation(self, installation: Installation) -> None:
        """Create or overwrite (``PUT``) an installation; processed asynchronously."""
        url = self._url(f"installations/{_segment(installation.installation_id)}")
        await self._call("PUT", url, json=installation.to_json())

    async def update_installation(
        self, installation_id: str, patches: Iterable[InstallationPatch | Mapping[str, Any]]
    ) -> None:
        """Apply JSON Patch operations (``add``/``remove``/``replace``) to an installation."""
        ops = [p if isinstance(p, InstallationPatch) else InstallationPatch(**p) for p in patches]
        if not ops:
            raise InvalidArgumentError(
                "update_installation needs at least one patch",
                vendor="azure", code="INVALID_ARGUMENT",
            )  # fmt: skip
        url = self._url(f"installations/{_segment(installation_id)}")
        body = [op.to_json() for op in ops]
        headers = {"Content-Type": "application/json-patch+json"}
        await self._call("PATCH", url, json=body, headers=headers)

    #: Same operation under its REST name.
    patch_installation = update_installation

    async def get_installation(self, installation_id: str) -> Installation:
        response = await self._call("GET", self._url(f"installations/{_segment(installation_id)}"))
        data = response.json()
        try:
            return Installation.from_json(data)
        except (KeyError, TypeError, InvalidArgumentError):
            raise bad_response(response, "an installation") from None

    async def delete_installation(self, installation_id: str) -> None:
        await self._call("DELETE", self._url(f"installations/{_segment(installation_id)}"))

    # --- registrations --------------------------------------------------------------------

    async def create_registration_id(self) -> str:
        """A new registration id to ``create_or_update_registration`` with."""
        response = await self._call("POST", self._url("registrationIDs"), idempotent=False)
        location = response.headers.get("Content-Location") or response.headers.get("Location")
        if not location:
            raise bad_response(response, "a registration id location")
        return urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]

    async def create_registration(self, registration: Registration) -> Registration:
        return await self._registration_call(
            "POST", self._url("registrations"), registration, idempotent=False
        )

    async def create_or_update_registration(self, registration: Registration) -> Registration:
        """``PUT`` the registration under its ``registration_id``."""
        url = self._url(f"registrations/{_segment(_require_id(registration))}")
        return await self._registration_call("PUT", url, registration)

    async def update_registration(self, registration: Registration) -> Registration:
        """Update, guarded by the registration's ``etag`` (``*`` when it has none)."""
        url = self._url(f"registrations/{_segment(_require_id(registration))}")
        headers = {"If-Match": registration.etag or "*"}
        return await self._registration_call("PUT", url, registration, headers=headers)

    async def get_registration(self, registration_id: str) -> Registration:
        response = await self._call("GET", self._url(f"registrations/{_segment(registration_id)}"))
        return parse_body(response, parse_registration, "a registration entry")

    async def delete_registration(self, registration_id: str, etag: str = "*") -> None:
        url = self._url(f"registrations/{_segment(registration_id)}")
        await self._call("DELETE", url, headers={"If-Match": etag})

    async def list_registrations(
        self, *, top: int | None = None, continuation_token: str | None = None
    ) -> RegistrationPage:
        return await self._list("registrations", top, continuation_token)

    async def list_registrations_by_tag(
        self, tag: str, *, top: int | None = None, continuation_token: str | None = None
    ) -> RegistrationPage:
        tag_expression(tag)  # validates the tag itself
        return await self._list(f"tags/{_segment(tag)}/registrations", top, continuation_token)

    async def _list(self, path: str, top: int | None, token: str | None) -> RegistrationPage:
        query = {}
        if top is not None:
            query["$top"] = str(int(top))
        if token is not None:
            query["ContinuationToken"] = quote(token, safe="")
        response = await self._call("GET", self._url(path, **query))
        registrations = parse_body(response, parse_registration_feed, "a registration feed")
        return RegistrationPage(registrations, response.headers.get("X-MS-ContinuationToken"))

    async def _registration_call(
        self, method: str, url: str, registration: Registration, **kwargs: Any
    ) -> Registration:
        headers = {"Content-Type": _ATOM, **kwargs.pop("headers", {})}
        body = registration_entry(registration)
        response = await self._call(method, url, data=body, headers=headers, **kwargs)
        return parse_body(response, parse_registration, "a registration entry")

    def __repr__(self) -> str:
        return f"<AzureNotificationHub {self.hub_name} at {self._hub_url}>"


# --- helpers ----------------------------------------------------------------------------


def _segment(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("ids must be non-empty strings", vendor="azure")
    return quote(value, safe="")


def _require_id(registration: Registration) -> str:
    if not registration.registration_id:
        raise InvalidArgumentError(
            "this operation needs registration.registration_id (see create_registration_id)",
            vendor="azure", code="INVALID_ARGUMENT",
        )  # fmt: skip
    return registration.registration_id


def _tags_header(tags: Tags) -> dict[str, str]:
    """The tags header; none at all (a broadcast) for None, "" or an empty set."""
    if tags is None or (isinstance(tags, str) and not tags.strip()):
        return {}
    if not isinstance(tags, str):
        tags = list(tags)
        if not tags:
            return {}
    return {"ServiceBusNotification-Tags": tag_expression(tags).text}
