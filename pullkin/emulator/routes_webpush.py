"""The RFC 8030 Web Push endpoint: ``POST /fcm/send/{token}`` (also ``/wp/``, ``/preprod/wp/``).

Facts: ../shared/protocol/fcm-send.md §5, §6 and webpush.md §1.  The token is a web
register3 (GCM) token.  Checks, in order: the token (404 unknown, 410 deleted);
VAPID (RFC 8292: ``Authorization: vapid t=<JWT>, k=<key>`` or the older ``WebPush
<JWT>`` + ``Crypto-Key: p256ecdsa=<key>``; ES256, ``aud`` = this service's origin or
``https://fcm.googleapis.com``, ``exp`` at most 24 h ahead; ``k`` must be the key the
registration was made with when its sender is a VAPID key): 401 when absent for such a
registration, 403 when present but invalid or another key; ``TTL`` (required),
``Urgency`` and ``Topic`` headers (400); a body over 4096 bytes (413); the content
coding (``aes128gcm``, or ``aesgcm`` with ``Encryption`` and ``Crypto-Key``).  The
body is delivered untouched; the answer is 201 with a ``Location``.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from pullkin._b64 import b64decode_any
from pullkin.emulator import delivery
from pullkin.emulator.routes_checkin import is_vapid_key
from pullkin.emulator.routes_common import emulator_of
from pullkin.proto.mcs_pb2 import DataMessageStanza

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator
    from pullkin.emulator.state import GcmRegistration

__all__ = ["add_routes"]

_MAX_BODY = 4096
_MAX_EXP_AHEAD = 24 * 3600
_LEEWAY = 10
_FCM_ORIGIN = "https://fcm.googleapis.com"
_URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_KEYS: dict[str, ec.EllipticCurvePublicKey] = {}


def add_routes(app: web.Application) -> None:
    # Every path Chromium's GetGcmEndpointForChannel hands out (/fcm/send/ on stable
    # and on the jmt17 staging host, /wp/ and /preprod/wp/ behind the feature
    # PushMessagingGcmEndpointWebpushPath), as one resource: one fault name covers all.
    app.router.add_post(r"/{kind:fcm/send|wp|preprod/wp}/{token}", _push, name="webpush")


def _plain(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)


async def _push(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    token = request.match_info["token"]
    registration = emu.state.gcm.get(token)
    if registration is None or registration.kind != "web":
        if token in emu.state.deleted_tokens:
            return _plain(410, "push subscription has unsubscribed or expired.")
        return _plain(404, "push subscription not found.")
    refusal = _check_vapid(request, emu, registration)
    if refusal is not None:
        return refusal
    headers = request.headers
    ttl_text = headers.get("TTL", "")
    if not (ttl_text.isascii() and ttl_text.isdigit()):
        return _plain(400, "The TTL header is missing or not a whole number of seconds.")
    if headers.get("Urgency", "normal").lower() not in _URGENCIES:
        return _plain(400, "The Urgency header must be very-low, low, normal or high.")
    topic = headers.get("Topic", "")
    if topic and not _TOPIC.fullmatch(topic):
        return _plain(400, "The Topic header must be at most 32 base64url characters.")
    body = await request.read()
    if len(body) > _MAX_BODY:
        return _plain(413, f"Payload of {len(body)} bytes exceeds the {_MAX_BODY}-byte limit.")
    coding = _coding(request, body)
    if isinstance(coding, web.Response):
        return coding
    return _deliver(request, emu, registration, body, coding, int(ttl_text), topic)


def _coding(request: web.Request, body: bytes) -> dict[str, str] | web.Response:
    """The app_data describing the body's content coding (webpush.md §1)."""
    if not body:
        return {}
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "aes128gcm":
        return {"content-encoding": "aes128gcm"}
    if encoding == "aesgcm":
        encryption = request.headers.get("Encryption", "")
        crypto_key = request.headers.get("Crypto-Key", "")
        if "salt=" not in encryption or "dh=" not in crypto_key:
            return _plain(400, "aesgcm needs the Encryption (salt) and Crypto-Key (dh) headers.")
        return {"encryption": encryption, "crypto-key": crypto_key}
    return _plain(400, "Content-Encoding must be aes128gcm or aesgcm for a non-empty body.")


def _deliver(
    request: web.Request,
    emu: Emulator,
    registration: GcmRegistration,
    body: bytes,
    coding: dict[str, str],
    ttl: int,
    topic: str,
) -> web.Response:
    ttl = min(ttl, delivery.MAX_TTL)
    now = time.time()
    stanza = delivery.webpush_stanza(registration, body, coding, ttl, topic, now)
    if topic:  # RFC 8030 §5.4: replaces a queued message with the same topic
        subtype = registration.subtype

        def same(item: DataMessageStanza) -> bool:
            return item.token == topic and any(
                a.key == "subtype" and a.value == subtype for a in item.app_data
            )

        persistent_id = emu.mailboxes.replace(
            registration.android_id, stanza, ttl, same, registration.token
        )
    else:
        persistent_id = emu.mailboxes.enqueue(
            registration.android_id, stanza, ttl, registration.token
        )
    location = f"{emu.url}/fcm/send/{quote(persistent_id, safe=':')}"
    return web.Response(status=201, headers={"Location": location, "TTL": str(ttl)})


# --- VAPID (RFC 8292) ---------------------------------------------------------------


def _credentials(request: web.Request) -> tuple[str, str] | None:
    """(JWT, key) from either VAPID header form, or None when there is none."""
    scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "vapid":
        params: dict[str, str] = {}
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            params[name.strip().lower()] = value.strip()
        return params.get("t", ""), params.get("k", "")
    if scheme.lower() == "webpush":
        key = ""
        for part in re.split(r"[;,]", request.headers.get("Crypto-Key", "")):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == "p256ecdsa":
                key = value.strip()
        return rest.strip(), key
    return None


def _public_key(text: str) -> ec.EllipticCurvePublicKey | None:
    key = _KEYS.get(text)
    if key is None:
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64decode_any(text))
        except ValueError:
            return None
        if len(_KEYS) < 4096:
            _KEYS[text] = key
    return key


def _check_vapid(
    request: web.Request, emu: Emulator, registration: GcmRegistration
) -> web.Response | None:
    restricted = is_vapid_key(registration.sender)
    credentials = _credentials(request)
    if credentials is None:
        if restricted:
            return _plain(401, "This subscription needs VAPID authentication.")
        return None
    token, key_text = credentials
    key = _public_key(key_text)
    if not token or key is None:
        return _plain(403, "The VAPID credentials are malformed.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=[emu.url, _FCM_ORIGIN],
            leeway=_LEEWAY,
            options={"require": ["aud", "exp"]},
        )
    except jwt.PyJWTError as exc:
        return _plain(403, f"The VAPID JWT is invalid: {exc}.")
    if claims["exp"] > time.time() + _MAX_EXP_AHEAD + _LEEWAY:
        return _plain(403, "The VAPID JWT expires more than 24 hours from now.")
    if restricted and b64decode_any(key_text) != b64decode_any(registration.sender):
        return _plain(403, "The VAPID key is not the one this subscription was made with.")
    return None
