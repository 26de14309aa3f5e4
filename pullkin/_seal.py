"""The send side of Web Push encryption: ``seal`` one record, ``seal_many`` a burst.  Pure.

Facts: ../shared/protocol/webpush.md §4, §5.  Every message gets a fresh ephemeral
P-256 key pair and a fresh salt (RFC 8291 §3.1); ``seal`` derives its keys with the
receive path's lean key schedule (``pullkin._ece``) and encrypts with one AES-GCM
call.  ``seal_many`` does the same for many messages phase by phase (every key pair,
then every key agreement, then every key schedule, then every record): each phase
then runs with its code and data warm in the CPU caches, which is what a sender with
many pushes in flight gains (``bench/senders.py``).  Both are re-exported by
``pullkin.crypto`` and checked there against ``encrypt`` (http_ece) and the vectors.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pullkin._b64 import b64url_encode
from pullkin._ece import Schedule, salted_keys, schedule
from pullkin.errors import ConfigError

__all__ = ["EncryptedPayload", "KeyAgreement", "SealRequest", "load_point", "seal", "seal_many"]

ContentEncoding = Literal["aes128gcm", "aesgcm"]

_CURVE = ec.SECP256R1()
_ECDH = ec.ECDH()
_DEFAULT_RS = 4096
_TAG = 16
_KEY_LEN = 65
_AES128GCM_HEADER_STRUCT = struct.Struct("!16sIB")  # salt(16) rs(4) idlen(1), keyid follows


@dataclass(frozen=True)
class EncryptedPayload:
    """An encrypted Web Push body and the metadata that must travel with it."""

    body: bytes
    encoding: ContentEncoding
    encryption: str | None = None
    crypto_key: str | None = None

    def headers(self) -> dict[str, str]:
        """RFC 8030 request headers describing the body."""
        headers: dict[str, str] = {"Content-Encoding": self.encoding}
        if self.encryption is not None and self.crypto_key is not None:
            headers["Encryption"] = self.encryption
            headers["Crypto-Key"] = self.crypto_key
        return headers

    def app_data(self) -> dict[str, str]:
        """The DataMessageStanza app_data FCM attaches to this body."""
        if self.encoding == "aes128gcm":
            return {"content-encoding": "aes128gcm"}
        return {"encryption": self.encryption or "", "crypto-key": self.crypto_key or ""}


@dataclass(frozen=True)
class KeyAgreement:
    """A sender's ephemeral public key and its ECDH secret with one receiver key.

    A fresh one per message is the norm; the emulator may reuse one per
    registration for a while (with a fresh salt per message) to save the ECDH.
    """

    sender_public: bytes
    secret: bytes = field(repr=False)
    _schedules: dict[tuple[str, bytes, bytes], Schedule] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def crypto_key(self) -> str:
        """The aesgcm ``Crypto-Key`` value naming this sender key."""
        return f"dh={b64url_encode(self.sender_public)}"

    def schedule(self, encoding: ContentEncoding, receiver: bytes, auth: bytes) -> Schedule:
        """The salt-independent derivation for one receiver, computed once."""
        key = (encoding, receiver, auth)
        derived = self._schedules.get(key)
        if derived is None:
            if len(self._schedules) >= 8:  # one receiver per agreement is the norm
                self._schedules.clear()
            derived = schedule(encoding, self.secret, auth, receiver, self.sender_public)
            self._schedules[key] = derived
        return derived

    @classmethod
    def make(
        cls,
        receiver: bytes | ec.EllipticCurvePublicKey,
        private: ec.EllipticCurvePrivateKey | None = None,
    ) -> KeyAgreement:
        """Agree with *receiver* (its 65-byte point, or the loaded key: a sender that
        pushes to one subscription often keeps it loaded, which saves a decode)."""
        peer = receiver if isinstance(receiver, ec.EllipticCurvePublicKey) else load_point(receiver)
        private = private or ec.generate_private_key(_CURVE)
        return cls(_public_bytes(private), private.exchange(_ECDH, peer))


def load_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """A 65-byte uncompressed P-256 point as a key (``ConfigError`` if invalid)."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
    except ValueError:
        raise ConfigError("p256dh is not a point on P-256") from None


def _public_bytes(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def seal(
    plaintext: bytes,
    p256dh: bytes,
    auth: bytes,
    encoding: ContentEncoding = "aes128gcm",
    *,
    salt: bytes | None = None,
    agreement: KeyAgreement | None = None,
    receiver_key: ec.EllipticCurvePublicKey | None = None,
) -> EncryptedPayload:
    """Encrypt one record like ``crypto.encrypt``, on the send hot path.

    Same result format, but with the derivation ``decrypt`` uses and one AES-GCM call
    (http_ece's generic HKDF objects cost more than the ECDH itself); the tests check
    it against ``crypto.encrypt`` and the published vectors.  *p256dh* and *auth* are
    raw bytes, validated by the caller.
    """
    agreement = agreement or KeyAgreement.make(receiver_key or p256dh)
    salt = salt if salt is not None else os.urandom(16)
    keys = salted_keys(salt, agreement.schedule(encoding, p256dh, auth))
    sender = agreement.sender_public
    crypto_key = agreement.crypto_key if encoding == "aesgcm" else None
    return _record(plaintext, encoding, salt, sender, keys, crypto_key)


class SealRequest(NamedTuple):
    """One message of a ``seal_many`` burst: the receiver's point is already loaded
    (a ``webpush.Subscription`` keeps it), so nothing in the burst can fail."""

    plaintext: bytes
    p256dh: bytes
    auth: bytes
    encoding: ContentEncoding
    receiver_key: ec.EllipticCurvePublicKey


def seal_many(
    requests: Sequence[SealRequest],
    *,
    salts: Sequence[bytes] | None = None,
    private_keys: Sequence[ec.EllipticCurvePrivateKey] | None = None,
) -> list[EncryptedPayload]:
    """``seal`` for a burst, in order: a fresh key pair and salt per message, the
    work done phase by phase.  *salts* and *private_keys* pin them (tests only)."""
    privates = (
        list(private_keys)
        if private_keys is not None
        else [ec.generate_private_key(_CURVE) for _ in requests]
    )
    senders = [_public_bytes(private) for private in privates]
    secrets = [
        private.exchange(_ECDH, request.receiver_key)
        for private, request in zip(privates, requests, strict=True)
    ]
    salts = list(salts) if salts is not None else [os.urandom(16) for _ in requests]
    keys = [
        salted_keys(salt, schedule(r.encoding, secret, r.auth, r.p256dh, sender))
        for r, secret, sender, salt in zip(requests, secrets, senders, salts, strict=True)
    ]
    return [
        _record(r.plaintext, r.encoding, salt, sender, key)
        for r, salt, sender, key in zip(requests, salts, senders, keys, strict=True)
    ]


def _record(
    plaintext: bytes,
    encoding: ContentEncoding,
    salt: bytes,
    sender: bytes,
    keys: tuple[bytes, bytes],
    crypto_key: str | None = None,
) -> EncryptedPayload:
    """The one encrypted record (aes128gcm: with its RFC 8188 header) and metadata."""
    cek, nonce = keys
    if encoding == "aes128gcm":
        rs = max(_DEFAULT_RS, len(plaintext) + 1 + _TAG)
        header = _AES128GCM_HEADER_STRUCT.pack(salt, rs, _KEY_LEN) + sender
        return EncryptedPayload(
            header + AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None), "aes128gcm"
        )
    encryption = f"salt={b64url_encode(salt)}"
    if len(plaintext) + 2 > _DEFAULT_RS:
        encryption += f";rs={len(plaintext) + 2}"
    return EncryptedPayload(
        AESGCM(cek).encrypt(nonce, b"\x00\x00" + plaintext, None),
        "aesgcm",
        encryption=encryption,
        crypto_key=crypto_key or f"dh={b64url_encode(sender)}",
    )
