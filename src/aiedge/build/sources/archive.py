"""Unpacking downloaded ``.tar.gz`` / ``.zip`` archives safely (nothing may land outside ``dest``).

Tarballs go through :func:`aiedge.oci.image.unpack_layers`, which already refuses absolute
paths, ``..``, devices and escaping links. Zip entries are checked here the same way.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

from aiedge.build.errors import SourceError
from aiedge.oci.errors import OciError
from aiedge.oci.image import unpack_layers

TAR_SUFFIXES = (".tar.gz", ".tgz")
ZIP_SUFFIXES = (".zip",)


def archive_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    return None


def unpack_archive(archive: Path, dest: Path, what: str, *, strip: bool = True) -> Path:
    """Unpack into ``dest``; returns the model root: with ``strip``, the one top-level folder when
    there is only one (``model/saved_model.pb`` tarballs), ``dest`` otherwise."""
    kind = archive_kind(archive.name)
    try:
        if kind == "tar":
            unpack_layers([archive], dest)
        elif kind == "zip":
            _unzip(archive, dest, what)
        else:
            raise SourceError(f"{what}: {archive.name} is not a .tar.gz or .zip archive")
    except OciError as e:
        raise SourceError(f"{what}: cannot unpack: {e}") from e
    entries = [p for p in dest.iterdir() if p.name not in ("__MACOSX",)]
    if not entries:
        raise SourceError(f"{what}: the archive is empty")
    if strip and len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def _unzip(archive: Path, dest: Path, what: str) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
                if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                    raise SourceError(f"{what}: zip entry {info.filename!r} leaves the destination")
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise SourceError(f"{what}: zip entry {info.filename!r} is a link; refused")
                if not parts:
                    continue
                target = dest.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise SourceError(f"{what}: not a readable zip: {e}") from e
