"""Writing reproducible gzip'd tar layers: the same files give the same digest, byte for byte.

Entries are sorted, owned by 0:0 with empty user/group names, modes fixed (0755 for folders and
executables, 0644 for other files), mtime from ``SOURCE_DATE_EPOCH`` (0 when unset); gzip has
mtime 0 and no file name. One pass computes both the layer digest (compressed) and the diff_id
(uncompressed), so nothing is read twice or held in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from aiedge.oci.errors import OciError

CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerEntry:
    """One file in a layer: its path in the image (``models/m/1/model.onnx``) and where it is now."""

    arcname: str
    source: Path


@dataclass(frozen=True)
class Layer:
    path: Path  # the .tar.gz on disk
    digest: str  # sha256 of the compressed bytes
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # compressed bytes


def source_date_epoch(environ: dict[str, str] | None = None) -> int:
    """``SOURCE_DATE_EPOCH`` as an int (0 when unset); a bad value is an error, not silently 0."""
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise OciError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...


class _Hashing:
    """A write-only file that hashes and counts what passes through to ``inner``."""

    def __init__(self, inner: _Sink) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def _dir_info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.rstrip("/") + "/")
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return _normalise(info, mtime)


def _normalise(info: tarfile.TarInfo, mtime: int) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = mtime
    return info


def _parents(arcname: str) -> list[str]:
    parts = arcname.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def write_layer(
    entries: list[LayerEntry],
    out: Path,
    *,
    mtime: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Layer:
    """Write ``entries`` (files only; their folders are added) as a tar+gzip layer at ``out``;
    ``progress`` is told the bytes of file content as they are read."""
    when = source_date_epoch() if mtime is None else mtime
    by_name: dict[str, Path] = {}
    for e in entries:
        name = e.arcname.strip("/")
        if not name or name.startswith("../") or "/../" in f"/{name}/":
            raise OciError(f"layer entry {e.arcname!r} is not a relative path inside the image")
        if name in by_name:
            raise OciError(f"layer entry {name!r} given twice ({by_name[name]} and {e.source})")
        by_name[name] = e.source
    dirs = sorted({p for name in by_name for p in _parents(name)} - set(by_name))
    names = sorted([*((d, None) for d in dirs), *by_name.items()], key=lambda item: item[0])

    def fill(tar: tarfile.TarFile) -> None:
        for name, source in names:
            if source is None:
                tar.addfile(_dir_info(name, when))
                continue
            _add_file(tar, name, source, when, progress)

    return write_tar_gz(out, fill)


def write_tar_gz(out: Path, fill: Callable[[tarfile.TarFile], None]) -> Layer:
    """A layer at ``out`` holding what ``fill`` adds to a streaming PAX tar, gzipped the
    reproducible way (no name, mtime 0, level 6), hashed as it is written (digest and diff_id)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        compressed = _Hashing(raw)
        gzip_file = gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6)
        with gzip_file as gz:
            plain = _Hashing(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                fill(tar)
    return Layer(
        out, "sha256:" + compressed.sha.hexdigest(), "sha256:" + plain.sha.hexdigest(), compressed.size
    )


class _Counting:
    """A file read through, telling ``progress`` how many bytes each read gave."""

    def __init__(self, inner: BinaryIO, progress: Callable[[int], None]) -> None:
        self.inner, self.progress = inner, progress

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.progress(len(data))
        return data


def _add_file(
    tar: tarfile.TarFile,
    name: str,
    source: Path,
    mtime: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    if source.is_symlink() or not source.is_file():
        raise OciError(f"{source}: only regular files go into a model image (links and devices do not)")
    st = source.stat()
    info = tarfile.TarInfo(name)
    info.size = st.st_size
    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    with source.open("rb") as f:
        tar.addfile(_normalise(info, mtime), _Counting(f, progress) if progress else f)
