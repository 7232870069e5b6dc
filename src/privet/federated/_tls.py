"""Certificates for a federation on loopback: a private CA and one server certificate it signs.

The SuperLink (and each SuperNode's local Runtime API) serves TLS with the server
certificate; a SuperNode trusts only the CA given to it (``--root-certificates``), so a
SuperNode that does not hold this CA cannot open the Fleet connection. The CA's key signs
the server certificate in memory and is never written: nobody can issue a second
certificate that the parties would trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from privet.errors import InvalidInput

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
# Loopback only: the names a SuperNode or the flwr CLI dials to reach a local API.
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Certificates:
    """The files of one federation's TLS: the CA certificate parties trust, the server's pair."""

    folder: Path
    ca: Path
    cert: Path
    key: Path


def make_certificates(
    folder: str | Path, *, now: datetime.datetime | None = None, name: str = "privet federation"
) -> Certificates:
    """Write a fresh CA certificate and a loopback server certificate it signs into ``folder``.

    ``folder`` is created (mode 0700) if missing and must not already hold the files; the
    server's private key is written with mode 0600. The CA's private key is never written.
    """
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = Certificates(folder, folder / CA_FILE, folder / CERT_FILE, folder / KEY_FILE)
    for path in (paths.ca, paths.cert, paths.key):
        if path.exists():
            raise InvalidInput(f"{path.name} already exists in the certificates folder")
    now = now or datetime.datetime.now(datetime.UTC)
    # A minute of slack: the processes that check the certificate read the same clock.
    start, end = now - datetime.timedelta(minutes=1), now + VALIDITY

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOOPBACK_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in LOOPBACK_ADDRESSES]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    _write(paths.ca, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths.cert, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(paths.key, key_pem, 0o600)
    return paths


def _write(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL with the mode at creation: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
