"""Decompression bombs for the unpacking tests: a tar.gz that is tiny on disk and says it holds
gigabytes, built without compressing gigabytes (gzip members of 1 MiB of zeros, concatenated,
are one valid gzip stream)."""

from __future__ import annotations

import gzip
import tarfile


def zeros_bomb(size: int, name: str = "models/m/zeros.bin") -> bytes:
    """A tar.gz of one file of ``size`` zero bytes (a multiple of 1 MiB): about size / 1000 bytes."""
    assert size % (1 << 20) == 0
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    block = gzip.compress(b"\0" * (1 << 20), mtime=0)
    return b"".join(
        [
            gzip.compress(info.tobuf(format=tarfile.PAX_FORMAT), mtime=0),
            block * (size >> 20),
            gzip.compress(b"\0" * 1024, mtime=0),
        ]
    )
