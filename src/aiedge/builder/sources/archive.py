"""Unpacking downloaded ``.tar.gz`` / ``.zip`` archives safely: nothing may land outside ``dest``,
and nothing may grow past the limits.

Both kinds go through :class:`aiedge.oci.extract.Extraction`, the one safe extraction the agent's
image layers use too (no ``..``, no absolute names, no writes through links, links resolved
against the destination, no devices, bounded entries and bytes). The limits are
:class:`ArchiveSettings` (``AIEDGE_BUILD_ARCHIVE_MAX_BYTES``, ``..._MAX_ENTRIES``), and never more
than the free disk.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiedge.builder.errors import SourceError
from aiedge.oci.errors import OciError
from aiedge.oci.extract import BoundedReader, Extraction, Limits, free_bytes
from aiedge.oci.image import unpack_layers

TAR_SUFFIXES = (".tar.gz", ".tgz")
ZIP_SUFFIXES = (".zip",)
DISK_RESERVE = 256 << 20


class ArchiveSettings(BaseSettings):
    """How much a model archive (an HTTP source's ``.tar.gz`` or ``.zip``) may unpack to."""

    model_config = SettingsConfigDict(env_prefix="AIEDGE_BUILD_ARCHIVE_", extra="ignore")

    max_bytes: int = Field(default=32 << 30, gt=0, description="bytes of files one archive may unpack to")
    max_entries: int = Field(default=100_000, gt=0, description="entries one archive may hold")


def archive_limits(dest: Path, settings: ArchiveSettings | None = None) -> Limits:
    """The configured caps, lowered to the free disk (keeping 256 MiB free) when that is less."""
    s = settings or ArchiveSettings()
    free = max(0, free_bytes(dest) - DISK_RESERVE)
    if free < s.max_bytes:
        return Limits(free, s.max_entries, "the free disk")
    return Limits(s.max_bytes, s.max_entries, "AIEDGE_BUILD_ARCHIVE_MAX_BYTES")


def archive_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    return None


def unpack_archive(
    archive: Path, dest: Path, what: str, *, strip: bool = True, limits: Limits | None = None
) -> Path:
    """Unpack into ``dest``; returns the model root: with ``strip``, the one top-level folder when
    there is only one (``model/saved_model.pb`` tarballs), ``dest`` otherwise. On any refusal
    ``dest`` is removed (everything in it came from the archive)."""
    kind = archive_kind(archive.name)
    if kind is None:
        raise SourceError(f"{what}: {archive.name} is not a .tar.gz or .zip archive")
    dest.mkdir(parents=True, exist_ok=True)
    limits = limits or archive_limits(dest)
    try:
        if kind == "tar":
            unpack_layers([archive], dest, limits=limits, whiteouts=False)
        else:
            _unzip(archive, dest, what, limits)
    except OciError as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise SourceError(f"{what}: cannot unpack: {e}") from e
    except SourceError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    entries = [p for p in dest.iterdir() if p.name not in ("__MACOSX",)]
    if not entries:
        raise SourceError(f"{what}: the archive is empty")
    if strip and len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def _unzip(archive: Path, dest: Path, what: str, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            if len(infos) > limits.max_entries:
                raise SourceError(f"{what}: {len(infos)} entries, more than {limits.max_entries}; refused")
            out = Extraction(dest, limits, what)
            stream_left = limits.max_stream_bytes
            for info in infos:
                name = info.filename.replace("\\", "/")
                if ":" in name:
                    raise SourceError(f"{what}: zip entry {info.filename!r} leaves the destination")
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise SourceError(f"{what}: zip entry {info.filename!r} is a link; refused")
                if info.is_dir():
                    out.directory(name, 0o755)
                    continue
                with z.open(info) as raw:
                    reader = BoundedReader(raw, stream_left, what, limits.why)
                    out.file(name, reader, 0o755 if mode & 0o111 else 0o644)
                    stream_left = reader.left
            out.finish()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise SourceError(f"{what}: not a readable zip: {e}") from e
