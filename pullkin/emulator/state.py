"""The emulated Google side's memory: devices, registrations, installations, tokens.

Plain dataclasses in dicts, shared by the HTTP app (which creates them) and the MCS
server (which authenticates devices and delivers to them).  With a state directory the
whole state is written through to SQLite (``persist.py``) and read back at start.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from pullkin._b64 import b64decode_any

__all__ = [
    "Device",
    "EmulatorState",
    "FcmRegistration",
    "GcmRegistration",
    "Installation",
    "OAuthToken",
]


@dataclass
class Device:
    """A checked-in Chrome instance (``/checkin``)."""

    android_id: int
    security_token: int
    created_at: float = field(default_factory=time.time)
    last_checkin: float = field(default_factory=time.time)
    chrome_version: str = ""


@dataclass
class GcmRegistration:
    """A register3 result.  ``kind="android"``: the token is already an FCM token."""

    token: str
    android_id: int
    app: str
    subtype: str
    sender: str
    kind: Literal["web", "android"] = "web"
    project_id: str | None = None
    created_at: float = field(default_factory=time.time)
    #: The Firebase installation an Android-app registration was made with.
    fid: str | None = None
    #: The InstanceID (register3 ``appid``) of a Chrome Push API subscription.
    instance_id: str | None = None


@dataclass
class Installation:
    """A Firebase Installations entry and its current auth token."""

    fid: str
    project_id: str
    app_id: str
    refresh_token: str
    auth_token: str
    expires_at: float


@dataclass
class FcmRegistration:
    """An fcmregistrations entry: FCM token → the web push subscription it stands for."""

    token: str
    project_id: str
    gcm_token: str
    p256dh: str
    auth: str
    application_pub_key: str | None = None
    fid: str | None = None
    created_at: float = field(default_factory=time.time)
    #: Made by the FID-based flow (Firebase JS SDK 13 ``register()``): named and
    #: deleted by ``fid``; the token stays internal.
    by_fid: bool = False

    # Decoded once per registration, not once per send (the send hot path).
    @cached_property
    def p256dh_bytes(self) -> bytes:
        return b64decode_any(self.p256dh)

    @cached_property
    def auth_bytes(self) -> bytes:
        return b64decode_any(self.auth)


@dataclass
class OAuthToken:
    """An access token issued by the emulated OAuth endpoint."""

    token: str
    client_email: str
    project_id: str
    expires_at: float
    #: The space-separated OAuth scopes the token was granted.
    scope: str = ""


@dataclass
class EmulatorState:
    """Everything the emulated Google side remembers (not the MCS mailboxes)."""

    devices: dict[int, Device] = field(default_factory=dict)
    gcm: dict[str, GcmRegistration] = field(default_factory=dict)
    installations: dict[str, Installation] = field(default_factory=dict)
    fcm: dict[str, FcmRegistration] = field(default_factory=dict)
    oauth_tokens: dict[str, OAuthToken] = field(default_factory=dict)
    topics: dict[str, set[str]] = field(default_factory=dict)
    #: Tokens that existed and were deleted (Web Push answers 410 Gone for them).
    deleted_tokens: set[str] = field(default_factory=set)

    def check_device(self, android_id: int, security_token: int) -> bool:
        """True when the pair belongs to a checked-in device (constant-time compare)."""
        if not 0 <= security_token < 1 << 64:
            return False
        device = self.devices.get(android_id)
        return device is not None and secrets.compare_digest(
            device.security_token.to_bytes(8, "big"), security_token.to_bytes(8, "big")
        )

    def device_of_token(self, token: str) -> tuple[int, GcmRegistration] | None:
        """The android_id and register3 entry an FCM or GCM token delivers to."""
        fcm = self.fcm.get(token)
        gcm = self.gcm.get(fcm.gcm_token if fcm else token)
        if gcm is None:
            return None
        return gcm.android_id, gcm

    def installation_by_auth_token(self, auth_token: str, now: float) -> Installation | None:
        """The installation whose current, unexpired FIS auth token is *auth_token*."""
        if not auth_token:
            return None
        wanted = auth_token.encode()
        for installation in self.installations.values():
            if secrets.compare_digest(installation.auth_token.encode(), wanted):
                return installation if installation.expires_at > now else None
        return None

    def find_gcm(
        self, android_id: int, app: str, subtype: str, sender: str
    ) -> GcmRegistration | None:
        """The register3 entry made earlier for the same (device, app, subtype, sender)."""
        for registration in self.gcm.values():
            if (
                registration.android_id == android_id
                and registration.app == app
                and registration.subtype == subtype
                and registration.sender == sender
            ):
                return registration
        return None
