"""``WebPushSender``: RFC 8030 pushes, RFC 8291 encryption, RFC 8292 (VAPID) auth.

Facts: protocol/fcm-send.md §5 and webpush.md §5, §8.  Each message gets a fresh
ephemeral key and salt.  Encryption is most of a send's CPU, so the sends started in
one event-loop turn are sealed together by ``pullkin.crypto.seal_many`` (every key
pair, then every key agreement, then every key schedule, then every record: each
phase runs with warm CPU caches), with the receiver's derivation and one AES-GCM call
per message (about half the cost of the generic http_ece path).  The VAPID key is
parsed once and its JWT (ES256, PyJWT) is cached per audience (the push service's
origin) until an hour before it expires (half its lifetime, if that is shorter), so a
burst of sends signs once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_private_key,
    load_pem_private_key,
)

from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.crypto import ContentEncoding, EncryptedPayload, SealRequest, load_point, seal_many
from pullkin.errors import ConfigError, InvalidArgumentError, SendError, UnregisteredError
from pullkin.senders._http import (
    BatchResult,
    HttpClient,
    HttpResponse,
    RetryPolicy,
    _OwnsHttpClient,
    dumps,
    error_for_status,
    run_each,
)

__all__ = ["Subscription", "WebPushResult", "WebPushSender"]

log = logging.getLogger(__name__)

_CURVE = ec.SECP256R1()
_ECDH = ec.ECDH()
_RS = 4096
_MAX_BODY = 4096  # what every push service must accept (RFC 8291 §4)
_AES128GCM_OVERHEAD = 16 + 4 + 1 + 65 + 1 + 16  # header, delimiter, tag
_AESGCM_OVERHEAD = 2 + 16  # padding length, tag
_MAX_VAPID_LIFETIME = 24 * 3600
_RESIGN_BEFORE = 3600.0
_MAX_CACHED_SUBSCRIPTIONS = 4096
# The encryptions of one event-loop turn are done together, at most this many at a
# time: the cache saving is nearly all there at 16-32, and a long burst still lets
# I/O run between chunks.
_SEAL_BATCH = 32
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCIES = ("very-low", "low", "normal", "high")

Urgency = Literal["very-low", "low", "normal", "high"]


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="webpush", code="INVALID_ARGUMENT")


# --- subscriptions and results -------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """A browser ``PushSubscription``: endpoint plus ``p256dh``/``auth`` (base64url).

    Validated once: the decoded keys and the VAPID audience are kept, so a
    ``Subscription`` reused across sends is not parsed again.
    """

    endpoint: str
    p256dh: str
    auth: str
    p256dh_bytes: bytes = field(init=False, repr=False, compare=False)
    p256dh_key: ec.EllipticCurvePublicKey = field(init=False, repr=False, compare=False)
    auth_bytes: bytes = field(init=False, repr=False, compare=False)
    audience: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "audience", _origin(self.endpoint))
        object.__setattr__(self, "p256dh_bytes", _key_bytes("keys.p256dh", self.p256dh, 65))
        try:
            key = load_point(self.p256dh_bytes)
        except ConfigError:
            raise _invalid("subscription keys.p256dh is not a point on P-256") from None
        object.__setattr__(self, "p256dh_key", key)
        object.__setattr__(self, "auth_bytes", _key_bytes("keys.auth", self.auth, 16))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subscription:
        """Read ``PushSubscription.toJSON()``: ``{"endpoint", "keys": {"p256dh", "auth"}}``."""
        if not isinstance(data, Mapping):
            raise _invalid("a subscription must be a dict like PushSubscription.toJSON()")
        keys = data.get("keys")
        if not isinstance(keys, Mapping):
            raise _invalid("the subscription has no 'keys' object with 'p256dh' and 'auth'")
        return cls(data.get("endpoint"), keys.get("p256dh"), keys.get("auth"))  # type: ignore[arg-type]


def _origin(endpoint: Any) -> str:
    """The push service's origin (the VAPID ``aud`` claim) of a valid endpoint URL."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except (TypeError, ValueError, AttributeError):
        parts, port = None, None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise _invalid("Subscription.endpoint must be an absolute http(s) URL")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{host}{suffix}"


def _key_bytes(name: str, value: Any, size: int) -> bytes:
    if not isinstance(value, str):
        raise _invalid(f"subscription {name} must be a base64url string")
    try:
        raw = b64decode_any(value)
    except ValueError:
        raise _invalid(f"subscription {name} is not valid base64url") from None
    if len(raw) != size or (size == 65 and raw[0] != 4):
        raise _invalid(f"subscription {name} must decode to {size} bytes")
    return raw


@dataclass(frozen=True)
class WebPushResult:
    """The push service's answer: ``location`` is the push message URI (201)."""

    status: int
    location: str | None
    message_id: str | None
    request_id: str


# --- VAPID ----------------------------------------------------------------------------


def load_vapid_key(key: ec.EllipticCurvePrivateKey | str | bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from a key object, PEM text, a base64url 32-byte scalar or DER."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        loaded: Any = key
    elif isinstance(key, (str, bytes)) and _text(key).lstrip().startswith("-----BEGIN"):
        try:
            loaded = load_pem_private_key(_text(key).encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigError("the VAPID private key PEM cannot be read") from None
    elif isinstance(key, (str, bytes)):
        loaded = _key_from_b64(_text(key).strip())
    else:
        raise ConfigError("vapid_private_key must be a PEM string, base64url or a key object")
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise ConfigError("the VAPID private key must be a P-256 (prime256v1) EC key")
    return loaded


def _text(value: str | bytes) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _key_from_b64(text: str) -> Any:
    try:
        raw = b64decode_any(text)
    except ValueError:
        raise ConfigError("the VAPID private key is neither PEM nor base64url") from None
    if len(raw) == 32:
        try:
            return ec.derive_private_key(int.from_bytes(raw, "big"), _CURVE)
        except ValueError:
            raise ConfigError("the VAPID private key is not a valid P-256 scalar") from None
    try:
        return load_der_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            "the VAPID private key must be a 32-byte base64url scalar, PKCS#8/SEC1 DER or PEM"
        ) from None


def _check_subject(subject: str) -> None:
    if not isinstance(subject, str) or not subject.startswith(("mailto:", "https://")):
        raise ConfigError(
            "subject must be a 'mailto:' or 'https://' contact URI (RFC 8292 §2.1), "
            "e.g. 'mailto:push@example.com'"
        )


# --- the sender ------------------------------------------------------------------------


class WebPushSender(_OwnsHttpClient):
    """Send Web Push messages to browser subscriptions (and to FCM web tokens).

    ``vapid_private_key``: PEM text, a raw base64url 32-byte scalar, DER, or an
    ``EllipticCurvePrivateKey``; ``subject``: ``mailto:`` or ``https:`` contact.
    ``encoding`` is the default content coding (``"aes128gcm"``; ``"aesgcm"`` for
    legacy receivers).  ``vapid_lifetime``: seconds a VAPID JWT is valid (≤ 24 h).
    """

    def __init__(
        self,
        vapid_private_key: ec.EllipticCurvePrivateKey | str | bytes,
        subject: str,
        *,
        encoding: ContentEncoding = "aes128gcm",
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        vapid_lifetime: float = 12 * 3600,
    ) -> None:
        _check_subject(subject)
        if encoding not in ("aes128gcm", "aesgcm"):
            raise ConfigError("encoding must be 'aes128gcm' or 'aesgcm'")
        if not 0 < vapid_lifetime <= _MAX_VAPID_LIFETIME:
            raise ConfigError("vapid_lifetime must be between 1 second and 24 hours")
        self._key = load_vapid_key(vapid_private_key)
        public = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.public_key = b64url_encode(public)  # the applicationServerKey
        self.subject = subject
        self.encoding: ContentEncoding = encoding
        self._lifetime = vapid_lifetime
        # Re-sign an hour before expiry (half-way through a lifetime shorter than two
        # hours), so a cached JWT always has time left when the push service checks it.
        self._resign_before = min(_RESIGN_BEFORE, vapid_lifetime / 2)
        self._vapid: dict[str, tuple[str, float]] = {}
        self._subscriptions: dict[tuple[Any, Any, Any], Subscription] = {}
        self._sealer = _Sealer()
        self._http = HttpClient(
            "webpush",
            session=session,
            timeout=timeout,
            retry=retry,
            ssl=ssl_context,
            insecure=insecure,
            classify=classify_webpush,
        )

    def _parsed(self, subscription: Mapping[str, Any]) -> Subscription:
        """Parse a subscription dict once: senders push to the same ones again and again."""
        keys = subscription.get("keys") if isinstance(subscription, Mapping) else None
        if not isinstance(keys, Mapping):
            return Subscription.from_dict(subscription)  # raises the right error
        key = (subscription.get("endpoint"), keys.get("p256dh"), keys.get("auth"))
        parsed = self._subscriptions.get(key)
        if parsed is None:
            parsed = Subscription.from_dict(subscription)
            if len(self._subscriptions) >= _MAX_CACHED_SUBSCRIPTIONS:
                self._subscriptions.clear()
            self._subscriptions[key] = parsed
        return parsed

    def vapid_authorization(self, audience: str, now: float | None = None) -> str:
        """The ``Authorization: vapid t=…, k=…`` value for *audience* (cached)."""
        now = time.time() if now is None else now
        cached = self._vapid.get(audience)
        if cached is not None and now < cached[1] - self._resign_before:
            return cached[0]
        expires = int(now + self._lifetime)
        claims = {"aud": audience, "exp": expires, "sub": self.subject}
        token = jwt.encode(claims, self._key, algorithm="ES256")
        value = f"vapid t={token}, k={self.public_key}"
        if len(self._vapid) > 256:  # a handful of push services in practice
            self._vapid.clear()
        self._vapid[audience] = (value, float(expires))
        return value

    async def send(
        self,
        subscription: Subscription | Mapping[str, Any],
        data: bytes | str | Mapping[str, Any] | None = None,
        *,
        ttl: int = 86400,
        urgency: Urgency | None = None,
        topic: str | None = None,
        encoding: ContentEncoding | None = None,
    ) -> WebPushResult:
        """Encrypt *data* (bytes, text, or a dict sent as JSON) and push it.

        ``ttl``: seconds the push service keeps the message; ``urgency``: RFC 8030
        §5.3; ``topic``: a replacement key (≤ 32 base64url characters).  A dead
        subscription (404/410) raises ``UnregisteredError``.
        """
        sub = subscription if isinstance(subscription, Subscription) else (
            self._parsed(subscription)
        )  # fmt: skip
        headers = _protocol_headers(ttl, urgency, topic)
        body = _plaintext(data)
        if body is not None:
            chosen = encoding or self.encoding
            _check_size(body, chosen)
            request = SealRequest(body, sub.p256dh_bytes, sub.auth_bytes, chosen, sub.p256dh_key)
            payload = await self._sealer.seal(request)
            headers.update(payload.headers())
            headers["Content-Type"] = "application/octet-stream"
            body = payload.body
        headers["Authorization"] = self.vapid_authorization(sub.audience)
        response = await self._http.request(
            "POST", sub.endpoint, data=body, headers=headers, idempotent=False
        )
        return _result(response)

    async def send_each(
        self,
        subscriptions: Iterable[Subscription | Mapping[str, Any]],
        data: bytes | str | Mapping[str, Any] | None = None,
        *,
        concurrency: int = 16,
        **options: Any,
    ) -> BatchResult[WebPushResult]:
        """Push the same *data* to every subscription; per-item results."""

        async def one(sub: Subscription | Mapping[str, Any]) -> WebPushResult:
            return await self.send(sub, data, **options)

        return await run_each(subscriptions, one, concurrency=concurrency)

    def __repr__(self) -> str:
        return f"<WebPushSender k={self.public_key[:12]}… {self._http!r}>"


class _Sealer:
    """Encrypts the sends of one event-loop turn together (``crypto.seal_many``).

    ``seal`` queues a message and returns a future; the first message of a turn
    schedules the flush, which runs once the loop has started every send that was
    ready.  Each message still gets its own fresh key pair and salt.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[SealRequest, asyncio.Future[EncryptedPayload]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def seal(self, request: SealRequest) -> asyncio.Future[EncryptedPayload]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop: whatever an old one left is moot
            self._loop, self._pending = loop, []
        future: asyncio.Future[EncryptedPayload] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((request, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending[:_SEAL_BATCH], self._pending[_SEAL_BATCH:]
        if self._pending and self._loop is not None:
            self._loop.call_soon(self._flush)
        try:
            payloads = seal_many([request for request, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every send, none is stranded
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), payload in zip(batch, payloads, strict=True):
            if not future.done():  # a cancelled send just drops its payload
                future.set_result(payload)


def _protocol_headers(ttl: int, urgency: str | None, topic: str | None) -> dict[str, str]:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise _invalid("ttl must be a non-negative number of seconds (int)")
    headers = {"TTL": str(ttl)}
    if urgency is not None:
        if urgency not in _URGENCIES:
            raise _invalid(f"urgency must be one of {', '.join(_URGENCIES)}")
        headers["Urgency"] = urgency
    if topic is not None:
        if not isinstance(topic, str) or _TOPIC.fullmatch(topic) is None:
            raise _invalid("topic must be 1-32 base64url characters (A-Z a-z 0-9 - _)")
        headers["Topic"] = topic
    return headers


def _plaintext(data: bytes | str | Mapping[str, Any] | None) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, Mapping):
        try:
            return dumps(data)
        except (TypeError, ValueError):
            raise _invalid("data dict must be JSON-serialisable") from None
    raise _invalid("data must be bytes, str or a JSON-serialisable dict")


def _check_size(plaintext: bytes, encoding: ContentEncoding) -> None:
    overhead = _AES128GCM_OVERHEAD if encoding == "aes128gcm" else _AESGCM_OVERHEAD
    limit = _MAX_BODY - overhead
    if len(plaintext) > limit:
        raise InvalidArgumentError(
            f"payload is {len(plaintext)} bytes; with {encoding} at most {limit} fit the "
            f"{_MAX_BODY}-byte body push services accept",
            vendor="webpush",
            code="PAYLOAD_TOO_LARGE",
        )


def classify_webpush(response: HttpResponse) -> SendError | None:
    """RFC 8030 answers: 404/410 gone → ``UnregisteredError``, 413 → too large."""
    if response.status < 400:
        return None
    return error_for_status(response, "webpush", not_found=UnregisteredError)


def _result(response: HttpResponse) -> WebPushResult:
    location = response.headers.get("Location")
    # The id is the last path segment, percent-decoded (FCM's contain '%').
    message_id = unquote(urlsplit(location).path.rsplit("/", 1)[-1]) if location else None
    return WebPushResult(response.status, location, message_id, response.request_id)
