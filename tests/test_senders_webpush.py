"""WebPushSender: RFC 8291 sealing (published vector), VAPID, and a loopback push service.

The local push service verifies the VAPID JWT with the ``k`` key it was sent and
decrypts the body with the subscriber's keys, as a browser would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from _local_http import serve_local
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.crypto import (
    KeyAgreement,
    SealRequest,
    decrypt,
    generate_keys,
    load_point,
    seal,
    seal_many,
)
from pullkin.errors import (
    ConfigError,
    InvalidArgumentError,
    QuotaExceededError,
    UnauthenticatedError,
    UnregisteredError,
)
from pullkin.models import AppCredentialsKeys
from pullkin.senders import webpush
from pullkin.senders._http import RetryPolicy
from pullkin.senders.webpush import Subscription, WebPushResult, WebPushSender, load_vapid_key

# RFC 8291 Appendix A (protocol/webpush.md §6.1), verbatim.
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_BODY = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

VAPID = ec.generate_private_key(ec.SECP256R1())
VAPID_SCALAR = b64url_encode(VAPID.private_numbers().private_value.to_bytes(32, "big"))


def test_seal_reproduces_the_rfc_8291_vector_byte_for_byte() -> None:
    sender_key = ec.derive_private_key(
        int.from_bytes(b64decode_any(RFC_AS_PRIVATE), "big"), ec.SECP256R1()
    )
    payload = seal(
        RFC_PLAINTEXT,
        b64decode_any(RFC_UA_PUBLIC),
        b64decode_any(RFC_AUTH),
        salt=b64decode_any(RFC_SALT),
        agreement=KeyAgreement.make(b64decode_any(RFC_UA_PUBLIC), sender_key),
    )
    assert b64url_encode(payload.body) == RFC_BODY
    assert payload.headers() == {"Content-Encoding": "aes128gcm"}


@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
@pytest.mark.parametrize("plaintext", [b"", b"x", b"hello world" * 300])
def test_sealed_payloads_decrypt_with_the_receiver_code(encoding: Any, plaintext: bytes) -> None:
    keys = generate_keys()
    payload = seal(
        plaintext, b64decode_any(keys.public_key), b64decode_any(keys.auth_secret), encoding
    )
    assert decrypt(payload.body, payload.app_data(), keys) == plaintext


@dataclass
class PushService:
    url: str = ""
    status: int = 201
    extra: dict[str, str] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            {"path": request.path, "headers": request.headers.copy(), "body": await request.read()}
        )
        if self.status != 201:
            return web.Response(status=self.status, headers=self.extra)
        return web.Response(
            status=201, headers={"Location": f"{self.url}/m/msg-{len(self.received)}"}
        )


@pytest.fixture
async def service() -> AsyncIterator[PushService]:
    state = PushService()
    app = web.Application()
    app.router.add_post("/push/{token}", state.handle)
    runner, port = await serve_local(app)
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def subscription(
    service: PushService, keys: AppCredentialsKeys, token: str = "tok"
) -> dict[str, Any]:
    """What ``PushSubscription.toJSON()`` gives in a browser."""
    return {
        "endpoint": f"{service.url}/push/{token}",
        "expirationTime": None,
        "keys": {"p256dh": keys.public_key, "auth": keys.auth_secret},
    }


def verify_vapid(headers: Any, audience: str) -> dict[str, Any]:
    scheme, _, params = headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64decode_any(fields["k"])
    )
    assert jwt.get_unverified_header(fields["t"]) == {"alg": "ES256", "typ": "JWT"}
    claims: dict[str, Any] = jwt.decode(
        fields["t"], public, algorithms=["ES256"], audience=audience
    )
    return claims


def sender(**kwargs: Any) -> WebPushSender:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, base=0.01, cap=0.02, total=5))
    return WebPushSender(VAPID_SCALAR, "mailto:ops@example.com", **kwargs)


@pytest.mark.anyio
async def test_send_encrypts_signs_and_posts_rfc_8030_headers(service: PushService) -> None:
    keys = generate_keys()
    async with sender() as push:
        result = await push.send(
            subscription(service, keys), {"title": "Hi"}, urgency="high", topic="news_1"
        )
    assert result.status == 201
    assert result.message_id == "msg-1"
    sent = service.received[0]
    headers = sent["headers"]
    assert headers["TTL"] == "86400"
    assert headers["Urgency"] == "high"
    assert headers["Topic"] == "news_1"
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Content-Type"] == "application/octet-stream"
    claims = verify_vapid(headers, service.url)
    assert claims["sub"] == "mailto:ops@example.com"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert decrypt(sent["body"], {"content-encoding": "aes128gcm"}, keys) == b'{"title":"Hi"}'


@pytest.mark.anyio
async def test_aesgcm_on_request_sends_encryption_and_crypto_key(service: PushService) -> None:
    keys = generate_keys()
    async with sender() as push:
        await push.send(subscription(service, keys), "plain text", encoding="aesgcm", ttl=0)
    headers = service.received[0]["headers"]
    assert headers["Content-Encoding"] == "aesgcm"
    assert headers["TTL"] == "0"
    app_data = {"encryption": headers["Encryption"], "crypto-key": headers["Crypto-Key"]}
    assert decrypt(service.received[0]["body"], app_data, keys) == b"plain text"


@pytest.mark.anyio
async def test_a_push_without_data_has_no_body_or_encoding(service: PushService) -> None:
    async with sender() as push:
        await push.send(subscription(service, generate_keys()))
    sent = service.received[0]
    assert sent["body"] == b""
    assert "Content-Encoding" not in sent["headers"]
    verify_vapid(sent["headers"], service.url)


@pytest.mark.anyio
async def test_vapid_jwt_is_cached_per_audience(service: PushService) -> None:
    keys = generate_keys()
    async with sender() as push:
        for token in ("a", "b"):
            await push.send(subscription(service, keys, token), b"x")
        first = push.vapid_authorization("https://push.example.net")
        assert push.vapid_authorization("https://push.example.net") == first
    auths = [r["headers"]["Authorization"] for r in service.received]
    assert auths[0] == auths[1]
    assert first != auths[0]
    assert verify_vapid({"Authorization": first}, "https://push.example.net")


def test_vapid_jwt_is_re_signed_an_hour_before_it_expires() -> None:
    push = sender(vapid_lifetime=7200)
    first = push.vapid_authorization("https://a.example", now=1_000_000)
    assert push.vapid_authorization("https://a.example", now=1_000_000 + 3599) == first
    renewed = push.vapid_authorization("https://a.example", now=1_000_000 + 3601)
    assert renewed != first


def test_a_short_vapid_lifetime_is_cached_for_half_of_it() -> None:
    push = sender(vapid_lifetime=60)
    first = push.vapid_authorization("https://a.example", now=1_000_000)
    assert push.vapid_authorization("https://a.example", now=1_000_000 + 29) == first
    renewed = push.vapid_authorization("https://a.example", now=1_000_000 + 31)
    assert renewed != first
    token = renewed.split("t=", 1)[1].split(",", 1)[0]
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == 1_000_000 + 31 + 60


def test_vapid_tokens_of_two_audiences_are_never_swapped() -> None:
    push = sender()
    now = time.time()
    a = push.vapid_authorization("https://a.example", now=now)
    b = push.vapid_authorization("https://b.example", now=now)
    assert a != b
    assert push.vapid_authorization("https://a.example", now=now + 1) == a
    assert push.vapid_authorization("https://b.example", now=now + 1) == b
    assert verify_vapid({"Authorization": a}, "https://a.example")
    assert verify_vapid({"Authorization": b}, "https://b.example")


def test_audience_is_the_endpoint_origin() -> None:
    keys = generate_keys()

    def aud(endpoint: str) -> str:
        return Subscription(endpoint, keys.public_key, keys.auth_secret).audience

    assert aud("https://fcm.googleapis.com/fcm/send/abc") == "https://fcm.googleapis.com"
    assert aud("https://FCM.googleapis.com:443/wp/x") == "https://fcm.googleapis.com"
    assert aud("https://127.0.0.1:8443/fcm/send/x") == "https://127.0.0.1:8443"
    assert aud("https://[::1]:9/x") == "https://[::1]:9"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, UnregisteredError),
        (410, UnregisteredError),
        (413, InvalidArgumentError),
        (400, InvalidArgumentError),
        (403, UnauthenticatedError),
    ],
)
@pytest.mark.anyio
async def test_answers_map_to_errors_without_retry(
    service: PushService, status: int, kind: type[Exception]
) -> None:
    service.status = status
    async with sender() as push:
        with pytest.raises(kind) as info:
            await push.send(subscription(service, generate_keys()), b"x")
    assert len(service.received) == 1
    assert info.value.vendor == "webpush"  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_429_is_retried_with_retry_after_until_attempts_run_out(service: PushService) -> None:
    service.status = 429
    service.extra = {"Retry-After": "0"}
    async with sender() as push:
        with pytest.raises(QuotaExceededError) as info:
            await push.send(subscription(service, generate_keys()), b"x")
    assert len(service.received) == 3
    assert info.value.retry_after == 0.0


@pytest.mark.anyio
async def test_send_each_pushes_to_every_subscription(service: PushService) -> None:
    keys = [generate_keys() for _ in range(5)]
    async with sender() as push:
        batch = await push.send_each(
            [subscription(service, k, f"t{i}") for i, k in enumerate(keys)], "hi", concurrency=3
        )
    assert batch.success_count == 5
    by_path = {r["path"]: r["body"] for r in service.received}
    for i, k in enumerate(keys):
        assert decrypt(by_path[f"/push/t{i}"], {"content-encoding": "aes128gcm"}, k) == b"hi"


def _sender_key(body: bytes) -> bytes:
    return body[21:86]  # the aes128gcm header's keyid: the message's ephemeral public key


@pytest.mark.anyio
async def test_concurrent_sends_are_sealed_together_each_with_its_own_key(
    service: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    bursts: list[int] = []

    def spy(requests: Any, **kwargs: Any) -> Any:
        bursts.append(len(requests))
        return seal_many(requests, **kwargs)

    monkeypatch.setattr(webpush, "seal_many", spy)
    keys = [generate_keys() for _ in range(3)]
    subs = [subscription(service, k, f"t{i}") for i, k in enumerate(keys)]
    async with sender() as push:
        results = await asyncio.gather(*(push.send(subs[n % 3], f"message {n}") for n in range(70)))
    assert [r.status for r in results] == [201] * 70
    assert sum(bursts) == 70
    assert len(bursts) < 70
    assert max(bursts) <= webpush._SEAL_BATCH
    opened = []
    for sent in service.received:
        k = keys[int(sent["path"].rsplit("t", 1)[1])]
        opened.append(decrypt(sent["body"], {"content-encoding": "aes128gcm"}, k))
    assert sorted(opened) == sorted(f"message {n}".encode() for n in range(70))
    assert len({_sender_key(sent["body"]) for sent in service.received}) == 70


@pytest.mark.anyio
async def test_a_cancelled_send_leaves_the_rest_of_its_burst_alone(service: PushService) -> None:
    keys = generate_keys()
    sub = subscription(service, keys)
    async with sender() as push:
        tasks = [asyncio.ensure_future(push.send(sub, f"m{n}")) for n in range(5)]
        await asyncio.sleep(0)  # every send has queued its message for sealing
        tasks[2].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[2], asyncio.CancelledError)
    assert [r.status for r in done if isinstance(r, WebPushResult)] == [201] * 4
    bodies = [decrypt(r["body"], {"content-encoding": "aes128gcm"}, keys) for r in service.received]
    assert sorted(bodies) == [b"m0", b"m1", b"m3", b"m4"]


def test_a_sender_outlives_an_event_loop_that_closed_before_sealing() -> None:
    keys = generate_keys()
    request = SealRequest(b"x", keys.public_bytes, keys.auth_bytes, "aes128gcm",
                          load_point(keys.public_bytes))  # fmt: skip
    sealer = webpush._Sealer()
    first = asyncio.new_event_loop()

    def queue_and_stop() -> None:
        sealer.seal(request)  # schedules the flush on *first*, which stops before it runs
        first.stop()

    first.call_soon(queue_and_stop)
    first.run_forever()
    first.close()

    async def seal_again() -> Any:
        return await asyncio.wait_for(sealer.seal(request), timeout=5)

    payload = asyncio.run(seal_again())
    assert decrypt(payload.body, payload.app_data(), keys) == b"x"


# --- validation before any request ------------------------------------------------------


@pytest.mark.anyio
async def test_oversized_payload_is_rejected_before_sending(service: PushService) -> None:
    sub = subscription(service, generate_keys())
    async with sender() as push:
        await push.send(sub, b"x" * 3993)
        with pytest.raises(InvalidArgumentError, match="3994 bytes") as info:
            await push.send(sub, b"x" * 3994)
        assert info.value.code == "PAYLOAD_TOO_LARGE"
        await push.send(sub, b"x" * 4078, encoding="aesgcm")
        with pytest.raises(InvalidArgumentError):
            await push.send(sub, b"x" * 4079, encoding="aesgcm")
    assert len(service.received) == 2
    assert all(len(r["body"]) <= 4096 for r in service.received)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ttl": -1}, "ttl"),
        ({"ttl": 1.5}, "ttl"),
        ({"urgency": "asap"}, "urgency"),
        ({"topic": "x" * 33}, "topic"),
        ({"topic": "has space"}, "topic"),
    ],
)
@pytest.mark.anyio
async def test_bad_options_are_rejected_before_sending(
    service: PushService, kwargs: dict[str, Any], match: str
) -> None:
    async with sender() as push:
        with pytest.raises(InvalidArgumentError, match=match):
            await push.send(subscription(service, generate_keys()), b"x", **kwargs)
    assert service.received == []


@pytest.mark.parametrize(
    ("sub", "match"),
    [
        ({"endpoint": "https://x/y"}, "keys"),
        (
            {"endpoint": "not a url", "keys": {"p256dh": RFC_UA_PUBLIC, "auth": RFC_AUTH}},
            "endpoint",
        ),
        ({"endpoint": "https://x/y", "keys": {"p256dh": "AAAA", "auth": RFC_AUTH}}, "p256dh"),
        ({"endpoint": "https://x/y", "keys": {"p256dh": RFC_UA_PUBLIC, "auth": "!!"}}, "auth"),
        ("https://x/y", "dict"),
        (
            {"endpoint": "https://x:99999/y", "keys": {"p256dh": RFC_UA_PUBLIC, "auth": RFC_AUTH}},
            "endpoint",
        ),
        ({"endpoint": 12, "keys": {"p256dh": RFC_UA_PUBLIC, "auth": RFC_AUTH}}, "endpoint"),
    ],
)
@pytest.mark.anyio
async def test_malformed_subscriptions_are_invalid_arguments(sub: Any, match: str) -> None:
    async with sender() as push:
        with pytest.raises(InvalidArgumentError, match=match):
            await push.send(sub, b"x")


def test_vapid_key_accepts_pem_scalar_der_and_key_object() -> None:
    pem = VAPID.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sec1 = VAPID.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = VAPID.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    expected = VAPID.private_numbers().private_value
    for form in (pem.decode(), sec1.decode(), pem, VAPID_SCALAR, b64url_encode(der), VAPID):
        assert load_vapid_key(form).private_numbers().private_value == expected
    push = WebPushSender(pem.decode(), "https://example.com/contact")
    assert b64decode_any(push.public_key)[0] == 4


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("not-a-key!", "neither PEM nor base64url"),
        (b64url_encode(b"\x00" * 32), "valid P-256 scalar"),
        (b64url_encode(b"\x01" * 40), "32-byte base64url scalar"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "PEM cannot be read"),
        (ec.generate_private_key(ec.SECP384R1()), "P-256"),
        (12, "PEM string"),
    ],
)
def test_bad_vapid_keys_are_config_errors(key: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WebPushSender(key, "mailto:a@b.c")


@pytest.mark.parametrize("subject", ["a@b.c", "http://example.com", ""])
def test_subject_must_be_mailto_or_https(subject: str) -> None:
    with pytest.raises(ConfigError, match="subject"):
        WebPushSender(VAPID_SCALAR, subject)
