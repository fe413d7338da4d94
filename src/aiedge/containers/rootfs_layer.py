"""Writing a whole root filesystem as one reproducible tar+gzip layer.

``oci/layers.py`` writes model files only; a root filesystem also has links, hard links, owners
and setuid bits, which must survive. Same rules for reproducibility: entries sorted by path,
names of owners dropped (ids kept), every mtime ``SOURCE_DATE_EPOCH``, gzip with mtime 0 and no
name. ``/dev``, ``/proc``, ``/sys``, ``/run`` and ``/tmp`` keep only their (empty) folders: the
container engine mounts them. Device nodes and sockets anywhere are left out.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

from aiedge.containers.errors import ContainerError
from aiedge.oci.layers import Layer, write_tar_gz

EMPTY_DIRS = ("dev", "proc", "sys", "run", "tmp")


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

    def fill(tar: tarfile.TarFile) -> None:
        for rel in walk_sorted(root):
            _add(tar, root / rel, rel, mtime)

    return write_tar_gz(out, fill)


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
