"""Keeping the site's disk from filling: what the image cache may remove, and when.

Per app the cache keeps the version serving and the previous one (warm rollback), and whatever a
pass is downloading now; everything else (blobs no kept manifest names, unpacked folders of other
digests, abandoned ``.partial`` downloads) may go, oldest first, once the cache (blobs and
unpacked folders) is larger than ``cache_max`` or the file system's free space is under
``min_free``. Nothing is removed while the disk is within both limits: an older version kept on
disk is a rollback that costs no download.

Owns no policy about *what* to serve; the agent says what is kept (:class:`Kept`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiedge.agent.progress import format_bytes
from aiedge.errors import AiedgeError
from aiedge.oci.extract import free_bytes
from aiedge.oci.image import read_manifest_descriptors
from aiedge.oci.platform import index_entries

log = logging.getLogger(__name__)
_HEX = re.compile(r"[0-9a-f]{64}")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}


def parse_size(text: str) -> int:
    """Bytes from ``NUMBER[UNIT]``: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of
    1024), any case. Raises ValueError naming what is wrong."""
    m = _SIZE.match(text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 20GiB, 500MB, 1073741824)")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class DiskLimits:
    """When the cache prunes: above ``cache_max`` bytes of cache, or under ``min_free`` free bytes
    on its file system (None: no such limit)."""

    cache_max: int | None = None
    min_free: int | None = None


@dataclass
class Kept:
    """What may not be removed: (app, manifest digest) pairs whose unpacked folder stays, and
    manifest digests whose blobs (manifest, config, layers) stay."""

    unpacked: set[tuple[str, str]] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)

    def add(self, app: str, digest: str) -> None:
        self.unpacked.add((app, digest))
        self.manifests.add(digest)


@dataclass(frozen=True)
class _Item:
    path: Path
    size: int
    mtime: float
    what: str


@dataclass
class PruneResult:
    removed: list[str] = field(default_factory=list)
    freed: int = 0
    cache_bytes: int = 0
    free_bytes: int = 0

    def summary(self) -> str:
        return (
            f"removed {len(self.removed)} item(s), {format_bytes(self.freed)} freed; cache "
            f"{format_bytes(self.cache_bytes)}, {format_bytes(self.free_bytes)} free"
        )


class Pruner:
    """Removes what :class:`Kept` does not name, oldest first, until the disk is within limits."""

    def __init__(self, blobs_dir: Path, apps_dir: Path, limits: DiskLimits) -> None:
        self.blobs_dir = blobs_dir
        self.apps_dir = apps_dir
        self.limits = limits

    def usage(self) -> int:
        """Bytes the cache holds: blobs (partial downloads included) and unpacked folders."""
        return sum(i.size for i in self._items())

    def prune(self, kept: Kept, need: int = 0) -> PruneResult:
        """Remove unkept items, oldest first, while the cache is over ``cache_max`` or fewer than
        ``min_free + need`` bytes are free (``need``: what a download about to start needs)."""
        items = self._items()
        cache = sum(i.size for i in items)
        free = free_bytes(self.blobs_dir.parent)
        result = PruneResult(cache_bytes=cache, free_bytes=free)
        floor = (self.limits.min_free or 0) + need
        if not self._over(cache, free, floor):
            return result
        keep_blobs = self._kept_blobs(kept)
        keep_dirs = {self.apps_dir / app / digest.split(":", 1)[1] for app, digest in kept.unpacked}
        candidates = sorted(
            (i for i in items if not self._is_kept(i.path, keep_blobs, keep_dirs)), key=lambda i: i.mtime
        )
        for item in candidates:
            if not self._over(cache, free, floor):
                break
            _remove(item.path)
            cache -= item.size
            free = free_bytes(self.blobs_dir.parent)
            result.removed.append(item.what)
            result.freed += item.size
        result.cache_bytes, result.free_bytes = cache, free
        if result.removed:
            log.info("cache pruned: %s", result.summary())
        return result

    def _over(self, cache: int, free: int, floor: int) -> bool:
        cache_max = self.limits.cache_max
        return (cache_max is not None and cache > cache_max) or free < floor

    def _is_kept(self, path: Path, keep_blobs: set[str], keep_dirs: set[Path]) -> bool:
        name = path.name
        if path in keep_dirs:
            return True
        if name.endswith(".files.json"):
            return path.with_name(name.removesuffix(".files.json")) in keep_dirs
        # a blob, or its .partial download, is kept by its digest
        return path.parent == self.blobs_dir and name[:64] in keep_blobs

    def _kept_blobs(self, kept: Kept) -> set[str]:
        """Hex digests of every blob a kept manifest names (the manifest itself included). A
        kept manifest not on disk yet keeps nothing more: its blobs are not there either."""
        hexes: set[str] = set()
        todo = list(kept.manifests)
        while todo:
            hex_ = todo.pop().split(":", 1)[1]
            if hex_ in hexes:
                continue
            hexes.add(hex_)
            try:
                body = (self.blobs_dir / hex_).read_bytes()
                entries = index_entries(body)
                if entries is not None:  # a multi-platform image: the platform images it lists
                    todo.extend(e.digest for e in entries)
                    continue
                config, layers = read_manifest_descriptors(body)
            except (OSError, AiedgeError):
                continue
            hexes.update(d.digest.split(":", 1)[1] for d in (config, *layers))
        return hexes

    def _items(self) -> list[_Item]:
        items: list[_Item] = []
        if self.blobs_dir.is_dir():
            for entry in os.scandir(self.blobs_dir):
                st = entry.stat(follow_symlinks=False)
                items.append(_Item(Path(entry.path), st.st_size, st.st_mtime, f"blob {entry.name[:12]}"))
        for folder in self._unpacked_dirs():
            st = folder.stat()
            app = folder.parent.name
            size = _tree_size(folder)
            files = folder.with_name(folder.name + ".files.json")
            items.append(_Item(folder, size, st.st_mtime, f"unpacked {app}/{folder.name[:12]}"))
            if files.exists():
                items.append(_Item(files, files.stat().st_size, st.st_mtime, f"{app}/{files.name[:12]}"))
        return items

    def _unpacked_dirs(self) -> Iterable[Path]:
        if not self.apps_dir.is_dir():
            return []
        return [
            p
            for app in sorted(self.apps_dir.iterdir())
            if app.is_dir() and not app.is_symlink()
            for p in sorted(app.iterdir())
            if p.is_dir() and not p.is_symlink() and _HEX.fullmatch(p.name)
        ]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size  # noqa: PTH118 - os.walk gives str
            except OSError:
                continue
    return total
