"""pullkin: receive FCM/GCM pushes like Chrome, send through six vendors, test offline.

Receiving: ``Pullkin`` (handlers, apps, sessions) on top of ``PullkinCore``
(registration).  Sending: ``pullkin.senders``.  Emulating: ``pullkin.emulator``.
Errors: ``pullkin.errors``.  See ``README.md`` for a tour.
"""

from __future__ import annotations

__version__ = "0.1.0"

from pullkin.client import Pullkin
from pullkin.core import PullkinCore
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
    "__version__",
]
