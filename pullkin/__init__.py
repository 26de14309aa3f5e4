"""pullkin: receive FCM/GCM pushes like Chrome, send through six vendors, test offline.

Receiving: ``Pullkin`` (handlers, apps, sessions) on top of ``PullkinCore``
(registration).  Sending: ``pullkin.senders``.  Emulating: ``pullkin.emulator``.
Errors: ``pullkin.errors``.  See ``README.md`` for a tour.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pullkin.client import Pullkin
    from pullkin.core import PullkinCore, RegistrationTiming
    from pullkin.endpoints import DEFAULT_VAPID_KEY, Endpoints
    from pullkin.models import (
        AppCredentials,
        AppCredentialsFcm,
        AppCredentialsGcm,
        AppCredentialsKeys,
        FirebaseConfig,
        FirebaseInstallation,
        Message,
        Notification,
    )
    from pullkin.proto.mcs_pb2 import DataMessageStanza
    from pullkin.receiver import SessionConfig

# Imported on first use (PEP 562): ``import pullkin.errors`` or ``pullkin --help`` do
# not pay for aiohttp, protobuf and cryptography.
_LAZY = {
    "Pullkin": "pullkin.client",
    "PullkinCore": "pullkin.core",
    "RegistrationTiming": "pullkin.core",
    "SessionConfig": "pullkin.receiver",
    "DEFAULT_VAPID_KEY": "pullkin.endpoints",
    "Endpoints": "pullkin.endpoints",
    **dict.fromkeys(
        ("AppCredentials", "AppCredentialsFcm", "AppCredentialsGcm", "AppCredentialsKeys",
         "FirebaseConfig", "FirebaseInstallation", "Message", "Notification"),
        "pullkin.models",
    ),
    "DataMessageStanza": "pullkin.proto.mcs_pb2",
}  # fmt: skip


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pullkin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_VAPID_KEY",
    "AppCredentials",
    "AppCredentialsFcm",
    "AppCredentialsGcm",
    "AppCredentialsKeys",
    "DataMessageStanza",
    "Endpoints",
    "FirebaseConfig",
    "FirebaseInstallation",
    "Message",
    "Notification",
    "Pullkin",
    "PullkinCore",
    "RegistrationTiming",
    "SessionConfig",
    "__version__",
]
