"""Content digests (``sha256:<hex>``): the one pattern they match, checking their shape, and
hashing bytes and files (in chunks)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from aiedge.oci.errors import ImageFormatError

# the only digests aiedge writes or accepts; DIGEST_PATTERN is unanchored, to build other patterns
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
DIGEST_RE = re.compile(rf"^{DIGEST_PATTERN}$")
CHUNK = 1 << 20


def is_digest(text: object) -> bool:
    return isinstance(text, str) and DIGEST_RE.match(text) is not None


def check_digest(digest: str) -> str:
    if not is_digest(digest):
        raise ImageFormatError(f"{digest!r} is not a sha256:<64 hex> digest")
    return digest


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> tuple[str, int]:
    """(digest, size) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def digest_hex(digest: str) -> str:
    """The hex part of a checked digest (a blob's file name in a layout or a cache)."""
    return check_digest(digest).split(":", 1)[1]
