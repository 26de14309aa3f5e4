"""Register an app with FCM and print its FCM token (--subscription: its Web Push
subscription; --json: all its credentials).

The credentials are kept in FILE (created 0600).  When FILE already holds
credentials for the sender id they are reused — refreshed if due — so the token
stays the same; otherwise the app is registered: the web flow by default, the
Android-app flow with --android-package/--android-cert.

--emulator takes the JSON that `pullkin emulator` prints, saved to a file: its
endpoints and CA are used, any of --sender-id/--app-id/--api-key/--project-id left
out comes from its Firebase config (its Android config with --android-package), and
the web flow registers with the emulator's VAPID key (unless --vapid-key), so
`pullkin send webpush --emulator` can push to the subscription.

examples:
  pullkin register --sender-id 1234567890 --app-id 1:1234567890:web:abc \\
      --api-key AIza... --project-id my-project --credentials creds.json
  pullkin register --emulator emu.json --credentials creds.json
  pullkin register --emulator emu.json --credentials creds.json --subscription > sub.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from pullkin.client import Pullkin
from pullkin.commands._common import load_emulator_config
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError
from pullkin.models import AppCredentials, FirebaseConfig
from pullkin.store import CredentialStore

__all__ = ["configure", "run"]

_REQUIRED = ("sender_id", "app_id", "api_key", "project_id")


def configure(parser: argparse.ArgumentParser) -> None:
    app = parser.add_argument_group("Firebase app (the console's config)")
    app.add_argument("--sender-id", help="messagingSenderId (the project number)")
    app.add_argument("--app-id", help="Firebase app id, 1:<sender id>:web:<hex> or :android:")
    app.add_argument("--api-key", help="Firebase API key (AIza...)")
    app.add_argument("--project-id", help="Firebase project id")
    app.add_argument(
        "--vapid-key",
        help="application server key, base64url (default: the emulator's with --emulator, "
        "else Firebase's)",
    )
    app.add_argument("--android-package", help="register as this Android app (Android flow)")
    app.add_argument("--android-cert", help="SHA-1 of the Android signing certificate (hex)")
    parser.add_argument("--credentials", metavar="FILE", help="credentials file (required)")
    parser.add_argument("--emulator", metavar="CONFIG.json", help="use a running pullkin emulator")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the credentials as JSON")
    output.add_argument(
        "--subscription",
        action="store_true",
        help='print the Web Push subscription, {"endpoint", "keys": {"p256dh", "auth"}}',
    )


def run(args: argparse.Namespace) -> int:
    if not args.credentials:
        raise ConfigError("--credentials FILE is required")
    endpoints, emulator = (
        load_emulator_config(args.emulator) if args.emulator else (Endpoints(), {})
    )
    config = _firebase_config(args, emulator)
    store = CredentialStore.open(args.credentials)
    _check_same_app(store, config)
    credentials = asyncio.run(_obtain(config, endpoints, store))
    if args.json:
        print(json.dumps(credentials.to_dict(), indent=2))
    elif args.subscription:
        print(json.dumps(subscription(credentials, endpoints)))
    else:
        print(credentials.fcm.token)
    sys.stdout.flush()
    return 0


def subscription(credentials: AppCredentials, endpoints: Endpoints) -> dict[str, Any]:
    """The Web Push subscription (``PushSubscription.toJSON()``) of a web registration."""
    if credentials.keys is None:
        raise ConfigError(
            "an Android-app registration has no Web Push subscription: send to its FCM "
            "token with `pullkin send fcm --token`"
        )
    return {
        "endpoint": endpoints.webpush_url(credentials.gcm.token),
        "keys": {"p256dh": credentials.keys.public_key, "auth": credentials.keys.auth_secret},
    }


def _firebase_config(args: argparse.Namespace, emulator: dict[str, Any]) -> FirebaseConfig:
    key = "android_config" if args.android_package else "firebase_config"
    defaults = emulator.get(key) or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"emulator config: '{key}' must be an object")
    values: dict[str, str] = {}
    for name in _REQUIRED:
        value = getattr(args, name) or defaults.get(name)
        if value:
            values[name] = str(value)
    missing = [f"--{name.replace('_', '-')}" for name in _REQUIRED if name not in values]
    if missing:
        hint = "" if emulator else " (or pass --emulator CONFIG.json)"
        raise ConfigError(f"missing {', '.join(missing)}{hint}")
    if args.android_cert and not args.android_package:
        raise ConfigError("--android-cert needs --android-package")
    android_cert = args.android_cert
    if args.android_package and not android_cert:
        android_cert = defaults.get("android_cert")
    vapid_key = args.vapid_key
    if vapid_key is None and not args.android_package:
        vapid_key = (emulator.get("vapid_keys") or {}).get("public_key")
    return FirebaseConfig(
        api_key=values["api_key"],
        project_id=values["project_id"],
        app_id=values["app_id"],
        sender_id=values["sender_id"],
        vapid_key=vapid_key,
        android_package=args.android_package,
        android_cert=android_cert,
    )


def _check_same_app(store: CredentialStore, config: FirebaseConfig) -> None:
    stored = store.get(config.sender_id)
    differ = stored.config.differences(config) if stored and stored.config else []
    if differ:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in differ)
        raise ConfigError(
            f"{store.path} already holds credentials of sender id {config.sender_id} "
            f"registered with another {flags}: use another --credentials file, or the "
            "same flags as when it was registered"
        )


async def _obtain(
    config: FirebaseConfig, endpoints: Endpoints, store: CredentialStore
) -> AppCredentials:
    """The stored credentials (refreshed when due), or a new registration; the file is
    written only when something was registered or refreshed."""
    client = Pullkin(endpoints, store=store)
    try:
        return await client.register_app(config)
    finally:
        await client.aclose()  # the HTTP session; nothing runs, nothing else to save
