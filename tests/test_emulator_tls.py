"""The emulator's certificate: it names the Google hosts a browser is pointed at, and a
state directory holding an older certificate without them gets a new one."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pullkin.emulator import Emulator
from pullkin.emulator._tls import GOOGLE_HOSTS, make_local_ca

pytestmark = pytest.mark.anyio

FIREBASE_HOSTS = (
    "firebaseinstallations.googleapis.com",
    "fcmregistrations.googleapis.com",
    "fcm.googleapis.com",
)


def dns_names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName))


def write_old_style_ca(directory: Path) -> bytes:
    """What an older emulator left in a state directory: CA and a server certificate for
    localhost and loopback only, and no CA key.  Returns the CA certificate."""
    directory.mkdir(parents=True)
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    server = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(2)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=9))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(server.public_bytes(pem))
    (directory / "server-key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca.public_bytes(pem)


async def handshake_as(emu: Emulator, host: str) -> None:
    """A verified TLS handshake with the emulator's HTTPS port, checking *host*'s name
    (what a browser does when its resolver maps *host* to 127.0.0.1)."""
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    port = int(emu.url.rsplit(":", 1)[1])
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host)
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("host", FIREBASE_HOSTS)
async def test_the_server_certificate_is_valid_for_the_firebase_hosts(host: str) -> None:
    assert set(FIREBASE_HOSTS) == set(GOOGLE_HOSTS)
    async with Emulator() as emu:
        await handshake_as(emu, host)
        with pytest.raises(ssl.SSLCertVerificationError):
            await handshake_as(emu, "www.googleapis.com")


def test_a_complete_directory_is_reused_as_it_is(tmp_path: Path) -> None:
    first = make_local_ca(tmp_path)
    before = [p.read_bytes() for p in (first.ca_path, first.cert_path, first.key_path)]
    again = make_local_ca(tmp_path)
    assert [p.read_bytes() for p in (again.ca_path, again.cert_path, again.key_path)] == before


def test_a_certificate_without_a_needed_name_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    first = make_local_ca(tmp_path)
    ca_before = first.ca_path.read_bytes()
    again = make_local_ca(tmp_path, ("pullkin.test",))
    assert "pullkin.test" in dns_names(again.cert_path)
    assert again.ca_path.read_bytes() == ca_before  # clients trusting the CA keep working
    issued = x509.load_pem_x509_certificate(again.cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_before)
    issued.verify_directly_issued_by(ca)


async def test_a_state_dir_from_an_older_version_gets_a_certificate_with_the_names(
    tmp_path: Path,
) -> None:
    old_ca = write_old_style_ca(tmp_path / "tls")
    async with Emulator(state_dir=tmp_path) as emu:
        assert set(FIREBASE_HOSTS) <= dns_names(tmp_path / "tls" / "server.pem")
        assert emu.ca_path.read_bytes() != old_ca  # no key to sign with: a new CA
        await handshake_as(emu, "firebaseinstallations.googleapis.com")
    async with Emulator(state_dir=tmp_path) as emu:  # and the next start keeps it
        assert (tmp_path / "tls" / "ca-key.pem").stat().st_mode & 0o077 == 0
        assert set(FIREBASE_HOSTS) <= dns_names(tmp_path / "tls" / "server.pem")
