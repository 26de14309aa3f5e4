"""A throw-away certificate authority so the emulator serves real TLS on loopback.

At start the emulator makes a CA and a server certificate for ``127.0.0.1``, ``::1``,
``localhost`` and the Google hosts a browser may be pointed at (``GOOGLE_HOSTS``); P-256
keys: fast to make, fast handshakes.  Clients get an ``ssl.SSLContext`` that trusts
only that CA, so certificate verification and host name checks stay on everywhere.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["GOOGLE_HOSTS", "LocalCA", "make_local_ca"]

_VALIDITY = _dt.timedelta(days=3650)


@dataclass(frozen=True)
class LocalCA:
    """Paths of the CA certificate and of the server certificate chain and key."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verification on, trusting only this CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pullkin emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


#: Google hosts the server certificate also names, so a browser whose resolver maps them
#: to the emulator (Chromium's ``--host-resolver-rules``) accepts it: the Firebase JS SDK
#: calls Installations and FCM registrations by these names.
GOOGLE_HOSTS = (
    "firebaseinstallations.googleapis.com",
    "fcmregistrations.googleapis.com",
    "fcm.googleapis.com",
)


def _server_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in ("127.0.0.1", "::1", *hosts):
        try:
            address = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            names.append(x509.DNSName(host))
        else:
            if address not in names:
                names.append(address)
    names += [x509.DNSName(host) for host in GOOGLE_HOSTS]
    return names


def _names_of(path: Path) -> set[x509.GeneralName]:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        return set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (ValueError, x509.ExtensionNotFound):
        return set()


def make_local_ca(directory: Path, hosts: tuple[str, ...] = ()) -> LocalCA:
    """Create (or reuse, if present) a CA and server certificate in *directory*.

    A server certificate that lacks a name it must carry now (a directory made by an
    older version) is replaced: signed by the same CA when its key was kept
    (``ca-key.pem``), else by a new CA.
    """
    ca = LocalCA(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    names = _server_names(hosts)
    paths = (ca.ca_path, ca.cert_path, ca.key_path)
    if all(path.exists() for path in paths) and set(names) <= _names_of(ca.cert_path):
        return ca
    directory.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)
    ca_key_path = directory / "ca-key.pem"
    if ca.ca_path.exists() and ca_key_path.exists():
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca_key = loaded
        ca_cert = x509.load_pem_x509_certificate(ca.ca_path.read_bytes())
    else:
        ca_key, ca_cert = _new_ca(now)
        _write_private(ca_key_path, _pem_key(ca_key))
    _write_server(ca, ca_key, ca_cert, names, now)
    return ca


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_ca(now: _dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pullkin emulator CA"))
        .issuer_name(_name("pullkin emulator CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    return ca_key, ca_cert


def _write_server(
    ca: LocalCA,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[x509.GeneralName],
    now: _dt.datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca.ca_path.write_bytes(ca_cert.public_bytes(pem))
    ca.cert_path.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(ca.key_path, _pem_key(key))
