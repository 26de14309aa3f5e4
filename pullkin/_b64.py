"""Base64 helpers: decode any flavour (url/standard, padded or not), encode url-safe."""

from __future__ import annotations

import base64
import binascii
import re
import sys

__all__ = ["b64decode_any", "b64url_encode"]

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_STANDARD = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 8291 / Web Push style)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _strict_decode(data: bytes) -> bytes:
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(data, strict_mode=True)
    if _STANDARD.fullmatch(data) is None:  # pragma: no cover - Python 3.10 only
        raise binascii.Error("only base64 data is allowed")
    return binascii.a2b_base64(data)  # pragma: no cover - Python 3.10 only


def b64decode_any(text: str | bytes) -> bytes:
    """Decode base64url or standard base64, with or without ``=`` padding.

    Raises ``ValueError`` on anything else, including characters outside both
    alphabets or a length no encoder produces.  (On the receive hot path: one
    translate and one strict C decode, no regular expression.)
    """
    try:
        raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:
        raise ValueError("invalid base64: non-ASCII character") from None
    raw = raw.rstrip(b"=").translate(_TO_STANDARD)
    if len(raw) % 4 == 1:
        raise ValueError("invalid base64: impossible length")
    try:
        return _strict_decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None
