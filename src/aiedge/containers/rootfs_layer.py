"""Writing a whole root filesystem as one reproducible tar+gzip layer.

``oci/layers.py`` writes model files only; a root filesystem also has links, hard links, owners
and setuid bits, which must survive. Same rules for reproducibility: entries sorted by path,
names of owners dropped (ids kept), every mtime ``SOURCE_DATE_EPOCH``, gzip with mtime 0 and no
name. ``/dev``, ``/proc``, ``/sys``, ``/run`` and ``/tmp`` keep only their (empty) folders: the
container engine mounts them. Device nodes and sockets anywhere are left out.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from aiedge.containers.errors import ContainerError
from aiedge.oci.layers import Layer

EMPTY_DIRS = ("dev", "proc", "sys", "run", "tmp")


class _Hashing:
    """A write-only file that hashes and counts what passes through to ``inner``."""

    def __init__(self, inner: BinaryIO | gzip.GzipFile) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def walk_sorted(root: Path) -> list[str]:
    """Every path under ``root`` (relative, POSIX), parents before children, sorted by name."""
    out: list[str] = []

    def visit(rel: str) -> None:
        here = root / rel if rel else root
        with os.scandir(here) as it:
            names = sorted(e.name for e in it)
        for name in names:
            child = f"{rel}/{name}" if rel else name
            out.append(child)
            st = os.lstat(root / child)
            if stat.S_ISDIR(st.st_mode) and child not in EMPTY_DIRS:
                visit(child)

    visit("")
    return out


def write_rootfs_layer(root: Path, out: Path, *, mtime: int) -> Layer:
    """Write the tree at ``root`` as a layer at ``out``; returns its digest and diff_id."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6) as gz:
            plain = _Hashing(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for rel in walk_sorted(root):
                    _add(tar, root / rel, rel, mtime)
    return Layer(
        out, "sha256:" + compressed.sha.hexdigest(), "sha256:" + plain.sha.hexdigest(), compressed.size
    )


def _add(tar: tarfile.TarFile, path: Path, rel: str, mtime: int) -> None:
    st = os.lstat(path)
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        return  # devices, fifos, sockets: the engine provides /dev
    info = tar.gettarinfo(str(path), arcname=rel)  # hard links become LNKTYPE after the first
    info.uname = info.gname = ""
    info.mtime = mtime
    info.pax_headers = {}
    if info.isreg():
        try:
            with path.open("rb") as f:
                tar.addfile(info, f)
        except OSError as e:
            raise ContainerError(f"cannot read {path}: {e}") from e
    else:
        tar.addfile(info)
