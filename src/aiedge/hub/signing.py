"""The hub's signing key: an ed25519 key in ``DATA/hub-signing.key`` (PKCS#8 PEM, mode 0600),
made on first use, with its public half beside it (``hub-signing.pub``). It signs the desired
states carried by offline bundles; agents learn the public key at enrolment (or from
``--hub-key FILE``) and refuse a bundle it did not sign."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aiedge.hub.errors import HubConfigError

KEY_FILE = "hub-signing.key"
PUBLIC_FILE = "hub-signing.pub"


def signing_key(data: Path) -> Ed25519PrivateKey:
    """The hub's key in ``data``, made (with its public file) when there is none yet."""
    path = data / KEY_FILE
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return _create(data)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise HubConfigError(f"{path}: not a PEM private key ({e}); move it away to make a new one") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise HubConfigError(f"{path}: not an ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _create(data: Path) -> Ed25519PrivateKey:
    data.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = data / KEY_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    try:
        os.link(tmp, path)  # two hubs starting at once: the first key made wins
    except FileExistsError:
        tmp.unlink()
        return signing_key(data)
    tmp.unlink()
    (data / PUBLIC_FILE).write_text(public_pem(key))
    return key
