"""The emulated Google side's memory: devices, registrations, installations, tokens.

Plain dataclasses in dicts, shared by the HTTP app (which creates them) and the MCS
server (which authenticates devices and delivers to them).  With a state directory the
whole state is written through to SQLite (``persist.py``) and read back at start.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

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


@dataclass
class OAuthToken:
    """An access token issued by the emulated OAuth endpoint."""

    token: str
    client_email: str
    project_id: str
    expires_at: float


@dataclass
class EmulatorState:
    """Everything the emulated Google side remembers (not the MCS mailboxes)."""

    devices: dict[int, Device] = field(default_factory=dict)
    gcm: dict[str, GcmRegistration] = field(default_factory=dict)
    installations: dict[str, Installation] = field(default_factory=dict)
    fcm: dict[str, FcmRegistration] = field(default_factory=dict)
    oauth_tokens: dict[str, OAuthToken] = field(default_factory=dict)
    topics: dict[str, set[str]] = field(default_factory=dict)

    def check_device(self, android_id: int, security_token: int) -> bool:
        """True when the pair belongs to a checked-in device (constant-time compare)."""
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
