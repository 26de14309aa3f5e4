"""Where pullkin talks to: every Google URL, the MCS host and port, and the TLS trust.

``Endpoints()`` is Google's real service.  The emulator hands out an ``Endpoints``
pointing at 127.0.0.1 with an SSL context that trusts its own CA, so verification
stays on everywhere.  Vendor base URLs (HMS, Baidu, …) live with each sender.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pullkin.errors import ConfigError

__all__ = ["CHROME_VERSION", "DEFAULT_VAPID_KEY", "Endpoints", "check_ssl_context"]

log = logging.getLogger(__name__)

#: The Firebase/Chrome default application server key (register.md A.2).
DEFAULT_VAPID_KEY = (
    "BDOU99-h67HcA6JeFXHbSNMu7e2yNNu3RzoMj8TM4W88jITfq7ZmPvIM1Iv-4_l2LxQcYwhqby2xGpWwzjfAnG4"
)

#: The Chrome pullkin claims to be (check-in ``chrome_version``, MCS login
#: ``chrome-<version>``, register3 ``gmsv`` = its major): a current stable release.
#: Override per device with ``AppCredentialsGcm(chrome_version=...)`` or for new
#: registrations with ``PullkinCore(chrome_version=...)``.
CHROME_VERSION = "156.0.8078.114"

_URL_FIELDS = (
    "checkin",
    "register",
    "installations",
    "registrations",
    "oauth_token",
    "fcm_send",
    "iid",
    "webpush",
)


@dataclass(frozen=True)
class Endpoints:
    """Base URLs and MCS address of the Google side.

    ``installations`` and ``registrations`` are the API roots; the project path
    (``/v1/projects/{project_id}/…``) is appended by the request builders.
    ``fcm_send`` is a template with ``{project_id}``, ``webpush`` one with ``{token}``.
    ``mcs_fallback_port`` is tried when ``mcs_port`` cannot be reached (Chrome: 443);
    ``None`` disables the fallback.  ``ssl_context`` ``None`` means the system trust
    store with full verification; a context that does not verify (``CERT_NONE`` or
    ``check_hostname=False``) is refused unless ``insecure=True`` (then logged).
    """

    checkin: str = "https://android.clients.google.com/checkin"
    register: str = "https://android.clients.google.com/c2dm/register3"
    installations: str = "https://firebaseinstallations.googleapis.com"
    registrations: str = "https://fcmregistrations.googleapis.com"
    oauth_token: str = "https://oauth2.googleapis.com/token"
    fcm_send: str = "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"
    iid: str = "https://iid.googleapis.com"
    webpush: str = "https://fcm.googleapis.com/fcm/send/{token}"
    mcs_host: str = "mtalk.google.com"
    mcs_port: int = 5228
    mcs_fallback_port: int | None = 443
    ssl_context: ssl.SSLContext | None = dataclasses.field(default=None, compare=False)
    insecure: bool = False

    def __post_init__(self) -> None:
        check_ssl_context(self.ssl_context, insecure=self.insecure, owner="Endpoints.ssl_context")
        for name in _URL_FIELDS:
            value = getattr(self, name)
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    f"Endpoints.{name} must be an absolute http(s) URL, got {value!r}"
                )
        if "{project_id}" not in self.fcm_send:
            raise ConfigError("Endpoints.fcm_send must contain the '{project_id}' placeholder")
        if "{token}" not in self.webpush:
            raise ConfigError("Endpoints.webpush must contain the '{token}' placeholder")
        for name in ("mcs_port", "mcs_fallback_port"):
            port = getattr(self, name)
            if port is not None and not 0 < port < 65536:
                raise ConfigError(f"Endpoints.{name} must be a TCP port 1..65535, got {port!r}")
        if not self.mcs_host:
            raise ConfigError("Endpoints.mcs_host must not be empty")

    def fcm_send_url(self, project_id: str) -> str:
        """The FCM HTTP v1 send URL of *project_id*."""
        return self.fcm_send.format(project_id=project_id)

    def webpush_url(self, token: str) -> str:
        """The RFC 8030 push resource of a GCM token (the Web Push endpoint)."""
        return self.webpush.format(token=token)

    def webpush_prefix(self) -> str:
        """The endpoint prefix that precedes a GCM token."""
        return self.webpush.split("{token}", 1)[0]

    def replace(self, **changes: Any) -> Endpoints:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the SSL context, which is not serialisable, nor
        ``insecure``, which goes with it)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("ssl_context", "insecure")
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, ca_path: str | None = None) -> Endpoints:
        """Build from :meth:`to_dict` output; *ca_path* adds a CA file to trust."""
        known = {f.name for f in dataclasses.fields(cls)} - {"ssl_context"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown endpoint field(s): {', '.join(sorted(unknown))}")
        context = ssl.create_default_context(cafile=ca_path) if ca_path else None
        return cls(**data, ssl_context=context)


_warned: set[int] = set()


def check_ssl_context(context: ssl.SSLContext | None, *, insecure: bool, owner: str) -> None:
    """Refuse an SSL context that does not verify the server, unless *insecure*.

    Verification is never turned off by accident: ``ssl._create_unverified_context()``
    (or ``check_hostname=False``) is a ``ConfigError`` naming *owner*; with
    ``insecure=True`` it is accepted and a warning is logged (once per context).
    """
    if context is None:
        return
    if context.verify_mode != ssl.CERT_NONE and context.check_hostname:
        return
    what = (
        "verify_mode=CERT_NONE" if context.verify_mode == ssl.CERT_NONE else "check_hostname=False"
    )
    if not insecure:
        raise ConfigError(
            f"{owner} does not verify the server's certificate ({what}); pullkin keeps TLS "
            "verification on: trust your CA instead (ssl.create_default_context(cafile=...)), "
            "or pass insecure=True if you really mean to talk to anyone"
        )
    if id(context) not in _warned:
        _warned.add(id(context))
        log.warning(
            "%s does not verify the server's certificate (%s) and insecure=True: anyone on "
            "the network path can read and change this traffic",
            owner, what,
        )  # fmt: skip
