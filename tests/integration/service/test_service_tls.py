"""`chipfolio serve --tls-cert --tls-key`: the API over HTTPS, with a certificate made here."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
from pathlib import Path

import httpx
import pytest
from service_fixtures import ADMIN, start_server

pytest.importorskip("cryptography")

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.slow


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (cert file, key file)."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_serve_speaks_https_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = start_server(
        f"sqlite:///{tmp_path / 'tls.db'}",
        tmp_path,
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--processes",
        "0",
        tls_ca=cert,
    )
    try:
        assert server.url.startswith("https://")
        auth = {"Authorization": f"Bearer {ADMIN}"}
        trust = ssl.create_default_context(cafile=str(cert))
        r = httpx.get(server.url + "/api/v1/whoami", headers=auth, verify=trust)
        assert r.status_code == 200 and r.json()["name"] == "admin"
        with pytest.raises(httpx.ConnectError):  # an unknown certificate is refused by clients
            httpx.get(server.url + "/healthz")
        plain = server.url.replace("https://", "http://")
        # plain HTTP is not served: the connection drops (or uvicorn answers an error)
        with contextlib.suppress(httpx.TransportError):
            assert httpx.get(plain + "/healthz").status_code != 200
    finally:
        server.stop()
