"""The data pullkin keeps and hands out: credentials, installations, messages.

Every model is a frozen, typed dataclass validated in ``__post_init__`` (a bad value
raises ``ConfigError`` naming the field) with a JSON round trip: ``to_dict()`` gives
JSON-ready data, ``from_dict()`` reads it back.  ``AppCredentials`` is the versioned
document stored on disk; its ``version`` guards against files written by a newer
pullkin.  ``repr()`` never shows a secret.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pullkin import _serde
from pullkin._b64 import b64decode_any
from pullkin.endpoints import CHROME_VERSION, DEFAULT_VAPID_KEY
from pullkin.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "CREDENTIALS_VERSION",
    "AppCredentials",
    "AppCredentialsFcm",
    "AppCredentialsGcm",
    "AppCredentialsKeys",
    "FirebaseConfig",
    "FirebaseInstallation",
    "Message",
    "Notification",
]

#: Schema version written by ``AppCredentials.to_dict``.
CREDENTIALS_VERSION = 1

_UINT64 = 1 << 64
_M = TypeVar("_M")


class _Model:
    """JSON round trip shared by every model.  Secret fields are ``repr=False``."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _serde.to_dict(self)
        return data

    @classmethod
    def from_dict(cls: type[_M], data: Any) -> _M:
        """Build from :meth:`to_dict` output; a bad field raises ``ConfigError``."""
        return _serde.from_dict(cls, data)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_b64(owner: str, name: str, value: str, size: int) -> bytes:
    try:
        raw = b64decode_any(value)
    except ValueError:
        raise ConfigError(f"{owner}.{name} is not valid base64url") from None
    _require(len(raw) == size, f"{owner}.{name} must decode to {size} bytes, got {len(raw)}")
    return raw


def _check_aware(owner: str, name: str, value: _dt.datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ConfigError(f"{owner}.{name} must be timezone-aware (UTC)")


@dataclass(frozen=True)
class AppCredentialsKeys(_Model):
    """The receiver's Web Push keys, base64url without padding.

    ``private_key`` is the 32-byte P-256 scalar, ``public_key`` the 65-byte
    uncompressed point (``p256dh``), ``auth_secret`` the 16-byte auth secret —
    exactly the form of the RFC 8291 vectors.  Padded or standard base64 is accepted.
    """

    private_key: str = field(repr=False)
    public_key: str
    auth_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        owner = "AppCredentialsKeys"
        _check_b64(owner, "private_key", self.private_key, 32)
        public = _check_b64(owner, "public_key", self.public_key, 65)
        _require(public[0] == 4, f"{owner}.public_key must be an uncompressed point (0x04…)")
        _check_b64(owner, "auth_secret", self.auth_secret, 16)

    @classmethod
    def generate(cls) -> AppCredentialsKeys:
        """A fresh P-256 key pair and 16-byte auth secret."""
        from pullkin.crypto import generate_keys

        return generate_keys()

    @cached_property
    def public_bytes(self) -> bytes:
        """The 65-byte uncompressed public point."""
        return b64decode_any(self.public_key)

    @cached_property
    def auth_bytes(self) -> bytes:
        """The 16-byte auth secret."""
        return b64decode_any(self.auth_secret)

    @cached_property
    def private_key_object(self) -> ec.EllipticCurvePrivateKey:
        """The loaded private key, built once per credentials object (not per message)."""
        from pullkin.crypto import load_private_key

        return load_private_key(self.private_key, self.public_bytes)


@dataclass(frozen=True)
class AppCredentialsGcm(_Model):
    """Device identity from check-in and the register3 result.

    ``token`` is the register3 token (the GCM token in the web flow, the FCM token
    itself in the Android-app flow); it is empty between check-in and register3.
    ``app_id`` is the register3 ``X-subtype`` (Chrome's ``wp:<origin>#<GUID>-V2`` in
    the web flow; ``wp:<bundle>#<uuid>`` in credentials stored by older versions),
    ``app_name`` the register3 ``app`` (arrives as the stanza ``category``),
    ``sender`` the register3 ``sender`` (VAPID key or numeric sender id).
    ``instance_id`` is the InstanceID (register3 ``appid``) a Chrome Push API
    subscription is made and deleted with; empty for GCM-style registrations.
    """

    android_id: int
    security_token: int = field(repr=False)
    token: str = field(default="", repr=False)
    app_id: str = ""
    app_name: str = "org.chromium.linux"
    sender: str = DEFAULT_VAPID_KEY
    chrome_version: str = CHROME_VERSION
    instance_id: str = ""

    def __post_init__(self) -> None:
        for name in ("android_id", "security_token"):
            value = getattr(self, name)
            _require(0 < value < _UINT64, f"AppCredentialsGcm.{name} must be in 1..2**64-1")
        _require(bool(self.app_name), "AppCredentialsGcm.app_name must not be empty")


@dataclass(frozen=True)
class FirebaseInstallation(_Model):
    """A Firebase Installations (FIS) entry: FID, refresh token and auth token."""

    fid: str
    refresh_token: str = field(repr=False)
    auth_token: str = field(repr=False)
    expires_at: _dt.datetime
    name: str = ""

    def __post_init__(self) -> None:
        _require(bool(self.fid), "FirebaseInstallation.fid must not be empty")
        _check_aware("FirebaseInstallation", "expires_at", self.expires_at)

    def expires_within(self, seconds: float, now: _dt.datetime | None = None) -> bool:
        """True when the auth token is expired or expires within *seconds*."""
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return self.expires_at - now <= _dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class AppCredentialsFcm(_Model):
    """The FCM registration token and when it was minted (refreshed after 7 days).

    A failed registration is represented with ``error`` set (seed API):
    check ``is_success`` before using ``token``.
    """

    token: str = field(repr=False)
    created_at: _dt.datetime | None = None
    name: str = ""
    error: str | None = None

    def __post_init__(self) -> None:
        _check_aware("AppCredentialsFcm", "created_at", self.created_at)
        _require(
            bool(self.token) or self.error is not None,
            "AppCredentialsFcm.token must not be empty unless error is set",
        )

    @property
    def is_success(self) -> bool:
        return self.error is None and bool(self.token)


@dataclass(frozen=True)
class FirebaseConfig(_Model):
    """A Firebase app's client config (what the console shows for a web or Android app).

    ``vapid_key`` is the application server key used as register3 ``sender``
    (web flow; default the Firebase key).  ``android_package`` / ``android_cert``
    select the Android-app flow.
    """

    api_key: str = field(repr=False)
    project_id: str
    app_id: str
    sender_id: str
    vapid_key: str | None = None
    android_package: str | None = None
    android_cert: str | None = None

    def __post_init__(self) -> None:
        for name in ("api_key", "project_id", "app_id", "sender_id"):
            _require(bool(getattr(self, name)), f"FirebaseConfig.{name} must not be empty")
        _require(
            self.sender_id.isdigit(),
            "FirebaseConfig.sender_id must be the numeric project number (messagingSenderId)",
        )
        if self.vapid_key is not None:
            raw = _check_b64("FirebaseConfig", "vapid_key", self.vapid_key, 65)
            _require(raw[0] == 4, "FirebaseConfig.vapid_key must be an uncompressed P-256 point")

    @property
    def flow(self) -> Literal["web", "android"]:
        return "android" if self.android_package else "web"

    def differences(self, other: FirebaseConfig) -> list[str]:
        """The fields in which *other* describes another registration: every field
        but ``api_key``, which may be rotated without registering again."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if f.name != "api_key" and getattr(self, f.name) != getattr(other, f.name)
        ]


@dataclass(frozen=True)
class AppCredentials(_Model):
    """Everything one registered app needs to receive: stored per sender id."""

    gcm: AppCredentialsGcm
    fcm: AppCredentialsFcm
    keys: AppCredentialsKeys | None = None
    installation: FirebaseInstallation | None = None
    config: FirebaseConfig | None = None
    version: int = CREDENTIALS_VERSION

    def __post_init__(self) -> None:
        _require(
            self.version == CREDENTIALS_VERSION,
            f"AppCredentials.version {self.version} is not supported "
            f"(this pullkin reads version {CREDENTIALS_VERSION}); upgrade pullkin",
        )

    @property
    def encrypted(self) -> bool:
        """Web registrations receive encrypted payloads; Android-app ones do not."""
        return self.keys is not None

    @classmethod
    def from_dict(cls, data: Any) -> AppCredentials:
        if isinstance(data, dict) and "version" not in data:
            raise ConfigError("AppCredentials.version is missing: not a pullkin credentials file")
        return _serde.from_dict(cls, data)

    def replace(self, **changes: Any) -> AppCredentials:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Notification(_Model):
    """The display part of a push; ``extra`` holds any other Web Notification option."""

    title: str | None = None
    body: str | None = None
    image: str | None = None
    icon: str | None = None
    click_action: str | None = None
    tag: str | None = None
    color: str | None = None
    sound: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message(_Model):
    """One received push, as handlers see it.

    ``data`` is the sender's string map; ``raw`` what it was parsed from (the
    decrypted JSON of a web registration, or the app_data of an Android-app one);
    ``payload`` the decrypted bytes of an encrypted message (a plain Web Push body
    need not be JSON).  ``sent_at`` is when the sender sent it, if known.
    ``message_type`` is None for a normal message, or the special type FCM sent
    (``deleted_messages``: the server dropped pending messages for this device).
    ``sender_id`` names the registered app that received it.
    """

    notification: Notification | None = None
    data: dict[str, str] = field(default_factory=dict)
    from_: str | None = None
    priority: str | None = None
    fcm_message_id: str | None = None
    collapse_key: str | None = None
    sent_at: _dt.datetime | None = None
    persistent_id: str | None = None
    message_type: str | None = None
    sender_id: str | None = None
    payload: bytes | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON document ``pullkin listen`` prints and sinks write: ``to_dict()``
        with ``from_`` spelled ``from``, as readers of JSON expect."""
        return {("from" if key == "from_" else key): value for key, value in self.to_dict().items()}

    def __post_init__(self) -> None:
        _check_aware("Message", "sent_at", self.sent_at)
        for key, value in self.data.items():  # every message: no text built unless needed
            if not (isinstance(key, str) and isinstance(value, str)):
                raise ConfigError(f"Message.data[{key!r}] must map str to str")
