"""The Web Push key schedule and record opening (webpush.md §4, §5).  Pure.

HKDF here is one HMAC-SHA-256 per step: every key, salt and output length fits one
SHA-256 block, so generic HKDF objects would only add per-call setup on the receive
hot path.  ``pullkin.crypto`` re-exports the public names.
"""

from __future__ import annotations

from hashlib import sha256
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pullkin.errors import DecryptionError

__all__ = [
    "Schedule",
    "aes128gcm_keys",
    "aesgcm_keys",
    "content_keys",
    "decrypt_record",
    "salted_keys",
    "schedule",
]

_AESGCM_AUTH_INFO = b"Content-Encoding: auth\x00\x01"
_AES128GCM_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_AES128GCM_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"
_WEBPUSH_INFO = b"WebPush: info\x00"


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _hmac(key: bytes, msg: bytes) -> bytes:
    # HMAC-SHA-256 (RFC 2104) for keys of at most one block, which is every key here
    # (16-byte auth/salt, 32-byte PRKs).  Two plain SHA-256 calls cost about half of
    # OpenSSL's one-shot HMAC, whose per-call setup dominates for inputs this small.
    block = key.ljust(64, b"\x00")
    inner = sha256(block.translate(_IPAD) + msg).digest()
    return sha256(block.translate(_OPAD) + inner).digest()


# auth secret -> its HMAC inner and outer contexts, the padded key block hashed in.
# The auth secret is the same for every message of a registration (and every push to
# a subscription), so that block is hashed once.  A handful of secrets in practice.
_AUTH_PADS: dict[bytes, tuple[Any, Any]] = {}
_AUTH_PADS_MAX = 64


def _auth_hmac(auth: bytes, msg: bytes) -> bytes:
    """``_hmac(auth, msg)`` with *auth*'s padded blocks hashed once, not per call."""
    pads = _AUTH_PADS.get(auth)
    if pads is None:
        if len(_AUTH_PADS) >= _AUTH_PADS_MAX:
            _AUTH_PADS.clear()
        block = auth.ljust(64, b"\x00")
        pads = _AUTH_PADS[auth] = (sha256(block.translate(_IPAD)), sha256(block.translate(_OPAD)))
    inner, outer = pads[0].copy(), pads[1].copy()
    inner.update(msg)
    outer.update(inner.digest())
    return bytes(outer.digest())


def _expand_pair(prk: bytes, info1: bytes, info2: bytes) -> tuple[bytes, bytes]:
    """(CEK, NONCE) = HKDF-Expand(prk, info, 16 / 12): one HMAC block each, pads shared."""
    block = prk.ljust(64, b"\x00")
    ipad, opad = block.translate(_IPAD), block.translate(_OPAD)
    cek = sha256(opad + sha256(ipad + info1).digest()).digest()
    nonce = sha256(opad + sha256(ipad + info2).digest()).digest()
    return cek[:16], nonce[:12]


def _open(cek: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    try:
        return AESGCM(cek).decrypt(nonce, ciphertext, None)
    except InvalidTag:
        raise DecryptionError(
            "authentication tag mismatch: wrong keys for this registration, or a "
            "tampered or truncated body"
        ) from None


Schedule = tuple[bytes, bytes, bytes]
"""(IKM, CEK info, NONCE info): everything but the salt, fixed per key agreement."""


def schedule(
    encoding: Literal["aes128gcm", "aesgcm"],
    secret: bytes,
    auth: bytes,
    receiver: bytes,
    sender: bytes,
) -> Schedule:
    """The salt-independent part of the key derivation (a sender reusing one key
    agreement for many messages derives it once)."""
    if encoding == "aesgcm":  # draft-ietf-webpush-encryption-03/04 (webpush.md §4)
        context = b"P-256\x00\x00A" + receiver + b"\x00A" + sender + b"\x01"
        return (
            _hmac(_auth_hmac(auth, secret), _AESGCM_AUTH_INFO),
            b"Content-Encoding: aesgcm\x00" + context,
            b"Content-Encoding: nonce\x00" + context,
        )
    # RFC 8291 over RFC 8188 (webpush.md §5)
    ikm = _hmac(_auth_hmac(auth, secret), _WEBPUSH_INFO + receiver + sender + b"\x01")
    return ikm, _AES128GCM_CEK_INFO, _AES128GCM_NONCE_INFO


def salted_keys(salt: bytes, derived: Schedule) -> tuple[bytes, bytes]:
    """(CEK, NONCE) for one message: HKDF-Extract with its salt, then Expand."""
    ikm, cek_info, nonce_info = derived
    return _expand_pair(_hmac(salt, ikm), cek_info, nonce_info)


def aesgcm_keys(
    secret: bytes, auth: bytes, salt: bytes, receiver: bytes, sender: bytes
) -> tuple[bytes, bytes]:
    """(CEK, NONCE) of draft-ietf-webpush-encryption-03/04 (webpush.md §4)."""
    return salted_keys(salt, schedule("aesgcm", secret, auth, receiver, sender))


def aes128gcm_keys(
    secret: bytes, auth: bytes, salt: bytes, receiver: bytes, sender: bytes
) -> tuple[bytes, bytes]:
    """(CEK, NONCE) of RFC 8291 over RFC 8188 (webpush.md §5)."""
    return salted_keys(salt, schedule("aes128gcm", secret, auth, receiver, sender))


def content_keys(salt: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """(CEK, NONCE) of the RFC 8188 content coding for a given input key."""
    return _expand_pair(_hmac(salt, ikm), _AES128GCM_CEK_INFO, _AES128GCM_NONCE_INFO)


def decrypt_record(
    encoding: Literal["aes128gcm", "aesgcm"],
    secret: bytes,
    auth: bytes,
    salt: bytes,
    receiver: bytes,
    sender: bytes,
    ciphertext: bytes,
) -> bytes:
    """Derive the keys from an ECDH *secret*, open one record and strip its padding."""
    if encoding == "aesgcm":
        cek, nonce = aesgcm_keys(secret, auth, salt, receiver, sender)
        return _unpad_aesgcm(_open(cek, nonce, ciphertext))
    cek, nonce = aes128gcm_keys(secret, auth, salt, receiver, sender)
    return _unpad_last_record(_open(cek, nonce, ciphertext))


def _unpad_aesgcm(record: bytes) -> bytes:
    pad = int.from_bytes(record[:2], "big")
    if len(record) < 2 or pad > len(record) - 2 or any(record[2 : 2 + pad]):
        raise DecryptionError("aesgcm record padding is invalid (non-zero or too long)")
    return record[2 + pad :]


def _unpad_last_record(record: bytes) -> bytes:
    end = len(record.rstrip(b"\x00"))
    if end == 0 or record[end - 1] != 2:
        raise DecryptionError("aes128gcm record has no final-record delimiter (0x02)")
    return record[: end - 1]
