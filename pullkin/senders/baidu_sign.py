"""Baidu Cloud Push REST 3.0 request signing (pure).

``sign = md5(php_urlencode(METHOD + URL + k1=v1k2=v2… (keys sorted) + secret_key))``
(vendors/baidu.md §2).  The encoding must be PHP's ``urlencode``: the official
Python SDKs use ``quote_plus``, which leaves ``~`` alone and so signs differently
whenever a value holds a tilde (fixed vector B), and the server answers 30603.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["php_urlencode", "sign"]


def php_urlencode(text: str) -> str:
    """PHP ``urlencode``: UTF-8, keep ``A-Za-z0-9._-``, space → ``+``, rest → ``%XX``."""
    # quote() with no safe characters keeps exactly A-Za-z0-9 and "_.-~"; PHP
    # escapes "~" as well and writes a space as "+".
    return quote(text, safe="").replace("~", "%7E").replace("%20", "+")


def sign(method: str, url: str, params: Mapping[str, str | int], secret_key: str) -> str:
    """The lower-case hex MD5 signature of a request.

    *url* is the full URL without query string, exactly as sent (scheme included);
    *params* are every parameter sent except ``sign``, with their raw values.
    """
    pairs = "".join(f"{key}={params[key]}" for key in sorted(params))
    gathered = f"{method.upper()}{url}{pairs}{secret_key}"
    # MD5 is the vendor's protocol, not our choice of hash.
    digest = hashlib.md5(php_urlencode(gathered).encode("ascii"), usedforsecurity=False)
    return digest.hexdigest()
