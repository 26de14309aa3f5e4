"""``Emulator``: the whole Google side (and the vendor fakes) on loopback, in-process.

``async with Emulator() as emu:`` makes a local CA, then serves one HTTPS port
(HTTP/2 and HTTP/1.1 by ALPN, ``_http_front``) with every HTTP endpoint (check-in,
register3, Installations, FCM registrations, OAuth, FCM v1, IID, Web Push, vendor
fakes) and one TLS port with the MCS server.
``emu.endpoints`` points a pullkin client at it with verification on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pullkin._b64 import b64url_encode
from pullkin._closing import AsyncClosing
from pullkin.emulator import _tls, delivery, persist, v1_delivery
from pullkin.emulator._control import HarnessControl, tls_hook
from pullkin.emulator._http_front import AlpnServer, h2_available
from pullkin.emulator.faults import FaultPlan
from pullkin.emulator.mailbox import Delivery, Mailboxes
from pullkin.emulator.state import Device, EmulatorState
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError
from pullkin.models import FirebaseConfig

__all__ = ["Emulator", "VapidKeys"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VapidKeys:
    """An application server key pair for Web Push tests (base64url, no padding)."""

    private_key: str
    public_key: str

    @property
    def private_pem(self) -> str:
        scalar = int.from_bytes(_b64decode(self.private_key), "big")
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def _b64decode(text: str) -> bytes:
    from pullkin._b64 import b64decode_any

    return b64decode_any(text)


def _new_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(b64url_encode(scalar), b64url_encode(public))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Emulator(HarnessControl, AsyncClosing):
    """The emulated FCM backend.  See the module docstring and ``README.md``; the
    harness methods (``inject``, ``wait_delivered``, ``drain``, ``connected``,
    ``refuse_mcs``) are documented in ``_control``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        http_port: int = 0,
        mcs_port: int = 0,
        *,
        state_dir: str | Path | None = None,
        allow_remote: bool = False,
        seed: int = 0,
        project_id: str = "pullkin-emulator",
        sender_id: str = "424242424242",
        api_key: str = "AIzaSyPullkinEmulatorLocalKey0000000000",
    ) -> None:
        if not _is_loopback(host) and not allow_remote:
            raise ConfigError(
                f"refusing to serve the emulator on non-loopback host {host!r}: "
                "pass allow_remote=True if you really want it reachable from the network"
            )
        self.host = host
        self._http_port = http_port
        self._mcs_port = mcs_port
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.faults = FaultPlan(seed)
        self.state = EmulatorState()
        self.mailboxes = Mailboxes()
        #: Write-through persistence; a no-op unless ``state_dir`` is set.
        self.store: persist.Store = persist.NullStore()
        self._sqlite: persist.SqliteStore | None = None
        self.firebase_config = FirebaseConfig(
            api_key=api_key,
            project_id=project_id,
            app_id=f"1:{sender_id}:web:{secrets.token_hex(8)}",
            sender_id=sender_id,
        )
        self.android_config = FirebaseConfig(
            api_key=api_key,
            project_id=project_id,
            app_id=f"1:{sender_id}:android:{secrets.token_hex(8)}",
            sender_id=sender_id,
            android_package="com.example.pullkin",
            android_cert=secrets.token_hex(20),
        )
        self.vapid_keys = _new_vapid_keys()
        self._service_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._service_key_id = secrets.token_hex(20)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ca: _tls.LocalCA | None = None
        self._runner: web.AppRunner | None = None
        self._http_url = ""
        self._endpoints: Endpoints | None = None
        self.inboxes: dict[str, list[dict[str, Any]]] = {}
        #: Credentials of each vendor fake (filled by ``vendors.<name>.add_routes``).
        self.vendor_credentials: dict[str, dict[str, str]] = {}
        self.mcs: Any = None
        #: FCM v1 sends accepted over HTTP in this turn of the event loop (internal).
        self.v1_batch = v1_delivery.DeliveryBatch(self)
        #: Cached ECDH agreements with registrations' keys (internal).
        self.key_agreements = delivery.KeyAgreements()
        self._other_ca: _tls.LocalCA | None = None
        self._front: AlpnServer | None = None
        #: Marks the requests the HTTP/2 front forwards to the app (internal).
        self.bridge_secret = secrets.token_hex(16)
        self._tls_dir = Path()
        self._init_control()

    # --- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def start(self) -> None:
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pullkin-emulator-")
            directory = Path(self._tmp.name)
        else:
            directory = self.state_dir
            await asyncio.to_thread(self._load_state, directory / persist.DB_NAME)
        self._ca = await asyncio.to_thread(_tls.make_local_ca, directory / "tls", (self.host,))
        self._tls_dir = directory
        self.closing.clear()
        server_ssl = self._ca.server_context()
        server_ssl.sni_callback = tls_hook(self, "http", self._another_ca)
        # Bind first, so the routes (and the vendor fakes' published URLs) know the port.
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._http_port))
        self._http_url = f"https://{self._url_host()}:{sock.getsockname()[1]}"
        app = self._build_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._front = self._make_front(self._runner.server, server_ssl)
        await self._front.start(sock, server_ssl)
        from pullkin.emulator.mcs_server import McsServer

        mcs_ssl = self._ca.server_context()
        mcs_ssl.sni_callback = tls_hook(self, "mcs", self._another_ca)
        self.mcs = McsServer(self, mcs_ssl)
        await self.mcs.start(self.host, self._mcs_port)
        self._endpoints = self._make_endpoints()
        log.info("emulator serving HTTP on %s and MCS on port %d", self._http_url, self.mcs.port)

    def _make_front(self, http1: Any, context: ssl.SSLContext) -> AlpnServer:
        """The HTTPS listener: HTTP/2 and HTTP/1.1 by ALPN (HTTP/1.1 only without h2)."""
        if not h2_available():
            AlpnServer.offer(context, with_h2=False)
            log.info("emulator: HTTP/1.1 only (HTTP/2 needs: pip install 'pullkin[emulator]')")
            return AlpnServer(http1, None)
        from pullkin.emulator._h2 import H2Server

        AlpnServer.offer(context, with_h2=True)
        front = AlpnServer(http1, lambda: H2Server(http1, self.bridge_secret, front.forget))
        return front

    def _another_ca(self) -> _tls.LocalCA:
        """A second CA (made on first use) whose certificate no client trusts."""
        if self._other_ca is None:
            self._other_ca = _tls.make_local_ca(self._tls_dir / "other-ca", (self.host,))
        return self._other_ca

    async def aclose(self) -> None:
        await self._end_outages()
        if self.mcs is not None:
            await self.mcs.aclose()
            self.mcs = None
        if self._front is not None:
            self._front.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._front is not None:
            await self._front.wait_closed()
            self._front = None
        if self._sqlite is not None:
            self.mailboxes.listener = None
            self._sqlite.close()
            self._sqlite = None
            self.store = persist.NullStore()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # --- persistence (--state-dir) --------------------------------------------------

    def _load_state(self, path: Path) -> None:
        """Open the state database: adopt its identity and state, or record ours."""
        store = persist.SqliteStore(path)
        try:
            identity = store.identity()
            if identity is None:
                store.put_identity(self._identity())
            else:
                self._apply_identity(identity)
                self.state = store.load_state()
                for android_id, items in store.load_pending().items():
                    self.mailboxes.restore(android_id, items)
        except BaseException:
            store.close()
            raise
        self._sqlite = store
        self.store = store
        self.mailboxes.listener = store  # queued and removed messages, written through

    def _identity(self) -> dict[str, str]:
        pem = self._service_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "firebase_config": json.dumps(self.firebase_config.to_dict()),
            "android_config": json.dumps(self.android_config.to_dict()),
            "vapid_private_key": self.vapid_keys.private_key,
            "vapid_public_key": self.vapid_keys.public_key,
            "service_key_pem": pem,
            "service_key_id": self._service_key_id,
        }

    def _apply_identity(self, identity: dict[str, str]) -> None:
        try:
            self.firebase_config = FirebaseConfig.from_dict(json.loads(identity["firebase_config"]))
            self.android_config = FirebaseConfig.from_dict(json.loads(identity["android_config"]))
            self.vapid_keys = VapidKeys(identity["vapid_private_key"], identity["vapid_public_key"])
            key = serialization.load_pem_private_key(identity["service_key_pem"].encode(), None)
            self._service_key_id = identity["service_key_id"]
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"the emulator state in {self.state_dir} has an unreadable identity ({exc}); "
                "delete the directory or use another --state-dir"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"the service-account key in {self.state_dir} is not an RSA key")
        self._service_key = key

    # --- introspection ----------------------------------------------------------------

    def devices(self) -> list[Device]:
        """Every checked-in device, oldest first."""
        return sorted(self.state.devices.values(), key=lambda device: device.created_at)

    def deliveries(self) -> list[Delivery]:
        """Every write of a message to a device's MCS socket, oldest first."""
        return self.mailboxes.deliveries

    async def restart_mcs(self) -> None:
        """Drop every MCS connection and listen again on the same port (fault knob)."""
        assert self.mcs is not None, "emulator is not running"
        await self.mcs.restart()

    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # --- the HTTP app ---------------------------------------------------------------

    def _build_app(self) -> web.Application:
        from pullkin.emulator._http_faults import fault_middleware
        from pullkin.emulator.routes_cors import cors_middleware

        middlewares = [cors_middleware, fault_middleware(self)]
        app = web.Application(middlewares=middlewares, client_max_size=1 << 20)
        from pullkin.emulator import google_routes

        google_routes.add_routes(app, self)
        from pullkin.emulator.vendors import add_vendor_routes

        add_vendor_routes(app, self)
        return app

    # --- what clients need -------------------------------------------------------------

    def _make_endpoints(self) -> Endpoints:
        assert self._ca is not None
        assert self.mcs is not None
        base = self._http_url
        return Endpoints(
            checkin=f"{base}/checkin",
            register=f"{base}/c2dm/register3",
            installations=base,
            registrations=base,
            oauth_token=f"{base}/token",
            fcm_send=f"{base}/v1/projects/{{project_id}}/messages:send",
            iid=base,
            webpush=f"{base}/fcm/send/{{token}}",
            mcs_host=self.host,
            mcs_port=self.mcs.port,
            mcs_fallback_port=None,
            ssl_context=self._ca.client_context(),
        )

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise ConfigError("the emulator is not running: use 'async with Emulator() as emu'")
        return self._endpoints

    def chromium_args(self) -> list[str]:
        """Chromium switches that make its push service this emulator (check-in,
        register3, MCS); the browser must also trust ``ca_path`` — see
        ``pullkin.emulator.chromium``."""
        from pullkin.emulator.chromium import emulator_args

        return emulator_args(self)

    @property
    def url(self) -> str:
        """Base URL of the HTTP side (vendor fakes live under it too)."""
        return self._http_url

    @property
    def ca_path(self) -> Path:
        if self._ca is None:
            raise ConfigError("the emulator is not running")
        return self._ca.ca_path

    @property
    def service_account_info(self) -> dict[str, str]:
        """A service-account JSON that ``firebase_admin.credentials.Certificate`` accepts."""
        pem = self._service_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        project = self.firebase_config.project_id
        email = f"firebase-adminsdk-emu@{project}.iam.gserviceaccount.com"
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": self._service_key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": f"{self._http_url}/o/oauth2/auth",
            "token_uri": f"{self._http_url}/token",
            "auth_provider_x509_cert_url": f"{self._http_url}/oauth2/v1/certs",
            "client_x509_cert_url": f"{self._http_url}/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    @property
    def http2(self) -> bool:
        """Whether the HTTPS port offers HTTP/2 (needs the ``pullkin[emulator]`` extra)."""
        return self._front is not None and self._front.h2

    @property
    def http2_connections(self) -> int:
        """How many HTTP/2 connections clients have opened so far."""
        return self._front.h2_connections if self._front is not None else 0

    @property
    def service_public_key(self) -> rsa.RSAPublicKey:
        return self._service_key.public_key()

    def vendor(self, name: str) -> dict[str, str]:
        """Credentials and base URLs of a vendor fake (``"hms"``, ``"azure"``, …)."""
        try:
            return self.vendor_credentials[name]
        except KeyError:
            raise ConfigError(f"no vendor fake named {name!r}") from None

    def inbox(self, vendor: str) -> list[dict[str, Any]]:
        """What a vendor fake accepted, oldest first (``"hms"``, ``"baidu"``, …)."""
        return self.inboxes.setdefault(vendor, [])

    def config(self) -> dict[str, Any]:
        """The JSON-ready description ``pullkin emulator`` prints."""
        return {
            "endpoints": self.endpoints.to_dict(),
            "ca_path": str(self.ca_path),
            "firebase_config": self.firebase_config.to_dict(),
            "android_config": self.android_config.to_dict(),
            "vapid_keys": {
                "public_key": self.vapid_keys.public_key,
                "private_key": self.vapid_keys.private_key,
            },
            "vendors": self.vendor_credentials,
        }

    # --- sending ----------------------------------------------------------------

    async def send(
        self,
        token: str,
        notification: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        **message: Any,
    ) -> str:
        """Send like FCM HTTP v1 (same validation and delivery); returns the message name.

        Raises the ``SendError`` subclass a client of the real service would get
        (``UnregisteredError`` for an unknown token, ``InvalidArgumentError`` for a bad
        message, …) with the FCM error code in ``code``.
        """
        from pullkin.emulator import fcm

        body: dict[str, Any] = {"token": token, **message}
        if notification is not None:
            body["notification"] = notification
        if data is not None:
            body["data"] = data
        try:
            return fcm.send_message(self, self.firebase_config.project_id, body)
        except fcm.GoogleApiError as exc:
            raise exc.to_send_error() from None

    def __repr__(self) -> str:
        state = "running" if self._runner is not None else "stopped"
        return f"<Emulator {state} http={self._http_url or '-'}>"
