"""TLS: `aiedge hub --tls-cert/--tls-key` serves HTTPS with a certificate from a CA made in the
test; the agent's hub client (what `aiedge agent --ca FILE` uses) trusts it through that CA and
refuses it without; the CLI refuses half a TLS configuration."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aiedge.agent.errors import FetchFailed
from aiedge.agent.hub_client import HubClient, hub_http_client
from tests.hub.helpers import StartHub
from tests.support import aiedge_cmd, wait_until


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca_and_cert(dest: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("aiedge test CA"))
        .issuer_name(_name("aiedge test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("aiedge hub"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    dest.mkdir(parents=True, exist_ok=True)
    paths = (dest / "ca.pem", dest / "cert.pem", dest / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


async def _fetch(url: str, ca: Path | None) -> str:
    async with hub_http_client(ca) as http:
        state = await HubClient(http, url, "site-a").fetch_desired(None, 0)
        assert state is not None
        return state.site


def test_hub_serves_https_and_the_agent_trusts_it_through_its_ca(
    repo: Path, start_hub: StartHub, tmp_path: Path
) -> None:
    ca, cert, key = make_ca_and_cert(tmp_path / "pki")
    hub = start_hub(
        repo, "--insecure-no-auth", "--tls-cert", str(cert), "--tls-key", str(key), scheme="https"
    )
    verify = ssl.create_default_context(cafile=str(ca))
    wait_until(
        lambda: httpx.get(f"{hub.url}/api/v1/health", verify=verify).status_code == 200, what="HTTPS health"
    )
    assert f"hub ready at {hub.url}" in hub.proc.log()
    assert asyncio.run(_fetch(hub.url, ca)) == "site-a"
    with pytest.raises(FetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(_fetch(hub.url, None))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{hub.url.replace('https', 'http')}/api/v1/health", timeout=5)


def test_half_a_tls_configuration_is_refused(repo: Path, tmp_path: Path) -> None:
    _ca, cert, _key = make_ca_and_cert(tmp_path / "pki")
    out = subprocess.run(
        aiedge_cmd("hub", "--gitops", str(repo), "--data", str(tmp_path / "d"), "--tls-cert", str(cert)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "--tls-cert and --tls-key go together" in out.stderr
