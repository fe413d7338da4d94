"""Tar layers for the unpacking tests: entries of every kind, a layer file made of them, and
decompression bombs that are tiny on disk and say they hold gigabytes (built without
compressing gigabytes: gzip members of 1 MiB of zeros, concatenated, are one valid stream)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path


def layer(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    """A tar.gz at ``path`` of ``members`` (entry, data for regular files / None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_entry(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def dir_entry(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = special(name, tarfile.DIRTYPE)
    info.mode = mode
    return info


def special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    """An entry of type ``kind`` (a link with ``link`` as its target, a device, a fifo...)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    """A symlink (or, with ``kind=tarfile.LNKTYPE``, a hard link) ``name`` -> ``target``."""
    return special(name, kind, target)


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
