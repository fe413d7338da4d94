"""Reading OCI images: manifest and config documents, and safe unpacking of layers.

Writing lives in ``oci/layers.py`` (tar+gzip layers) and ``oci/manifest.py`` (config, manifest).
Unpacking trusts nothing in a layer: it goes through :class:`~aiedge.oci.extract.Extraction`
(nothing leaves the destination, no writes through links, bounded sizes); OCI whiteouts are
applied here.
"""

from __future__ import annotations

import errno
import gzip
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiedge.oci.digest import check_digest
from aiedge.oci.errors import ImageFormatError, UnsafeLayer
from aiedge.oci.extract import (
    MAX_HEADER_BYTES,
    BoundedReader,
    Extraction,
    FileDigest,
    Limits,
    disk_limits,
)

MODEL_NAME_LABEL = "io.aiedge.model.name"
MODEL_FORMAT_LABEL = "io.aiedge.model.format"
MODEL_PATH_LABEL = "io.aiedge.model.path"  # e.g. "models/tensorflow-housing", relative to the image root
MODEL_SIGNATURE_LABEL = "io.aiedge.model.signature"  # JSON: {"inputs": [...], "outputs": [...]}
SOURCE_LABEL = "io.aiedge.source"
SOURCE_REVISION_LABEL = "io.aiedge.source.revision"
TITLE_LABEL = "org.opencontainers.image.title"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_LAYER_TYPES = (LAYER_MEDIA_TYPE, DOCKER_LAYER_MEDIA_TYPE)


@dataclass(frozen=True)
class Descriptor:
    """A blob a manifest points at: its digest and the size the manifest declares."""

    digest: str
    size: int
    media_type: str = ""


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageFormatError(f"{what} is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ImageFormatError(f"{what} is not a JSON object")
    return doc


def _digest_of(desc: Any, what: str) -> str:
    if not isinstance(desc, dict) or "digest" not in desc:
        raise ImageFormatError(f"{what} is not a descriptor with a digest")
    return check_digest(desc["digest"])


def read_manifest_layers(manifest: bytes) -> tuple[str, list[str]]:
    """(config digest, layer digests in order) of an OCI image manifest; validates its shape."""
    doc = _json_object(manifest, "manifest")
    if doc.get("schemaVersion") != 2:
        raise ImageFormatError(f"manifest schemaVersion is {doc.get('schemaVersion')!r}, expected 2")
    media_type = doc.get("mediaType", MANIFEST_MEDIA_TYPE)
    if media_type not in (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE):
        raise ImageFormatError(f"manifest mediaType {media_type!r} is not an image manifest")
    config = _digest_of(doc.get("config"), "manifest config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ImageFormatError("manifest has no layers list")
    digests = []
    for i, layer in enumerate(layers):
        digest = _digest_of(layer, f"manifest layer {i}")
        if layer.get("mediaType") not in _LAYER_TYPES:
            raise ImageFormatError(
                f"manifest layer {i} has mediaType {layer.get('mediaType')!r}, not tar+gzip"
            )
        digests.append(digest)
    return config, digests


def read_config_labels(config: bytes) -> dict[str, str]:
    """The ``config.Labels`` of an image config blob."""
    doc = _json_object(config, "image config")
    inner = doc.get("config") or {}
    if not isinstance(inner, dict):
        raise ImageFormatError("image config: 'config' is not an object")
    labels = inner.get("Labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise ImageFormatError("image config: Labels is not a string -> string map")
    return dict(labels)


def read_manifest_descriptors(manifest: bytes) -> tuple[Descriptor, list[Descriptor]]:
    """(config, layers in order) of an OCI image manifest, with the sizes it declares."""
    read_manifest_layers(manifest)  # the shape checks
    doc = _json_object(manifest, "manifest")

    def descriptor(desc: dict[str, Any], what: str) -> Descriptor:
        size = desc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ImageFormatError(f"{what} has no valid size: {size!r}")
        return Descriptor(desc["digest"], size, str(desc.get("mediaType", "")))

    layers = [descriptor(d, f"manifest layer {i}") for i, d in enumerate(doc["layers"])]
    return descriptor(doc["config"], "manifest config"), layers


def unpack_layers(
    layers: list[Path], dest: Path, *, limits: Limits | None = None, whiteouts: bool = True
) -> dict[str, FileDigest]:
    """Extract gzip'd tar layers in order into ``dest`` through one :class:`Extraction` (see
    ``oci/extract.py`` for what it refuses), applying OCI whiteouts (unless ``whiteouts`` is off:
    a plain ``.tar.gz``); returns each regular file's digest (relative path -> sha256, size) as
    unpacked. ``limits`` default to the free disk."""
    out = Extraction(dest, limits or disk_limits(dest), "layer")
    stream_left = out.limits.max_stream_bytes
    for layer in layers:
        out.what = f"layer {layer.name}"
        try:
            with gzip.open(layer, "rb") as gz:
                reader = BoundedReader(gz, stream_left, out.what, out.limits.why)
                with tarfile.open(fileobj=reader, mode="r|", tarinfo=_BoundedTarInfo) as tar:  # type: ignore[call-overload]
                    for member in tar:
                        _extract(tar, member, out, whiteouts)
                stream_left = reader.left
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise
            raise ImageFormatError(f"{out.what}: not a readable tar+gzip: {e}") from e
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise ImageFormatError(f"{out.what}: not a readable tar+gzip: {e}") from e
    out.what = "image"
    return out.finish()


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses a PAX or GNU long-name header larger than any real one before tarfile reads it
    whole into memory (a 2 GiB header would otherwise be held in RAM)."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _HEADER_TYPES and self.size > MAX_HEADER_BYTES:
            raise UnsafeLayer(f"a tar header of {self.size} bytes (over {MAX_HEADER_BYTES}); refused")
        proc: Any = super()._proc_member  # type: ignore[misc]
        return proc(tar)  # type: ignore[no-any-return]


_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, out: Extraction, whiteouts: bool) -> None:
    name = member.name
    if whiteouts and name.rstrip("/").rsplit("/", 1)[-1].startswith(".wh."):
        out.whiteout(name)
    elif member.isdir():
        out.directory(name, member.mode)
    elif member.isreg():
        src = tar.extractfile(member)
        if src is None:
            raise ImageFormatError(f"{out.what}: entry {name!r} has no data")
        with src:
            out.file(name, src, member.mode)
    elif member.issym():
        out.symlink(name, member.linkname)
    elif member.islnk():
        out.hardlink(name, member.linkname)
    else:
        out.refuse(name, "device or fifo")
