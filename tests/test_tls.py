"""TLS (acceptance 4): a self-signed certificate made here, HTTPS verified against it, plain
HTTP to the TLS port refused; plain HTTP off loopback refused unless explicitly opted in."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from privet.errors import InvalidInput
from privet.server import ServeOptions, build_server
from privet.server._serve import check_transport
from tests.conftest import invoke, run_privet
from tests.server_support import ServerProcess, bearer, free_port, governed_root


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privet test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, people):
    with governed_root(tmp_path_factory, "tls", people) as (root, governed):
        cert, key = self_signed(root)
        flight_port = free_port()
        server = ServerProcess(
            root / "project",
            "--tls-cert", str(cert), "--tls-key", str(key), "--flight-port", str(flight_port),
            scheme="https",
        )  # fmt: skip
        server.start(verify=trusting(cert))
        server.flight_port = flight_port  # type: ignore[attr-defined]
        try:
            yield server, governed, cert
        finally:
            server.stop()


def test_arrow_over_https_and_flight_over_tls_with_the_certificate(tls_server):
    """The Arrow stream and Arrow Flight use the server's certificate; a plain gRPC client
    or one that does not trust the certificate gets nothing."""
    import privet

    server, governed, cert = tls_server
    token = governed.tokens["bob"]
    flight_url = f"grpc+tls://127.0.0.1:{server.flight_port}"
    for url in (server.url, flight_url):
        with privet.connect(url, token=token, verify=str(cert)) as remote:
            assert remote.read("people", purpose="analytics").height == 300
    with pytest.raises(privet.PrivetError):  # the system CAs do not know this certificate
        privet.connect(flight_url, token=token, timeout=10).read("people", purpose="analytics")
    plain = f"grpc://127.0.0.1:{server.flight_port}"
    with pytest.raises(privet.PrivetError):  # plain gRPC to the TLS port: no answer
        privet.connect(plain, token=token, timeout=10).read("people", purpose="analytics")


def test_https_with_the_certificate_works_and_plain_http_is_refused(tls_server):
    server, governed, cert = tls_server
    headers = bearer(governed.tokens["bob"])
    response = httpx.get(f"{server.url}/v1/me", headers=headers, verify=trusting(cert))
    assert response.status_code == 200 and response.json()["name"] == "bob"
    assert response.headers["strict-transport-security"].startswith("max-age=")
    rows = httpx.get(
        f"{server.url}/v1/datasets/people/rows",
        params={"purpose": "analytics"},
        headers=headers,
        verify=trusting(cert),
    )
    assert rows.status_code == 200 and rows.content[:4] == b"PAR1"
    # Plain HTTP to the TLS port: no HTTP answer at all, so no token or data in clear.
    plain = f"http://127.0.0.1:{server.port}/v1/me"
    with pytest.raises(httpx.HTTPError):
        httpx.get(plain, headers=headers, timeout=5)
    # And a client that does not trust the certificate refuses to talk.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/v1/me", headers=headers)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_refuses_old_protocol_versions(tls_server):
    server, _, cert = tls_server
    context = ssl.create_default_context(cafile=str(cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/openapi.json", verify=context)


def test_cli_client_mode_over_https(tls_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server, governed, cert = tls_server
    monkeypatch.setenv("PRIVET_SERVER", server.url)
    monkeypatch.setenv("PRIVET_TOKEN", governed.tokens["bob"])
    monkeypatch.setenv("PRIVET_CA_CERT", str(cert))
    listing = invoke("datasets", "--json")
    assert listing.exit_code == 0, listing.stderr
    assert [d["name"] for d in json.loads(listing.stdout)] == ["people"]
    out = tmp_path / "export.csv"
    export = invoke("export", "people", "-o", out, "--purpose", "analytics")
    assert export.exit_code == 0, export.stderr
    assert out.read_text().count("\n") == 301
    monkeypatch.delenv("PRIVET_CA_CERT")  # the system CAs do not vouch for this certificate
    untrusted = invoke("datasets")
    assert untrusted.exit_code == 1 and "privet: error:" in untrusted.stderr


def test_plain_http_off_loopback_is_refused_without_the_opt_in(project: Path):
    from privet import Workspace

    Workspace.init(project).close()
    refused = run_privet("serve", "-w", project, "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 1
    assert "refusing to serve plain HTTP" in refused.stderr and "Traceback" not in refused.stderr
    with pytest.raises(InvalidInput, match="both a TLS certificate and its key"):
        check_transport(ServeOptions(tls_cert=project / "cert.pem"))
    junk = project / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(InvalidInput, match="could not be loaded"):
        build_server(project, ServeOptions(tls_cert=junk, tls_key=junk))


def test_plain_http_off_loopback_with_the_opt_in_warns(project: Path):
    from privet import Workspace

    Workspace.init(project).close()
    server = ServerProcess(project, "--host", "0.0.0.0", "--insecure-plain-http")
    server.start()
    try:
        time.sleep(0.2)
        assert "warning: serving plain HTTP on non-loopback address 0.0.0.0" in server.log()
    finally:
        server.stop()
