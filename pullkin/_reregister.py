"""Keeping a client's registrations.  ``adopt``: whether stored credentials serve a
Firebase config (its API key may have been rotated since) or were registered for
another app.  ``Reregistration``: after a refused MCS login, check in again; only
when the answer says the device is gone, register each of its apps again (new
tokens: stored, and ``on_error`` is told).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pullkin._apps import App, AppTable
from pullkin._session_types import Device, device_of
from pullkin._sessions import SessionPool
from pullkin.core import PullkinCore
from pullkin.errors import CheckinError, ConfigError, LoginError, PullkinError
from pullkin.models import AppCredentials, FirebaseConfig
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.store import Store

__all__ = ["Reregistration", "adopt"]

# These records are the client's: they keep the logger name users configure for it.
log = logging.getLogger("pullkin.client")


def adopt(stored: AppCredentials, config: FirebaseConfig, store: Store) -> AppCredentials:
    """*stored* (read from *store*), if it was registered for *config*; another
    registration under the same sender id is refused rather than silently reused."""
    if stored.config is None:
        return stored.replace(config=config)  # written before configs were stored
    differ = stored.config.differences(config)
    if differ:
        changes = ", ".join(
            f"{name} {getattr(stored.config, name)!r} -> {getattr(config, name)!r}"
            for name in differ
        )
        where = getattr(store, "path", None) or type(store).__name__
        raise ConfigError(
            f"{where} already holds credentials of sender id {config.sender_id} "
            f"registered for another app ({changes}): use another credentials file or "
            f"store, or remove the old registration first (await "
            f"store.remove_app({config.sender_id!r}))"
        )
    return stored if stored.config == config else stored.replace(config=config)


class Reregistration:
    """What a client does when MCS refuses a device's login."""

    def __init__(
        self,
        core: PullkinCore,
        apps: AppTable,
        sessions: SessionPool,
        store: Store | None,
        report: Callable[[Exception, DataMessageStanza | None], None],
        start_app: Callable[[App], None],
    ) -> None:
        self._core = core
        self._apps = apps
        self._sessions = sessions
        self._store = store
        self._report = report
        self._start_app = start_app

    async def reauthenticate(self, android_id: int, error: LoginError) -> Device:
        """Check in again; only if the answer says the device is gone
        (``CheckinError.device_gone``), register every app of it again.  Any other
        failure is retried later."""
        apps = list(self._apps.of_device(android_id))
        if not apps:
            raise ConfigError(f"no app left for android_id {android_id}")
        first = apps[0].credentials
        try:
            gcm = await self._core.check_in(first)
        except CheckinError as exc:
            if not exc.device_gone:
                raise CheckinError(
                    f"{exc}; will check in again later", transient=True, http_status=exc.http_status
                ) from exc
            log.warning("device %d is no longer valid (%s); registering again", android_id, exc)
            return await self._reregister(apps, error)
        return device_of(gcm)

    async def _reregister(self, apps: list[App], error: LoginError) -> Device:
        """Each registration checks in anew; the first app's device continues this
        session, any other app of the old device gets a session of its own."""
        device: Device | None = None
        for app in apps:
            if app.credentials.config is None:
                raise ConfigError(
                    f"app {app.key} must register again but its credentials carry no "
                    "Firebase config; call register_app(config)"
                ) from error
            # PullkinCore's registration, not the client's (that one reuses the store's).
            credentials = await PullkinCore.register_app(self._core, app.credentials.config)
            self._apps.replace_credentials(app, credentials)
            if self._store is not None:
                await self._store.put_credentials(app.key, credentials)
            gcm = credentials.gcm
            self._report(
                PullkinError(f"app {app.key} was registered again: its FCM token changed"), None
            )
            if device is None:
                device = device_of(gcm)
            elif gcm.android_id not in self._sessions:
                self._start_app(app)
        assert device is not None
        return device
