"""Azure Notification Hubs: connection strings, SAS tokens, notifications, tag expressions.

Pure code shared by the sender and the emulator's fake (facts: vendors/azure-nh.md).
SAS tokens follow the official JS SDK byte for byte (vector 1 of vendors/README.md):
``sr`` is the lower-cased audience percent-encoded like ``encodeURIComponent``, the
HMAC-SHA256 key is the UTF-8 text of ``SharedAccessKey`` (not its base64 decoding),
and the signed string is the *encoded* ``sr``, a newline, and the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote

from pullkin.errors import ConfigError, InvalidArgumentError
from pullkin.senders._common import dumps

__all__ = [
    "FORMATS",
    "MAX_BODY",
    "AzureNotification",
    "ConnectionString",
    "TagExpression",
    "check_tag",
    "parse_connection_string",
    "parse_sas_token",
    "sas_decoded_audience",
    "sas_signature",
    "sas_token",
    "tag_expression",
]

#: ServiceBusNotification-Format values this client sends.
FORMATS = (
    "fcmv1", "gcm", "apple", "windows", "windowsphone", "baidu", "xiaomi", "browser", "adm",
    "template",
)  # fmt: skip
MAX_BODY = 64 * 1024  # NH rejects larger requests with 413
WNS_TYPES = ("wns/toast", "wns/tile", "wns/badge", "wns/raw")

Format = Literal[
    "fcmv1", "gcm", "apple", "windows", "windowsphone", "baidu", "xiaomi", "browser", "adm",
    "template",
]  # fmt: skip

_URI_SAFE = "!*'()"  # with quote()'s own -_.~: exactly encodeURIComponent's set
_TAG = re.compile(r"[A-Za-z0-9_@#.:\-]{1,120}")
_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[A-Za-z0-9_@#.:\-]+)")


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="azure", code="INVALID_ARGUMENT")


# --- connection string and SAS ---------------------------------------------------------


@dataclass(frozen=True)
class ConnectionString:
    """A parsed ``Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…`` string."""

    endpoint: str
    key_name: str
    key: str = field(repr=False)
    entity_path: str | None = None

    @property
    def namespace_url(self) -> str:
        """``https://<namespace>/`` — the HTTP base and the SAS audience."""
        rest = self.endpoint.split("://", 1)[1]
        return "https://" + rest.rstrip("/") + "/"


def parse_connection_string(text: str) -> ConnectionString:
    """Parse like the JS SDK: ``;``-separated, split at the first ``=``, order free."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("the Azure connection string is empty")
    parts: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(
                f"malformed Azure connection string part {key.strip()[:40]!r}: "
                "expected Name=Value pairs separated by ';'"
            )
        parts[key.strip()] = value.strip()
    endpoint = parts.get("Endpoint") or ""
    if not re.fullmatch(r"(sb|https)://[^/\s]+/?", endpoint):
        raise ConfigError(
            "the Azure connection string needs Endpoint=sb://<namespace>.servicebus.windows.net/ "
            "(copy it from the hub's Access Policies in the Azure portal)"
        )
    name, secret = parts.get("SharedAccessKeyName"), parts.get("SharedAccessKey")
    if not name or not secret:
        raise ConfigError(
            "the Azure connection string needs both SharedAccessKeyName and SharedAccessKey"
        )
    return ConnectionString(endpoint, name, secret, parts.get("EntityPath") or None)


def sas_signature(string_to_sign: str, key: str) -> str:
    """base64(HMAC-SHA256(UTF-8 key text, string_to_sign))."""
    digest = hmac.new(key.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sas_token(audience: str, key_name: str, key: str, expiry: int) -> str:
    """The ``Authorization`` value for *audience* valid until *expiry* (Unix seconds)."""
    sr = quote(audience.lower(), safe=_URI_SAFE)
    sig = sas_signature(f"{sr}\n{expiry}", key)
    return (
        f"SharedAccessSignature sr={sr}&sig={quote(sig, safe=_URI_SAFE)}"
        f"&se={expiry}&skn={quote(key_name, safe=_URI_SAFE)}"
    )


def parse_sas_token(value: str) -> dict[str, str]:
    """The raw (still encoded) ``sr``, ``sig``, ``se``, ``skn`` of a SAS header value.

    Raises ``ValueError`` when the value is not a SAS token.
    """
    scheme, _, params = value.partition(" ")
    if scheme != "SharedAccessSignature":
        raise ValueError("not a SharedAccessSignature")
    fields = dict(part.partition("=")[::2] for part in params.split("&") if part)
    if not {"sr", "sig", "se", "skn"} <= fields.keys():
        raise ValueError("SAS token needs sr, sig, se and skn")
    return fields


def sas_decoded_audience(fields: Mapping[str, str]) -> str:
    return unquote(fields["sr"]).lower()


# --- tag expressions -------------------------------------------------------------------


@dataclass(frozen=True)
class TagExpression:
    """A parsed tag expression: ``!``, ``&&``, ``||`` and parentheses over tags."""

    text: str
    tree: Any = field(repr=False, compare=False)
    tags: tuple[str, ...] = ()

    def matches(self, tags: Iterable[str]) -> bool:
        return _evaluate(self.tree, frozenset(tags))


def tag_expression(tags: str | Iterable[str]) -> TagExpression:
    """Validate a tag, a tag expression, or a set of tags (joined with ``||``)."""
    text = tags if isinstance(tags, str) else " || ".join(check_tag(t) for t in tags)
    if not text.strip():
        raise _invalid("tag expression is empty; omit tags to broadcast")
    tokens = _tokenize(text)
    tree, rest = _parse_or(tokens)
    if rest:
        raise _invalid(f"tag expression {text!r}: unexpected {rest[0]!r}")
    names = tuple(t for t in tokens if t not in ("&&", "||", "!", "(", ")"))
    only_or = all(t in ("||",) for t in tokens if t in ("&&", "||", "!"))
    limit = 20 if only_or else 6
    if len(names) > limit:
        raise _invalid(f"tag expression {text!r} names {len(names)} tags; at most {limit} allowed")
    return TagExpression(text, tree, names)


def check_tag(tag: str) -> str:
    if not isinstance(tag, str) or _TAG.fullmatch(tag) is None:
        raise _invalid(f"tag {tag!r} is invalid: 1-120 of letters, digits and _ @ # . : -")
    return tag


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _invalid(f"tag expression {text!r}: bad character at {pos}")
        token = match[1]
        if token not in ("&&", "||", "!", "(", ")"):
            check_tag(token)
        tokens.append(token)
        pos = match.end()
    return tokens


def _parse_or(tokens: list[str]) -> tuple[Any, list[str]]:
    left, rest = _parse_and(tokens)
    while rest and rest[0] == "||":
        right, rest = _parse_and(rest[1:])
        left = ("or", left, right)
    return left, rest


def _parse_and(tokens: list[str]) -> tuple[Any, list[str]]:
    left, rest = _parse_not(tokens)
    while rest and rest[0] == "&&":
        right, rest = _parse_not(rest[1:])
        left = ("and", left, right)
    return left, rest


def _parse_not(tokens: list[str]) -> tuple[Any, list[str]]:
    if not tokens:
        raise _invalid("tag expression ends where a tag was expected")
    head, rest = tokens[0], tokens[1:]
    if head == "!":
        inner, rest = _parse_not(rest)
        return ("not", inner), rest
    if head == "(":
        inner, rest = _parse_or(rest)
        if not rest or rest[0] != ")":
            raise _invalid("tag expression has an unclosed '('")
        return inner, rest[1:]
    if head in ("&&", "||", ")"):
        raise _invalid(f"tag expression has {head!r} where a tag was expected")
    return ("tag", head), rest


def _evaluate(node: Any, tags: frozenset[str]) -> bool:
    kind = node[0]
    if kind == "tag":
        return node[1] in tags
    if kind == "not":
        return not _evaluate(node[1], tags)
    if kind == "and":
        return _evaluate(node[1], tags) and _evaluate(node[2], tags)
    return _evaluate(node[1], tags) or _evaluate(node[2], tags)


# --- notifications ---------------------------------------------------------------------


@dataclass(frozen=True)
class AzureNotification:
    """One notification: its ``ServiceBusNotification-Format``, body and extra headers.

    ``body``: the platform-native payload — a dict (sent as JSON) or text/bytes sent
    as is (``windows`` XML).  ``template`` bodies are flat dicts of str.  ``windows``
    needs ``headers["X-WNS-Type"]`` (``wns/toast`` …; ``wns/raw`` is sent as bytes).
    """

    format: Format
    body: Mapping[str, Any] | str | bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise _invalid(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise _invalid("AzureNotification.headers must map str to str")
        if self.format == "windows":
            wns = _header(self.headers, "X-WNS-Type")
            if wns not in WNS_TYPES:
                raise _invalid(f"windows notifications need X-WNS-Type: one of {WNS_TYPES}")
        elif self.format == "windowsphone":
            if not isinstance(self.body, str):
                raise _invalid("windowsphone (MPNS) notifications are XML text")
        elif self.format == "template":
            _check_template(self.body)
        elif isinstance(self.body, (str, bytes)):
            _check_json_text(self.body, self.format)
        elif not isinstance(self.body, Mapping):
            raise _invalid(f"{self.format} body must be a dict or JSON text")
        size = len(self.encoded_body())
        if size > MAX_BODY:
            raise _invalid(f"notification body is {size} bytes; Notification Hubs allows 64 KB")

    def encoded_body(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return dumps(self.body)

    @property
    def content_type(self) -> str:
        if self.format == "windows":
            raw = _header(self.headers, "X-WNS-Type") == "wns/raw"
            return "application/octet-stream" if raw else "application/xml"
        if self.format == "windowsphone":
            return "application/xml"
        return "application/json;charset=utf-8"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _check_template(body: Any) -> None:
    if not isinstance(body, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in body.items()
    ):
        raise _invalid("template notifications take a flat dict of str properties")


def _check_json_text(body: str | bytes, fmt: str) -> None:
    try:
        json.loads(body)
    except ValueError:
        raise _invalid(f"{fmt} body must be a dict or valid JSON text") from None
