"""Signing keys in the PEM forms cosign reads: ECDSA P-256, PKCS#8 private key (encrypted when a
password is given), SubjectPublicKeyInfo public key (``cosign verify --key cosign.pub`` takes it).

Passwords come in as arguments; reading them from the environment is the CLI's business.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aiedge.oci.errors import SigningKeyError

PRIVATE_NAME = "cosign.key"
PUBLIC_NAME = "cosign.pub"


def generate_key_pair(out: Path, password: str | None = None) -> tuple[Path, Path]:
    """Write ``cosign.key`` (0600) and ``cosign.pub`` into ``out``; refuses to overwrite."""
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    for p in (private_path, public_path):
        if p.exists():
            raise SigningKeyError(f"{p} exists already; move it away or pick another --out")
    key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem(key.public_key()))
    return private_path, public_path


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path, password: str | None = None) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SigningKeyError(f"{path}: cannot read the signing key: {e.strerror or e}") from e
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except TypeError as e:
        if password:
            raise SigningKeyError(f"{path}: the key is not encrypted, but a password was given") from e
        raise SigningKeyError(f"{path}: the key is encrypted; set AIEDGE_KEY_PASSWORD") from e
    except ValueError as e:
        raise SigningKeyError(f"{path}: not a PEM private key, or the password is wrong") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"{path}: an ECDSA key is needed (aiedge keygen makes one)")
    return key


def load_public_key(pem: bytes, where: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as e:
        raise SigningKeyError(f"{where}: not a PEM public key") from e
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"{where}: an ECDSA public key is needed")
    return key


def sign_bytes(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA over SHA-256, DER-encoded: what cosign makes and checks."""
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def signature_ok(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
