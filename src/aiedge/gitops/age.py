"""The age format as the GitOps repo holds it: X25519 recipients (``age1...``) and ASCII-armored
ciphertexts (``-----BEGIN AGE ENCRYPTED FILE-----``), checked without any identity, plus
encryption to one recipient. Decryption is the agent's alone: nothing here can decrypt."""

from __future__ import annotations

import base64
import binascii

import pyrage
from pyrage import x25519

ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
MAX_CIPHERTEXT = 64 * 1024  # an environment variable's value must stay well under Linux's 128 KiB
_HEADER = b"age-encryption.org/v1\n"


def check_recipient(value: str) -> str:
    """``value`` when it is an age X25519 recipient, else ValueError saying why."""
    if not value.startswith("age1"):
        raise ValueError("not an age X25519 recipient: it must start with age1 (`aiedge agent recipient`)")
    try:
        x25519.Recipient.from_str(value)
    except pyrage.RecipientError as e:
        raise ValueError(f"not an age X25519 recipient: {e}") from None
    return value


def check_armored(value: str) -> str:
    """``value`` when it looks like an armored age file encrypted to an X25519 recipient (its
    header is readable without a key), else ValueError; plaintext is refused here."""
    text = value.strip()
    if not (text.startswith(ARMOR_BEGIN) and text.endswith(ARMOR_END)):
        raise ValueError(
            f"not an ASCII-armored age ciphertext ({ARMOR_BEGIN}); encrypt values with "
            "`aiedge secret encrypt`, never commit plaintext"
        )
    if len(text) > MAX_CIPHERTEXT:
        raise ValueError(f"ciphertext longer than {MAX_CIPHERTEXT} bytes")
    body = "".join(text[len(ARMOR_BEGIN) : -len(ARMOR_END)].split())
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("armored age ciphertext whose body is not valid base64") from None
    if not raw.startswith(_HEADER):
        raise ValueError("not an age v1 file (age-encryption.org/v1 header missing)")
    header = raw.split(b"\n---", 1)[0]
    if b"\n-> X25519 " not in header:
        raise ValueError("not encrypted to an X25519 recipient (a site's age1... key)")
    return value


def encrypt(value: bytes, recipient: str) -> str:
    """``value`` encrypted to ``recipient``, ASCII-armored."""
    try:
        armored = pyrage.encrypt(value, [x25519.Recipient.from_str(recipient)], armored=True)
    except (pyrage.RecipientError, pyrage.EncryptError) as e:
        raise ValueError(f"cannot encrypt to {recipient}: {e}") from None
    return armored.decode("ascii")
