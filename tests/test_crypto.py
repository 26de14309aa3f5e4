"""Web Push crypto against the published vectors of webpush.md §6, http_ece and fuzzing."""

from __future__ import annotations

import contextlib
import os

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from pullkin import crypto
from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.crypto import decrypt, encrypt
from pullkin.errors import ConfigError, DecryptionError
from pullkin.models import AppCredentialsKeys


def b(text: str) -> bytes:
    return b64decode_any(text)


def public_of(private_b64: str) -> str:
    key = ec.derive_private_key(int.from_bytes(b(private_b64), "big"), ec.SECP256R1())
    return b64url_encode(
        key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )


def sender_key(private_b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b(private_b64), "big"), ec.SECP256R1())


# --- 6.1 RFC 8291 Appendix A (aes128gcm) -------------------------------------------

RFC8291 = {
    "plaintext": b"When I grow up, I want to be a watermelon",
    "as_public": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
    "as_private": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
    "ua_public": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    "ua_private": "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    "salt": "DGv6ra1nlYgDCS1FRnbzlw",
    "auth_secret": "BTBZMqHH6r4Tts7J_aSIgg",
    "ecdh_secret": "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs",
    "CEK": "oIhVW04MRdy2XN9CiKLxTg",
    "NONCE": "4h_95klXJ5E_qnoN",
    "body": "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}
RFC8291_KEYS = AppCredentialsKeys(
    private_key=RFC8291["ua_private"],
    public_key=RFC8291["ua_public"],
    auth_secret=RFC8291["auth_secret"],
)


def test_rfc8291_vector_decrypts() -> None:
    body = b(RFC8291["body"])
    assert len(body) == 144
    plain = decrypt(body, {"content-encoding": "aes128gcm"}, RFC8291_KEYS)
    assert plain == RFC8291["plaintext"]


def test_rfc8291_vector_derives_published_cek_and_nonce() -> None:
    cek, nonce = crypto.aes128gcm_keys(
        b(RFC8291["ecdh_secret"]),
        b(RFC8291["auth_secret"]),
        b(RFC8291["salt"]),
        b(RFC8291["ua_public"]),
        b(RFC8291["as_public"]),
    )
    assert (cek, nonce) == (b(RFC8291["CEK"]), b(RFC8291["NONCE"]))


def test_encrypt_reproduces_rfc8291_body_byte_for_byte() -> None:
    payload = encrypt(
        RFC8291["plaintext"],
        RFC8291["ua_public"],
        RFC8291["auth_secret"],
        salt=b(RFC8291["salt"]),
        sender_private_key=sender_key(RFC8291["as_private"]),
    )
    assert payload.body == b(RFC8291["body"])
    assert payload.headers() == {"Content-Encoding": "aes128gcm"}
    assert payload.app_data() == {"content-encoding": "aes128gcm"}


def test_rfc8291_chromium_pkcs8_form_matches_raw_scalar() -> None:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    der = b(
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgq1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM96"
        "hRANCAAQlcbK-zf3jYFUarx7Q9M02bBHOvlVfiby3sYalMzkXMWjs4uvgGFl70wR5uG48j47O1XfKWRh-kkaZDbaCAIsO"
    )
    key = load_der_private_key(der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    assert b64url_encode(scalar) == RFC8291["ua_private"]


# --- 6.2 / 6.3 RFC 8188 content coding ---------------------------------------------


def test_rfc8188_single_record_vector() -> None:
    body = b("I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg")
    cek, nonce = crypto.content_keys(b("I1BsxtFttlv3u_Oo94xnmw"), b("yqdlZ-tYemfogSmv7Ws5PQ"))
    assert cek == b("_wniytB-ofscZDh4tbSjHw")
    assert nonce == b("Bcs8gkIRKLI8GeI8")
    assert AESGCM(cek).decrypt(nonce, body[21:], None) == b"I am the walrus\x02"


def test_rfc8188_two_record_vector() -> None:
    body = b(
        "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA"
    )
    cek, nonce = crypto.content_keys(b("uNCkWiNYzKTnBN9ji3-qWA"), b("BO3ZVPxUlnLORbVGMpbT1Q"))
    assert (cek, nonce) == (b("u_eEOTjjVWUVrH82pQNwpw"), b("VqylG1rdt-mJrNgP"))
    records = body[16 + 4 + 1 + 2 :]
    first, second = records[:25], records[25:]
    nonce1 = (int.from_bytes(nonce, "big") ^ 1).to_bytes(12, "big")
    assert AESGCM(cek).decrypt(nonce, first, None) == b"I am th\x01\x00"
    assert AESGCM(cek).decrypt(nonce1, second, None) == b"e walrus\x02"


def test_multi_record_or_foreign_keyid_bodies_are_rejected() -> None:
    body = b(
        "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA"
    )
    with pytest.raises(DecryptionError, match="104-byte minimum"):
        decrypt(body, {"content-encoding": "aes128gcm"}, RFC8291_KEYS)
    # A Web Push shaped header whose body is longer than rs: two records.
    header = b(RFC8291["body"])[:86]
    small_rs = header[:16] + (18).to_bytes(4, "big") + header[20:]
    with pytest.raises(DecryptionError, match="more than one"):
        decrypt(small_rs + b"\x00" * 40, {"content-encoding": "aes128gcm"}, RFC8291_KEYS)


# --- 6.4 aesgcm "I am the walrus" ----------------------------------------------------

WALRUS = {
    "ua_private": "9FWl15_QUQAWDaD3k3l50ZBZQJ4au27F1V4F0uLSD_M",
    "ua_public": "BCEkBjzL8Z3C-oi2Q7oE5t2Np-p7osjGLg93qUP0wvqRT21EEWyf0cQDQcakQMqz4hQKYOQ3il2nNZct4HgAUQU",
    "as_private": "nCScek-QpEjmOOlT-rQ38nZzvdPlqa00Zy0i6m2OJvY",
    "as_public": "BNoRDbb84JGm8g5Z5CFxurSqsXWJ11ItfXEWYVLE85Y7CYkDjXsIEc4aqxYaQ1G8BqkXCJ6DPpDrWtdWj_mugHU",
    "auth": "R29vIGdvbyBnJyBqb29iIQ",
    "salt": "lngarbyKfMoi9Z75xYXmkg",
    "ecdh_secret": "RNjC-NVW4BGJbxWPW7G2mowsLeDa53LYKYm4--NOQ6Y",
    "CEK": "AN2-xhvFWeYh5z0fcDu0Ww",
    "NONCE": "JY1Okw5rw1Drkg9J",
    "ciphertext": "6nqAQUME8hNqw5J3kl8cpVVJylXKYqZOeseZG8UueKpA",
}
WALRUS_KEYS = AppCredentialsKeys(WALRUS["ua_private"], WALRUS["ua_public"], WALRUS["auth"])
WALRUS_APP_DATA = {
    "crypto-key": f"dh={WALRUS['as_public']}",
    "encryption": f"salt={WALRUS['salt']}",
}


def test_aesgcm_walrus_vector_decrypts() -> None:
    assert decrypt(b(WALRUS["ciphertext"]), WALRUS_APP_DATA, WALRUS_KEYS) == b"I am the walrus"


def test_aesgcm_walrus_vector_derivation() -> None:
    cek, nonce = crypto.aesgcm_keys(
        b(WALRUS["ecdh_secret"]),
        b(WALRUS["auth"]),
        b(WALRUS["salt"]),
        b(WALRUS["ua_public"]),
        b(WALRUS["as_public"]),
    )
    assert (cek, nonce) == (b(WALRUS["CEK"]), b(WALRUS["NONCE"]))


def test_encrypt_reproduces_walrus_aesgcm_ciphertext() -> None:
    payload = encrypt(
        b"I am the walrus",
        WALRUS["ua_public"],
        WALRUS["auth"],
        encoding="aesgcm",
        salt=b(WALRUS["salt"]),
        sender_private_key=sender_key(WALRUS["as_private"]),
    )
    assert payload.body == b(WALRUS["ciphertext"])
    assert payload.app_data() == WALRUS_APP_DATA
    assert payload.headers()["Crypto-Key"] == WALRUS_APP_DATA["crypto-key"]


@pytest.mark.parametrize(
    "app_data",
    [
        # FCM's single-value form, with padded salt, several parameters, quoted values.
        {"crypto-key": f"dh={WALRUS['as_public']}", "encryption": f"salt={WALRUS['salt']}=="},
        {
            "crypto-key": f"dh={WALRUS['as_public']};p256ecdsa=BDd3_hVL9fZi9Ybo2UUzA284WG5FZR30_9",
            "encryption": f"keyid=p256dh;salt={WALRUS['salt']}",
        },
        {
            "crypto-key": f"p256ecdsa=BDd3_hVL9fZi9Ybo2UUzA284WG5FZR30_9, dh={WALRUS['as_public']}",
            "encryption": f'salt="{WALRUS["salt"]}"',
        },
        {
            "crypto-key": f'keyid="p256dh"; DH="{WALRUS["as_public"]}"',
            "encryption": f" SALT = {WALRUS['salt']} ; rs=4096",
        },
    ],
)
def test_aesgcm_headers_parsed_by_name_not_position(app_data: dict[str, str]) -> None:
    assert decrypt(b(WALRUS["ciphertext"]), app_data, WALRUS_KEYS) == b"I am the walrus"


# --- 6.5 Chromium vectors with a given ECDH secret ------------------------------------

CHROMIUM_RECEIVER = b(
    "BDUCZ7kQj5vxhfUb16TvvSizEUC60O6yl9pqky0mRb2ymp-4Gdghb2bj9gt0sig43KeKWA1WRz7QW1yTTrOJh2Q"
)
CHROMIUM_SENDER = b(
    "BAU8obmlq7gtiEiCyUkZkdX90ZLbp35wSDdBzZAFgN9lmqEaBPGYJfLCE13ZcjV1JPn_JdG8hEZOiAhVcJ-nB9k"
)
SIMPLE = (
    "4d3a6cbad81d8e688be676a7ff60c7fe77e26d37f61244e225fee1d8cf8aa833",
    "6236acca74d449496b27b4f7c1e5309a",
    "1ca7fd981ae4a792e1b6a1e341638776",
)
PADDED = (
    "8b388e22d5c4fd658abbd958bdf5ff79cf9dbd87167e9384208e8d49417d8e8f",
    "3e65c71f757a43c4786c649949a0c4b2",
    "434d308ee476b5d087fc04d12e357563",
)


@pytest.mark.parametrize(
    ("encoding", "params", "ciphertext"),
    [
        ("aesgcm", SIMPLE, "lsemWwzlFoJzoidHCnVuxRiJpotTcYokJHKzmQ2FsA"),
        ("aesgcm", PADDED, "VQB6Ds-q9xRqyM1tj_gksSgc78vCWEhphZ-NF1E7_yMfPuRRZlC_Xt9_2NsX3SU"),
        ("aes128gcm", SIMPLE, "baIDPDv-Do_x1RVtlFDex2uCvd3Ugrv-gJG3sWeg"),
        ("aes128gcm", PADDED, "6Zq7GKQ7zRxeOWoYR71Nx7xJzCZUUNhz6bhV1-ZIg6dVra0x1uWXms5gHp6F6A"),
    ],
)
def test_chromium_vectors_decrypt(
    encoding: crypto.ContentEncoding, params: tuple[str, str, str], ciphertext: str
) -> None:
    secret, auth, salt = (bytes.fromhex(p) for p in params)
    plain = crypto.decrypt_record(
        encoding, secret, auth, salt, CHROMIUM_RECEIVER, CHROMIUM_SENDER, b(ciphertext)
    )
    assert plain == b"Hello, world!"


def test_chromium_nonzero_padding_vector_must_fail() -> None:
    secret, auth, salt = (
        bytes.fromhex("6b8292d3719a97764511996dbf56cc81985680f57836d6439568db0f2339f36e"),
        bytes.fromhex("0216dcc3de2cb50889dbd81868831cdb"),
        bytes.fromhex("b7855d8e84c32d619b783b600e7084f3"),
    )
    ciphertext = b("2FJmrF95yVU8Q8cYQy9OoOwCb59ZoRlxazPE0T-MNOSMbr0")
    cek, nonce = crypto.aesgcm_keys(secret, auth, salt, CHROMIUM_RECEIVER, CHROMIUM_SENDER)
    assert AESGCM(cek).decrypt(nonce, ciphertext, None) == b"\x00\x04\x07\x07\x07\x07Hello, world!"
    with pytest.raises(DecryptionError, match="padding"):
        crypto.decrypt_record(
            "aesgcm", secret, auth, salt, CHROMIUM_RECEIVER, CHROMIUM_SENDER, ciphertext
        )


# --- 6.6 ecec aesgcm vector with rs=24 ---------------------------------------------------


def test_ecec_vector_with_record_size_24() -> None:
    ua_private = "4h23G_KkXC9TvBSK2v0Q7ImpS2YAuRd8hQyN0rFAwBg"
    ua_public = (
        "BLHfOWQmxBunRJBjApg8hgSLeOeEMvmKPtcYW2k9iZZOvr3cKpQ-Sp1kpZ9HipNjUCwSA55yy0uM8N9byE8dmLs"
    )
    assert public_of(ua_private) == ua_public
    keys = AppCredentialsKeys(ua_private, ua_public, "aTDc6JebzR6eScy2oLo4RQ")
    app_data = {
        "crypto-key": "dh=BCHFVrflyxibGLlgztLwKelsRZp4gqX3tNfAKFaxAcBhpvYeN1yIUMrxaDKiLh4LNKPtj0BOXGdr-IQ-QP82Wjo",
        "encryption": "salt=zCU18Rw3A5aB_Xi-vfixmA; rs=24",
    }
    assert decrypt(b("Oo34w2F9VVnTMFfKtdx48AZWQ9Li9M6DauWJVgXU"), app_data, keys) == b"Some message"


# --- header grammar (ecec's table, webpush.md §2) ---------------------------------------


@pytest.mark.parametrize(
    ("crypto_key", "encryption", "dh", "salt", "rs"),
    [
        ("keyid=p256dh;dh=Iy1Je2Kv11A,p256ecdsa=o2M8QfiEKuI", "keyid=p256dh;salt=upk1yFkp1xI",
         "Iy1Je2Kv11A", "upk1yFkp1xI", 4096),
        ('dh="byfHbUffc-k"', "salt=C11AvAsp6Gc", "byfHbUffc-k", "C11AvAsp6Gc", 4096),
        ("dh=ybuT4VDz-Bg", 'salt="H7U7wcIoIKs"; rs=24', "ybuT4VDz-Bg", "H7U7wcIoIKs", 24),
    ],
)  # fmt: skip
def test_valid_header_table(crypto_key: str, encryption: str, dh: str, salt: str, rs: int) -> None:
    assert crypto.parse_crypto_key(crypto_key) == b(dh)
    assert crypto.parse_encryption(encryption) == (b(salt), rs)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("encryption", "salt=Esao8aTBfIk;rs=bad"),
        ("crypto-key", " \t "),
        ("encryption", ""),
        ("crypto-key", "dh="),
        ("crypto-key", "dh=pbmv1QkcEDY; keyid, dh=rqowftPcCVo"),
        ("encryption", "rs; salt=Esao8aTBfIk"),
        ("crypto-key", "dh==byfHbUffc-k"),
        ("crypto-key", ",dh=byfHbUffc-k"),
        ("crypto-key", "dh=byfHbUffc-k;"),
        ("crypto-key", '"dh"="byfHbUffc-k"'),
        ("encryption", "salt=99999"),
        ("crypto-key", "dh=pbmv1QkcEDY, dh=rqowftPcCVo"),
        ("encryption", "salt=Esao8aTBfIk;salt=Esao8aTBfIk"),
        ("encryption", "salt=Esao8aTBfIk;rs=1"),
        ("encryption", "salt=Esao8aTBfIk;rs=+24"),
        ("encryption", "keyid=p256dh"),
        ("crypto-key", "p256ecdsa=pbmv1QkcEDY"),
    ],
)
def test_invalid_header_table(header: str, value: str) -> None:
    parse = crypto.parse_crypto_key if header == "crypto-key" else crypto.parse_encryption
    with pytest.raises(DecryptionError, match=header):
        parse(value)


# --- bad input always ends in DecryptionError -----------------------------------------


def _walrus(**changes: str) -> dict[str, str]:
    return {**WALRUS_APP_DATA, **changes}


@pytest.mark.parametrize(
    ("raw", "app_data", "message"),
    [
        (b(WALRUS["ciphertext"]), {"encryption": "salt=lngarbyKfMoi9Z75xYXmkg"}, "incomplete"),
        (b(WALRUS["ciphertext"]), {"crypto-key": WALRUS_APP_DATA["crypto-key"]}, "incomplete"),
        (b(WALRUS["ciphertext"]), {}, "not encrypted"),
        (b(WALRUS["ciphertext"]), _walrus(**{"crypto-key": "dh=!!!"}), "not valid base64url"),
        (b(WALRUS["ciphertext"]), _walrus(**{"crypto-key": "dh=AAAA"}), "65-byte"),
        (b(WALRUS["ciphertext"]), _walrus(encryption="salt=AAAA"), "16 bytes"),
        (b(WALRUS["ciphertext"])[:10], WALRUS_APP_DATA, "does not fit"),
        (b(WALRUS["ciphertext"])[:-1], WALRUS_APP_DATA, "tag mismatch"),
        (b(WALRUS["ciphertext"])[:-1] + b"\x00", WALRUS_APP_DATA, "tag mismatch"),
        (
            b(WALRUS["ciphertext"]),
            _walrus(**{"crypto-key": "dh=B" + "A" * 86}),
            "not a point",
        ),
    ],
)
def test_bad_aesgcm_input_raises_decryption_error(
    raw: bytes, app_data: dict[str, str], message: str
) -> None:
    with pytest.raises(DecryptionError, match=message):
        decrypt(raw, app_data, WALRUS_KEYS)


def test_wrong_keys_never_yield_plaintext() -> None:
    other = AppCredentialsKeys.generate()
    with pytest.raises(DecryptionError, match="wrong keys"):
        decrypt(b(RFC8291["body"]), {"content-encoding": "aes128gcm"}, other)


def test_truncated_or_tampered_aes128gcm_body() -> None:
    body = b(RFC8291["body"])
    app_data = {"content-encoding": "aes128gcm"}
    for bad in (body[:103], body[:-1], body[:-1] + bytes([body[-1] ^ 1]), body[:86]):
        with pytest.raises(DecryptionError):
            decrypt(bad, app_data, RFC8291_KEYS)
    bad_idlen = body[:20] + b"\x40" + body[21:]
    with pytest.raises(DecryptionError, match="keyid"):
        decrypt(bad_idlen, app_data, RFC8291_KEYS)
    bad_rs = body[:16] + (17).to_bytes(4, "big") + body[20:]
    with pytest.raises(DecryptionError, match="record size"):
        decrypt(bad_rs, app_data, RFC8291_KEYS)


def test_goog_raw_data_fallback_for_empty_raw_data() -> None:
    import base64

    app_data = {
        "content-encoding": "aes128gcm",
        "_googRawData": base64.b64encode(b(RFC8291["body"])).decode(),
    }
    assert decrypt(b"", app_data, RFC8291_KEYS) == RFC8291["plaintext"]
    with pytest.raises(DecryptionError, match="empty body"):
        decrypt(b"", {"content-encoding": "aes128gcm"}, RFC8291_KEYS)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=300),
    app_data=st.dictionaries(
        st.sampled_from(["content-encoding", "encryption", "crypto-key", "_googRawData", "x"]),
        st.one_of(
            st.text(max_size=120),
            st.sampled_from(
                ["aes128gcm", WALRUS_APP_DATA["crypto-key"], WALRUS_APP_DATA["encryption"]]
            ),
        ),
    ),
)
def test_fuzzed_input_raises_only_decryption_error(raw: bytes, app_data: dict[str, str]) -> None:
    with contextlib.suppress(DecryptionError):
        decrypt(raw, app_data, WALRUS_KEYS)


# --- round trips and cross-checks with http_ece ----------------------------------------

RECEIVER = AppCredentialsKeys.generate()


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=4096), encoding=st.sampled_from(["aes128gcm", "aesgcm"]))
def test_encrypt_decrypt_round_trip(plaintext: bytes, encoding: crypto.ContentEncoding) -> None:
    payload = encrypt(plaintext, RECEIVER.public_key, RECEIVER.auth_secret, encoding=encoding)
    assert decrypt(payload.body, payload.app_data(), RECEIVER) == plaintext


@pytest.mark.parametrize("size", [0, 1, 3993, 4094, 4095, 4096])
@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
def test_round_trip_at_size_edges(size: int, encoding: crypto.ContentEncoding) -> None:
    plaintext = os.urandom(size)
    payload = encrypt(plaintext, RECEIVER.public_bytes, RECEIVER.auth_bytes, encoding=encoding)
    assert decrypt(payload.body, payload.app_data(), RECEIVER) == plaintext


@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
def test_http_ece_encrypted_payload_decrypts(encoding: str) -> None:
    sender = ec.generate_private_key(ec.SECP256R1())
    salt = os.urandom(16)
    body = http_ece.encrypt(
        b"cross-check",
        salt=salt,
        private_key=sender,
        dh=RECEIVER.public_bytes,
        auth_secret=RECEIVER.auth_bytes,
        version=encoding,
    )
    if encoding == "aes128gcm":
        app_data = {"content-encoding": "aes128gcm"}
    else:
        dh = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        app_data = {
            "crypto-key": f"dh={b64url_encode(dh)}",
            "encryption": f"salt={b64url_encode(salt)}",
        }
    assert decrypt(body, app_data, RECEIVER) == b"cross-check"


@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
def test_our_payload_decrypts_with_http_ece(encoding: crypto.ContentEncoding) -> None:
    payload = encrypt(b"cross-check", RECEIVER.public_key, RECEIVER.auth_secret, encoding=encoding)
    kwargs = {}
    if encoding == "aesgcm":
        salt, rs = crypto.parse_encryption(payload.encryption or "")
        kwargs = {"salt": salt, "rs": rs, "dh": crypto.parse_crypto_key(payload.crypto_key or "")}
    plain = http_ece.decrypt(
        payload.body,
        private_key=RECEIVER.private_key_object,
        auth_secret=RECEIVER.auth_bytes,
        version=encoding,
        **kwargs,
    )
    assert plain == b"cross-check"


def test_encrypt_rejects_bad_subscription_keys() -> None:
    with pytest.raises(ConfigError, match="p256dh must be 65 bytes"):
        encrypt(b"x", b"\x04" * 10, RECEIVER.auth_bytes)
    with pytest.raises(ConfigError, match="auth must be 16 bytes"):
        encrypt(b"x", RECEIVER.public_key, "AAAA")
    with pytest.raises(ConfigError, match="not valid base64url"):
        encrypt(b"x", "%%%", RECEIVER.auth_secret)
    with pytest.raises(ConfigError, match="encoding"):
        encrypt(b"x", RECEIVER.public_key, RECEIVER.auth_secret, encoding="aesgcm128")  # type: ignore[arg-type]


# --- keys ------------------------------------------------------------------------------


def test_generated_keys_have_rfc8291_shapes_and_differ() -> None:
    first, second = AppCredentialsKeys.generate(), AppCredentialsKeys.generate()
    assert len(b(first.private_key)) == 32
    assert len(first.public_bytes) == 65
    assert first.public_bytes[0] == 4
    assert len(first.auth_bytes) == 16
    assert "=" not in first.public_key + first.private_key + first.auth_secret
    assert first != second
    assert public_of(first.private_key) == first.public_key


def test_mismatched_key_pair_is_rejected_on_use() -> None:
    mixed = AppCredentialsKeys(RFC8291["ua_private"], WALRUS["ua_public"], RFC8291["auth_secret"])
    with pytest.raises(DecryptionError, match="does not match"):
        decrypt(b(RFC8291["body"]), {"content-encoding": "aes128gcm"}, mixed)


# --- seal: the lean send path, checked against encrypt, http_ece and the vectors ------


def test_seal_reproduces_rfc8291_and_walrus_vectors() -> None:
    rfc = crypto.seal(
        RFC8291["plaintext"],
        b(RFC8291["ua_public"]),
        b(RFC8291["auth_secret"]),
        salt=b(RFC8291["salt"]),
        agreement=crypto.KeyAgreement.make(
            b(RFC8291["ua_public"]), sender_key(RFC8291["as_private"])
        ),
    )
    assert rfc.body == b(RFC8291["body"])
    walrus = crypto.seal(
        b"I am the walrus",
        b(WALRUS["ua_public"]),
        b(WALRUS["auth"]),
        "aesgcm",
        salt=b(WALRUS["salt"]),
        agreement=crypto.KeyAgreement.make(
            b(WALRUS["ua_public"]), sender_key(WALRUS["as_private"])
        ),
    )
    assert walrus.body == b(WALRUS["ciphertext"])
    assert walrus.app_data() == WALRUS_APP_DATA


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=4096), encoding=st.sampled_from(["aes128gcm", "aesgcm"]))
def test_seal_matches_encrypt_byte_for_byte(
    plaintext: bytes, encoding: crypto.ContentEncoding
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    salt = os.urandom(16)
    sealed = crypto.seal(
        plaintext, RECEIVER.public_bytes, RECEIVER.auth_bytes, encoding, salt=salt,
        agreement=crypto.KeyAgreement.make(RECEIVER.public_bytes, private),
    )  # fmt: skip
    reference = encrypt(
        plaintext, RECEIVER.public_key, RECEIVER.auth_secret, encoding=encoding, salt=salt,
        sender_private_key=private,
    )  # fmt: skip
    assert sealed == reference
    assert decrypt(sealed.body, sealed.app_data(), RECEIVER) == plaintext


def test_key_agreement_rejects_a_point_off_the_curve() -> None:
    with pytest.raises(ConfigError, match="not a point"):
        crypto.KeyAgreement.make(b"\x04" + b"\x01" * 64)


def _burst_item(kind: str, n: int) -> tuple[bytes, dict[str, str]]:
    """One (raw_data, app_data) pair of a burst; the bad ones fail in each phase."""
    encoding: crypto.ContentEncoding = "aes128gcm" if kind == "aes128gcm" else "aesgcm"
    payload = encrypt(f"message {n}".encode(), RECEIVER.public_key, RECEIVER.auth_secret,
                      encoding=encoding)  # fmt: skip
    body, app_data = payload.body, payload.app_data()
    if kind == "bad_header":  # fails while the headers are read
        app_data["encryption"] = "salt=!!"
    elif kind == "off_curve":  # fails in the key agreement
        app_data["crypto-key"] = "dh=" + b64url_encode(b"\x04" + b"\x01" * 64)
    elif kind == "tampered":  # fails when the record is opened
        body = body[:-1] + bytes([body[-1] ^ 1])
    return body, app_data


@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["aesgcm", "aes128gcm", "bad_header", "off_curve", "tampered"]),
        max_size=12,
    )
)
def test_decrypt_many_matches_decrypt_item_by_item(kinds: list[str]) -> None:
    items = [_burst_item(kind, n) for n, kind in enumerate(kinds)]
    results = crypto.decrypt_many(items, RECEIVER)
    assert len(results) == len(items)
    for (raw, app_data), result in zip(items, results, strict=True):
        try:
            expected: bytes | str = decrypt(raw, app_data, RECEIVER)
        except DecryptionError as exc:
            expected = str(exc)
        got = str(result) if isinstance(result, DecryptionError) else result
        assert got == expected
    assert sum(isinstance(r, bytes) for r in results) == sum(
        kind in ("aesgcm", "aes128gcm") for kind in kinds
    )


# --- seal_many: a burst sealed phase by phase, as the Web Push sender does ----------


def _seal_request(
    plaintext: bytes, encoding: crypto.ContentEncoding, keys: AppCredentialsKeys = RECEIVER
) -> crypto.SealRequest:
    receiver = crypto.load_point(keys.public_bytes)
    return crypto.SealRequest(plaintext, keys.public_bytes, keys.auth_bytes, encoding, receiver)


def test_seal_many_reproduces_the_rfc8291_and_walrus_vectors_inside_a_burst() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    sealed = crypto.seal_many(
        [
            _seal_request(RFC8291["plaintext"], "aes128gcm", RFC8291_KEYS),
            _seal_request(b"filler between the vectors", "aes128gcm"),
            _seal_request(b"I am the walrus", "aesgcm", WALRUS_KEYS),
        ],
        salts=[b(RFC8291["salt"]), os.urandom(16), b(WALRUS["salt"])],
        private_keys=[sender_key(RFC8291["as_private"]), other, sender_key(WALRUS["as_private"])],
    )
    assert sealed[0].body == b(RFC8291["body"])
    assert sealed[0].headers() == {"Content-Encoding": "aes128gcm"}
    assert sealed[2].body == b(WALRUS["ciphertext"])
    assert sealed[2].app_data() == WALRUS_APP_DATA
    assert decrypt(sealed[1].body, sealed[1].app_data(), RECEIVER) == b"filler between the vectors"


@settings(max_examples=30, deadline=None)
@given(
    burst=st.lists(
        st.tuples(st.binary(max_size=4096), st.sampled_from(["aes128gcm", "aesgcm"])),
        max_size=12,
    )
)
def test_seal_many_equals_seal_one_at_a_time_and_decrypts(
    burst: list[tuple[bytes, crypto.ContentEncoding]],
) -> None:
    requests = [_seal_request(plaintext, encoding) for plaintext, encoding in burst]
    privates = [ec.generate_private_key(ec.SECP256R1()) for _ in burst]
    salts = [os.urandom(16) for _ in burst]
    sealed = crypto.seal_many(requests, salts=salts, private_keys=privates)
    assert len(sealed) == len(burst)
    for request, private, salt, payload in zip(requests, privates, salts, sealed, strict=True):
        alone = crypto.seal(
            request.plaintext, request.p256dh, request.auth, request.encoding, salt=salt,
            agreement=crypto.KeyAgreement.make(request.receiver_key, private),
        )  # fmt: skip
        assert payload == alone
        assert decrypt(payload.body, payload.app_data(), RECEIVER) == request.plaintext


def _sender_and_salt(payload: crypto.EncryptedPayload) -> tuple[bytes, bytes]:
    if payload.encoding == "aes128gcm":
        return payload.body[21:86], payload.body[:16]
    salt, _ = crypto.parse_encryption(payload.encryption or "")
    return crypto.parse_crypto_key(payload.crypto_key or ""), salt


def test_seal_many_draws_a_fresh_key_pair_and_salt_for_every_message() -> None:
    plaintexts = [f"message {n}".encode() for n in range(24)]
    sealed = crypto.seal_many(
        [_seal_request(p, "aes128gcm" if n % 2 else "aesgcm") for n, p in enumerate(plaintexts)]
    )
    senders = {_sender_and_salt(payload)[0] for payload in sealed}
    salts = {_sender_and_salt(payload)[1] for payload in sealed}
    assert len(senders) == len(salts) == len(plaintexts)
    opened = [decrypt(payload.body, payload.app_data(), RECEIVER) for payload in sealed]
    assert opened == plaintexts


def test_seal_many_of_nothing_is_nothing() -> None:
    assert crypto.seal_many([]) == []


def _outcome(parse: object, value: str) -> object:
    try:
        return parse(value)  # type: ignore[operator]
    except DecryptionError as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ABCxyz09-_+/=", min_size=1, max_size=40))
def test_fcms_exact_header_form_parses_as_the_general_grammar_does(text: str) -> None:
    # ``salt=…`` / ``dh=…`` exactly as FCM writes them take a short cut past the
    # general parser; it must give the same value, or fail alike, as the same
    # parameter written with blanks, capitals or beside another parameter.
    for name, parse, other in (
        ("salt", crypto.parse_encryption, "rs=4096"),
        ("dh", crypto.parse_crypto_key, "keyid=p256dh"),
    ):
        fast = _outcome(parse, f"{name}={text}")
        assert fast == _outcome(parse, f" {name.upper()} = {text} ")
        if "=" not in text.rstrip("="):  # a bare value cannot hold an inner "="
            assert fast == _outcome(parse, f"{name}={text}; {other}")
