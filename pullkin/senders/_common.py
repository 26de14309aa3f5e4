"""Pure helpers the vendor modules share: compact JSON, constructor checks, status classes.

Pure on purpose (no aiohttp): the encoders and result parsers import it too.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pullkin import errors

__all__ = ["check_base_url", "class_for_status", "dumps", "require_non_empty"]


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, key order kept: the one body encoding every sender uses."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def require_non_empty(owner: str, **values: object) -> None:
    """Raise ``ConfigError`` naming the first of *values* that is not a non-empty str."""
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise errors.ConfigError(f"{owner} needs a non-empty {name}")


def check_base_url(owner: str, base_url: str) -> None:
    """A vendor REST root must be an absolute http(s) URL without a query."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise errors.ConfigError(f"{owner} base_url must be an http(s) URL, got {base_url!r}")


def class_for_status(status: int | None) -> type[errors.SendError]:
    """The error class of an HTTP status when the vendor's body names no known code."""
    if status in (401, 403):
        return errors.UnauthenticatedError
    if status == 404:
        return errors.NotFoundError
    if status == 429:
        return errors.QuotaExceededError
    if status is not None and status >= 500:
        return errors.UnavailableError
    if status is not None and status >= 400:
        return errors.InvalidArgumentError
    return errors.SendError
