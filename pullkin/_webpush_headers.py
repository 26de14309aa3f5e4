"""The ``Encryption`` and ``Crypto-Key`` values of aesgcm messages (webpush.md §2).

Chrome's grammar: a comma-separated list of values, each a semicolon-separated list
of ``name=value`` pairs; names case-insensitive, values optionally quoted, blanks
around separators allowed.  Parameters are found by name, never by position.
Every malformed value raises ``DecryptionError`` naming the header.
"""

from __future__ import annotations

import re

from pullkin._b64 import b64decode_any
from pullkin.errors import DecryptionError

__all__ = ["parse_crypto_key", "parse_encryption"]

_DEFAULT_RS = 4096

_PARAM = re.compile(
    r"""[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*(?:"([^"]*)"|([^\s;,"]+))[ \t]*([;,]|$)"""
)


# The single-parameter form FCM itself sends (``dh=…`` / ``salt=…``), matched whole:
# exactly as FCM writes it first (a third of the cost of the case-insensitive match),
# then with the blanks and letter case the grammar allows.
_EXACT = re.compile(r"(dh|salt)=([A-Za-z0-9_+/-]+=*)")
_SINGLE = re.compile(r"[ \t]*(dh|salt)[ \t]*=[ \t]*([A-Za-z0-9_+/-]+=*)[ \t]*", re.IGNORECASE)


def _parse_params(value: str, header: str) -> list[dict[str, str]]:
    """Split ``a=1; b=2, c=3`` into ``[{a: 1, b: 2}, {c: 3}]`` (names lower-cased)."""
    exact = _EXACT.fullmatch(value)
    if exact is not None:
        return [{exact[1]: exact[2]}]
    single = _SINGLE.fullmatch(value)
    if single is not None:
        return [{single[1].lower(): single[2]}]
    if not value.strip():
        raise DecryptionError(f"{header} is empty")
    elements: list[dict[str, str]] = [{}]
    pos = 0
    while pos < len(value):
        match = _PARAM.match(value, pos)
        if match is None:
            raise DecryptionError(f"{header} is malformed near position {pos}: {value!r}")
        name, quoted, bare, separator = match.groups()
        name = name.lower()
        param_value = quoted if quoted is not None else bare
        if not param_value:
            raise DecryptionError(f"{header} parameter {name!r} has an empty value")
        if name in elements[-1]:
            raise DecryptionError(f"{header} repeats parameter {name!r}")
        elements[-1][name] = param_value
        pos = match.end()
        if separator == "," and pos < len(value):
            elements.append({})
        elif separator and pos >= len(value):
            raise DecryptionError(f"{header} ends with a dangling {separator!r}")
    return elements


def _b64_param(header: str, name: str, value: str) -> bytes:
    try:
        raw = b64decode_any(value)
    except ValueError:
        raise DecryptionError(f"{header} {name} is not valid base64url") from None
    if not raw:
        raise DecryptionError(f"{header} {name} is empty")
    return raw


def _exact(value: str, prefix: str) -> bytes | None:
    """The bytes of ``<prefix><base64>``, the one form FCM writes (``salt=…``,
    ``dh=…``), or None for anything else (the general parser then decides): a plain
    prefix test and one strict base64 decode, no regular expression."""
    if value.startswith(prefix):
        try:
            raw = b64decode_any(value[len(prefix) :])
        except ValueError:
            return None
        if raw:
            return raw
    return None


def parse_encryption(value: str) -> tuple[bytes, int]:
    """``Encryption`` header → (salt, rs).  Chrome uses the first value only."""
    salt = _exact(value, "salt=")
    if salt is not None:  # FCM's own form: no list to build
        return salt, _DEFAULT_RS
    params = _parse_params(value, "encryption")[0]
    if "salt" not in params:
        raise DecryptionError("encryption has no salt parameter")
    salt = _b64_param("encryption", "salt", params["salt"])
    rs = _DEFAULT_RS
    if "rs" in params:
        text = params["rs"]
        if not text.isdigit() or not text.isascii():
            raise DecryptionError(f"encryption rs must be a decimal number, got {text!r}")
        rs = int(text)
        if rs <= 1:
            raise DecryptionError(f"encryption rs must be greater than 1, got {rs}")
    return salt, rs


def parse_crypto_key(value: str) -> bytes:
    """``Crypto-Key`` header → the sender's ``dh`` public key (exactly one allowed)."""
    sender = _exact(value, "dh=")
    if sender is not None:  # FCM's own form: no list to build
        return sender
    keys = [params["dh"] for params in _parse_params(value, "crypto-key") if "dh" in params]
    if not keys:
        raise DecryptionError("crypto-key has no dh parameter")
    if len(keys) > 1:
        raise DecryptionError("crypto-key carries more than one dh parameter")
    return _b64_param("crypto-key", "dh", keys[0])
