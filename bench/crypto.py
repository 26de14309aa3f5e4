"""Decrypt throughput against the physical limit: one P-256 ECDH per message.

Run: ``python bench/crypto.py [--seconds S]``.  Prints one JSON object with

* ``raw_ecdh_per_s``: decode a sender's 65-byte public key + one ECDH exchange, a
  new sender key each time (what every Web Push message costs at the least);
* ``raw_exchange_only_per_s``: the exchange alone on a pre-loaded key object;
* ``pullkin.crypto.decrypt``/s for aesgcm and aes128gcm at 100 B and 4 KB, each as a
  ratio to both ECDH figures of the same run (target >= 0.5);
* http_ece's decrypt, for comparison.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import http_ece
from _util import emit, pin_one_core, rate
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pullkin import crypto
from pullkin.models import AppCredentialsKeys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per figure")
    args = parser.parse_args()
    pin_one_core()

    keys = AppCredentialsKeys.generate()
    private = keys.private_key_object
    curve, ecdh_alg = ec.SECP256R1(), ec.ECDH()
    peers = [ec.generate_private_key(curve).public_key() for _ in range(256)]
    peer_bytes = itertools.cycle(
        [p.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) for p in peers]
    )
    # The per-message physical limit: every push carries a new sender key as bytes,
    # which must be decoded (and validated) as a point, then one exchange.
    ecdh = rate(
        lambda: private.exchange(
            ecdh_alg, ec.EllipticCurvePublicKey.from_encoded_point(curve, next(peer_bytes))
        ),
        seconds=args.seconds,
    )
    # The bare library call on an already-loaded key object: a stricter floor.
    exchange_only = rate(lambda: private.exchange(ecdh_alg, peers[0]), seconds=args.seconds)

    figures: dict[str, object] = {
        "raw_ecdh_per_s": round(ecdh),
        "raw_exchange_only_per_s": round(exchange_only),
    }
    for encoding in ("aesgcm", "aes128gcm"):
        for label, size in (("100B", 100), ("4KB", 4000)):
            payload = crypto.encrypt(
                os.urandom(size), keys.public_key, keys.auth_secret, encoding=encoding
            )
            app_data = payload.app_data()
            per_s = rate(
                lambda p=payload, a=app_data: crypto.decrypt(p.body, a, keys),
                seconds=args.seconds,
            )
            figures[f"decrypt_{encoding}_{label}_per_s"] = round(per_s)
            figures[f"decrypt_{encoding}_{label}_ratio_to_ecdh"] = round(per_s / ecdh, 3)
            figures[f"decrypt_{encoding}_{label}_ratio_to_exchange_only"] = round(
                per_s / exchange_only, 3
            )

    # A burst, as the receiver decrypts one (crypto.decrypt_many, 16 at a time).
    burst = [
        (p.body, p.app_data())
        for p in (
            crypto.encrypt(os.urandom(100), keys.public_key, keys.auth_secret, encoding="aesgcm")
            for _ in range(16)
        )
    ]
    per_burst = rate(lambda: crypto.decrypt_many(burst, keys), seconds=args.seconds)
    figures["decrypt_many_aesgcm_100B_x16_per_s"] = round(per_burst * 16)
    figures["decrypt_many_aesgcm_100B_x16_ratio_to_ecdh"] = round(per_burst * 16 / ecdh, 3)

    payload = crypto.encrypt(os.urandom(100), keys.public_key, keys.auth_secret)
    ref = rate(
        lambda: http_ece.decrypt(
            payload.body, private_key=private, auth_secret=keys.auth_bytes, version="aes128gcm"
        ),
        seconds=args.seconds,
    )
    figures["http_ece_decrypt_aes128gcm_100B_per_s"] = round(ref)
    figures["http_ece_ratio_to_ecdh"] = round(ref / ecdh, 3)
    figures["target_ratio"] = 0.5
    emit("crypto", figures)


if __name__ == "__main__":
    main()
