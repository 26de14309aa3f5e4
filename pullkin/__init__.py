"""pullkin: receive FCM/GCM pushes like Chrome, send through six vendors, test offline.

The public names are re-exported here; see ``README.md`` for a tour and
``pullkin.errors`` for the exception tree.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
    # configuration
    "DEFAULT_VAPID_KEY",
    # credentials and messages
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
    # registration
    "PullkinCore",
    "__version__",
]
