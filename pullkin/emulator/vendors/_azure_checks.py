"""What the Azure fake checks on the wire, written from vendors/azure-nh.md alone.

Deliberately independent of the sender (``pullkin.senders.azure_*``): the SAS check,
the format table and the multipart parser here are the fake's own few lines, so a
bug in the sender's signing or encoding shows up as a refused request instead of
being verified by the same code that made it.  ``tests/test_emulator_vendors_azure.py``
checks them against the fixed vectors in vendors/README.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

from pullkin.errors import InvalidArgumentError

__all__ = ["FORMATS", "MAX_BODY", "Part", "check_content", "check_sas", "parse_multipart"]

_JSON = "application/json"
_XML = "application/xml"
#: ServiceBusNotification-Format → the Content-Type it travels with (§3; ``nokiax``
#: is in the direct-send docs; ``windows`` depends on X-WNS-Type, see ``_WNS``).
FORMATS = {
    "template": _JSON, "apple": _JSON, "gcm": _JSON, "fcmv1": _JSON, "windows": _XML,
    "windowsphone": _XML, "adm": _JSON, "baidu": _JSON, "browser": _JSON, "xiaomi": _JSON,
    "nokiax": _JSON,
}  # fmt: skip
_WNS = {"wns/toast": _XML, "wns/tile": _XML, "wns/badge": _XML,
        "wns/raw": "application/octet-stream"}  # fmt: skip
MAX_BODY = 64 * 1024  # larger requests get 413


def check_sas(
    value: str | None, key: str, key_name: str, logical_url: str, now: float
) -> str | None:
    """Why the SAS header *value* does not authorise *logical_url*, or None when it does.

    HMAC-SHA256 keyed with the UTF-8 text of the key over ``sr`` *as received* + LF +
    ``se``; ``sig`` is the percent-encoded base64 of it; the decoded, lower-cased
    ``sr`` must be a prefix of the lower-cased URL (§2).
    """
    if not value:
        return "missing Authorization header (a SharedAccessSignature token)"
    scheme, _, rest = value.partition(" ")
    fields = dict(item.partition("=")[::2] for item in rest.split("&"))
    if scheme != "SharedAccessSignature" or not {"sr", "sig", "se", "skn"} <= fields.keys():
        return "malformed SharedAccessSignature token"
    if not fields["se"].isdigit():
        return "malformed SharedAccessSignature token"
    if unquote(fields["skn"]) != key_name:
        return f"unknown SharedAccessKeyName {fields['skn']!r}"
    signed = f"{fields['sr']}\n{fields['se']}".encode()
    mac = base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest())
    if not hmac.compare_digest(unquote(fields["sig"]).encode(), mac):
        return "SAS signature does not match (wrong SharedAccessKey?)"
    if int(fields["se"]) <= now:
        return "SAS token expired (se is in the past)"
    if not logical_url.lower().startswith(unquote(fields["sr"]).lower()):
        return "SAS token audience (sr) does not cover this URL"
    return None


def check_content(fmt: str, content_type: str, wns_type: str | None, body: bytes) -> None:
    """Raise ``InvalidArgumentError`` unless *body* fits its format and Content-Type."""
    if fmt not in FORMATS:
        raise _bad(f"ServiceBusNotification-Format must be one of {', '.join(FORMATS)}")
    wanted = FORMATS[fmt]
    if fmt == "windows":
        if wns_type not in _WNS:
            raise _bad(f"windows notifications need an X-WNS-Type header: one of {', '.join(_WNS)}")
        wanted = _WNS[wns_type]
    if content_type.split(";")[0].strip().lower() != wanted:
        raise _bad(f"{fmt} notifications need Content-Type {wanted}, got {content_type!r}")
    if not body:
        raise _bad(f"the {fmt} notification body is empty")
    if wanted == _JSON:
        try:
            json.loads(body)
        except ValueError:
            raise _bad(f"the {fmt} payload is not valid JSON") from None


@dataclass(frozen=True)
class Part:
    """One body part of a multipart request: its headers (lower-case names) and bytes."""

    headers: dict[str, str]
    body: bytes


def parse_multipart(content_type: str, body: bytes) -> dict[str, Part]:
    """The parts of a ``multipart/mixed`` body by their ``name`` (RFC 2046 §5.1.1: the
    CRLF before each ``--boundary`` belongs to the delimiter, so a part's own trailing
    CR/LF bytes are kept)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise _bad("multipart/mixed Content-Type without a boundary")
    delimiter = b"\r\n--" + match[1].encode()
    parts: dict[str, Part] = {}
    for chunk in (b"\r\n" + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            return parts
        _, _, chunk = chunk.partition(b"\r\n")  # the rest of the boundary line
        if chunk.startswith(b"\r\n"):  # no header lines
            head, content = b"", chunk[2:]
        else:
            head, _, content = chunk.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        named = re.search(r"name=\"?([A-Za-z]+)", headers.get("content-disposition", ""))
        if named is not None:
            parts[named[1]] = Part(headers, content)
    raise _bad("the multipart body has no closing boundary")


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="azure")
