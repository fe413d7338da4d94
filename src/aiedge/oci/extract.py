"""Safe extraction into one folder: the one implementation behind image layers (the agent, the
build's smoke test) and the build's archive sources (``.tar.gz`` and ``.zip``).

Whatever an archive holds, an :class:`Extraction`:

- writes, removes, links and chmods nothing outside its destination. Names are relative with no
  ``..``; every folder on an entry's way must be a real folder (a symlink on the way is refused,
  whichever entry or layer made it, so no entry ever writes through a link); files are created
  with ``O_NOFOLLOW | O_EXCL`` after whatever stood there is removed, and modes are set on the
  open file or folder (``fchmod``), never through a path that could be a link;
- keeps links inside: no absolute or empty targets; each symlink is resolved with ``realpath``
  when it is made, and every symlink in the tree again at :meth:`Extraction.finish`, since a
  later entry may replace a folder an earlier link goes through (``l1 -> l0/..`` made while
  ``l0`` was a folder, then ``l0 -> .``); hard links only to regular files already extracted;
- refuses devices, fifos and sockets, and drops setuid, setgid, sticky and group/other write bits;
- stops at :class:`Limits`: entries, bytes of file content (counted as they are written), bytes
  of the decompressed stream, and the size of any one tar header, so a bomb stops at the limit
  with :class:`~aiedge.oci.errors.ArchiveTooLarge`. What was written stays for the caller to
  remove (it is all inside the destination);
- records each regular file's sha256 and size as it is written (:attr:`Extraction.files`), so
  what was unpacked can be checked again later.

Nothing here knows about OCI whiteouts beyond :meth:`Extraction.whiteout`; ``oci/image.py``
decides when to call it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiedge.oci.errors import ArchiveTooLarge, ImageFormatError, UnsafeLayer

CHUNK = 1 << 20
MAX_HEADER_BYTES = 1 << 20  # one PAX / GNU long-name header; real ones are a few hundred bytes
HEADER_ALLOWANCE = 4096  # decompressed stream bytes allowed per entry on top of file content


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Limits:
    """How much one extraction may write. ``why`` says where ``max_bytes`` comes from (for the
    error: ``"the free disk"``, ``"100x the layers' 3 MiB"``...)."""

    max_bytes: int
    max_entries: int = 100_000
    why: str = "the limit"

    @property
    def max_stream_bytes(self) -> int:
        return self.max_bytes + self.max_entries * HEADER_ALLOWANCE + (1 << 20)


@dataclass(frozen=True)
class FileDigest:
    digest: str
    size: int


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def disk_limits(dest: Path, *, reserve: int = 64 << 20, max_entries: int = 100_000) -> Limits:
    """Limits for content we made ourselves: whatever fits on the disk, keeping ``reserve`` free."""
    return Limits(max(0, free_bytes(dest) - reserve), max_entries, "the free disk")


def _size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass
class Extraction:
    """One destination folder; every entry goes through one of its methods."""

    dest: Path
    limits: Limits
    what: str  # names the archive in errors, e.g. "layer 3f2a..." or "https://host/model.zip"
    files: dict[str, FileDigest] = field(default_factory=dict)  # relative path -> digest
    entries: int = 0
    written: int = 0

    def __post_init__(self) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(self.dest)

    # -- entries ----------------------------------------------------------------------------

    def directory(self, name: str, mode: int) -> None:
        parts = self._entry(name)
        if not parts:
            return  # the destination itself: ours, its mode stays
        target = self._parent(parts, name) / parts[-1]
        st = _lstat(target)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self._clear(target)  # a file or a link stands there: replaced, never followed
            st = None
        if st is None:
            target.mkdir(0o700)
        _chmod_dir(target, (mode & 0o755) | 0o700)

    def file(self, name: str, src: Readable, mode: int) -> None:
        parts = self._entry(name)
        if not parts:
            raise UnsafeLayer(f"{self.what}: entry {name!r} is a file at the destination's root")
        target = self._parent(parts, name) / parts[-1]
        self._clear(target)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        sha, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                self._count(len(chunk))
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
            os.fchmod(out.fileno(), (mode & 0o755) | 0o600)
        self.files[self._rel(parts)] = FileDigest("sha256:" + sha.hexdigest(), size)

    def symlink(self, name: str, linkname: str) -> None:
        parts = self._entry(name)
        if not parts:
            raise UnsafeLayer(f"{self.what}: link {name!r} at the destination's root")
        if not linkname or linkname.startswith("/") or "\0" in linkname:
            raise UnsafeLayer(f"{self.what}: link {name!r} -> {linkname!r} leaves the destination")
        parent = self._parent(parts, name)
        if not _inside(self.root, os.path.realpath(parent / linkname)):
            raise UnsafeLayer(f"{self.what}: link {name!r} -> {linkname!r} leaves the destination")
        target = parent / parts[-1]
        self._clear(target)
        target.symlink_to(linkname)

    def hardlink(self, name: str, linkname: str) -> None:
        parts, source_parts = self._entry(name), self._names(linkname, name)
        if not parts or not source_parts:
            raise UnsafeLayer(f"{self.what}: hard link {name!r} -> {linkname!r} has no file")
        holder = self._existing(source_parts, name)
        assert holder is not None
        source = holder / source_parts[-1]
        st = _lstat(source)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise UnsafeLayer(f"{self.what}: hard link {name!r} -> {linkname!r} has no file")
        if parts == source_parts:
            return  # a link to itself: the file is already there
        target = self._parent(parts, name) / parts[-1]
        self._clear(target)
        os.link(source, target, follow_symlinks=False)
        known = self.files.get(self._rel(source_parts))
        self.files[self._rel(parts)] = known or _digest_file(source)

    def whiteout(self, name: str) -> None:
        """An OCI whiteout: ``DIR/.wh.NAME`` removes NAME, ``DIR/.wh..wh..opq`` empties DIR."""
        parts = self._entry(name)
        base = parts[-1]
        folder = self._existing(parts, name, missing_ok=True)
        if folder is None:
            return
        if base == ".wh..wh..opq":
            for child in list(folder.iterdir()):
                self._clear(child)
        else:
            self._clear(folder / base[len(".wh.") :])

    def refuse(self, name: str, kind: str) -> None:
        raise UnsafeLayer(f"{self.what}: entry {name!r} is a {kind}; refused")

    def finish(self) -> dict[str, FileDigest]:
        """Check every symlink in the tree against the destination; returns the file digests."""
        for folder, dirs, names in os.walk(self.root):
            for entry in (*dirs, *names):
                path = Path(folder) / entry
                if path.is_symlink() and not _inside(self.root, os.path.realpath(path)):
                    rel = os.path.relpath(path, self.root)
                    raise UnsafeLayer(
                        f"{self.what}: link {rel!r} -> {str(path.readlink())!r} "
                        "resolves outside the destination"
                    )
        return dict(self.files)

    # -- plumbing ---------------------------------------------------------------------------

    def _entry(self, name: str) -> list[str]:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveTooLarge(
                f"{self.what}: more than {self.limits.max_entries} entries; refused", limit="entries"
            )
        return self._names(name, name)

    def _names(self, name: str, entry: str) -> list[str]:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or ".." in parts or "\0" in name:
            raise UnsafeLayer(f"{self.what}: entry {entry!r} leaves the destination")
        return parts

    def _rel(self, parts: list[str]) -> str:
        return "/".join(parts)

    def _parent(self, parts: list[str], name: str) -> Path:
        """The folder for an entry, made (as real folders) where missing."""
        folder = self._existing(parts, name, make=True)
        assert folder is not None
        return folder

    def _existing(
        self, parts: list[str], name: str, *, make: bool = False, missing_ok: bool = False
    ) -> Path | None:
        """The folder holding ``parts[-1]``, walked with lstat: each step must be a real folder."""
        folder = Path(self.root)
        for i, part in enumerate(parts[:-1]):
            folder = folder / part
            step = self._rel(parts[: i + 1])
            st = _lstat(folder)
            if st is None:
                if make:
                    folder.mkdir(0o755)
                    continue
                if missing_ok:
                    return None
                raise UnsafeLayer(f"{self.what}: entry {name!r}: {step!r} does not exist")
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeLayer(f"{self.what}: entry {name!r} goes through the link {step!r}; refused")
            if not stat.S_ISDIR(st.st_mode):
                raise ImageFormatError(f"{self.what}: entry {name!r}: {step!r} is a file, not a folder")
        return folder

    def _clear(self, path: Path) -> None:
        """Remove whatever is at ``path`` (a link itself, never what it points to)."""
        st = _lstat(path)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
        rel = os.path.relpath(path, self.root)
        for key in [k for k in self.files if k == rel or k.startswith(rel + "/")]:
            del self.files[key]

    def _count(self, n: int) -> None:
        self.written += n
        if self.written > self.limits.max_bytes:
            raise ArchiveTooLarge(
                f"{self.what}: unpacks to more than {_size(self.limits.max_bytes)} "
                f"({self.limits.why}); refused",
                limit="bytes",
            )


class BoundedReader:
    """A read-only stream that refuses to deliver more than ``limit`` bytes in all (the
    decompressed side of a gzip or zip member), so a bomb stops at the limit."""

    def __init__(self, inner: Readable, limit: int, what: str, why: str) -> None:
        self._inner = inner
        self._left = limit
        self._limit = limit
        self._what = what
        self._why = why

    @property
    def left(self) -> int:
        return max(0, self._left)

    def read(self, n: int = -1) -> bytes:
        want = self._left + 1 if n < 0 else min(n, self._left + 1)
        data = self._inner.read(want)
        self._left -= len(data)
        if self._left < 0:
            raise ArchiveTooLarge(
                f"{self._what}: decompresses to more than {_size(self._limit)} ({self._why}); refused",
                limit="bytes",
            )
        return data


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _chmod_dir(path: Path, mode: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _digest_file(path: Path) -> FileDigest:
    sha, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return FileDigest("sha256:" + sha.hexdigest(), size)


def verify_files(root: Path, files: dict[str, FileDigest]) -> list[str]:
    """The files under ``root`` that are not as unpacked: missing, changed, no longer regular
    files, or regular files that were not unpacked at all. Empty when everything is as it was.
    Reads each file once, without following links."""
    bad: list[str] = []
    for rel, want in sorted(files.items()):
        path = root / rel
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size != want.size or _digest_file(path) != want:
                bad.append(rel)
        except OSError:
            bad.append(rel)
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if rel not in files and not path.is_symlink():
                bad.append(rel)
    return bad
