"""The fleet key: credentials are encrypted at rest in PostgreSQL with it.

A key is 32 random bytes, written base64url (``pullkin fleet keygen`` prints one; the
CLI reads it from ``PULLKIN_FLEET_KEY``).  Each app's credentials JSON is sealed with
AES-256-GCM under a fresh 96-bit nonce, the app key as associated data (a row copied
onto another app does not open).  ``key_id`` — a hash of the key, not the key —
is stored beside it, so a worker started with another key says so instead of failing
to decrypt.  The key and the plaintext are never logged.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.errors import ConfigError

__all__ = ["FleetKey", "seal", "unseal"]


class FleetKey:
    """A 256-bit key and its public id."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError(f"the fleet key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"pullkin fleet key\0" + key).hexdigest()[:16]

    @classmethod
    def generate(cls) -> tuple[FleetKey, str]:
        """A new key and its base64url text."""
        raw = os.urandom(32)
        return cls(raw), b64url_encode(raw)

    @classmethod
    def from_text(cls, text: str) -> FleetKey:
        try:
            raw = b64decode_any(text.strip())
        except ValueError:
            raise ConfigError("the fleet key is not base64url text") from None
        return cls(raw)

    def __repr__(self) -> str:
        return f"<FleetKey id={self.key_id}>"


def seal(
    key: FleetKey | None, app_key: str, plaintext: bytes
) -> tuple[str | None, bytes | None, bytes]:
    """``(key_id, nonce, data)`` to store; without a key the plaintext as is."""
    if key is None:
        return None, None, plaintext
    nonce = os.urandom(12)
    return key.key_id, nonce, key._aead.encrypt(nonce, plaintext, app_key.encode())


def unseal(
    key: FleetKey | None, app_key: str, key_id: str | None, nonce: bytes | None, data: bytes
) -> bytes:
    """The plaintext of a stored row; a missing or wrong key is a ``ConfigError``."""
    if key_id is None:
        return data
    if key is None or key.key_id != key_id or nonce is None:
        raise ConfigError(
            f"the credentials of app {app_key!r} are encrypted with fleet key id {key_id}; "
            f"set PULLKIN_FLEET_KEY to that key"
            + (f" (this one is {key.key_id})" if key is not None else "")
        )
    try:
        return key._aead.decrypt(nonce, data, app_key.encode())
    except InvalidTag:
        raise ConfigError(
            f"the stored credentials of app {app_key!r} do not open with fleet key {key_id}: "
            "the row was altered or copied from another app"
        ) from None
