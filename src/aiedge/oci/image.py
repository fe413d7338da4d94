"""Reading OCI images: manifest and config documents, and safe unpacking of layers.

Writing lives in ``oci/layers.py`` (tar+gzip layers) and ``oci/manifest.py`` (config, manifest).
Unpacking trusts nothing in a layer: no absolute paths, no ``..``, no devices, no links (or
writes through links) that leave the destination; OCI whiteouts are applied.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

from aiedge.oci.digest import check_digest
from aiedge.oci.errors import ImageFormatError, UnsafeLayer

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


def unpack_layers(layers: list[Path], dest: Path) -> None:
    """Extract gzip'd tar layers in order into ``dest``, refusing absolute paths, ``..``, devices
    and links that leave ``dest``; applies OCI whiteouts."""
    dest.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.realpath(dest))
    for layer in layers:
        try:
            with tarfile.open(layer, mode="r:gz") as tar:
                for member in tar:
                    _extract(tar, member, root, layer)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ImageFormatError(f"layer {layer.name}: not a readable tar+gzip: {e}") from e


def _inside(root: Path, path: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _target(root: Path, name: str, layer: Path) -> Path:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise UnsafeLayer(f"layer {layer.name}: entry {name!r} leaves the destination")
    if not parts:
        return root
    # Resolve the parent through any links earlier entries made: writing through a link must stay inside.
    parent = Path(os.path.realpath(root.joinpath(*parts[:-1])))
    if not _inside(root, parent):
        raise UnsafeLayer(f"layer {layer.name}: entry {name!r} goes through a link out of the destination")
    return parent / parts[-1]


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, layer: Path) -> None:
    target = _target(root, member.name, layer)
    base = target.name
    if base.startswith(".wh."):
        if base == ".wh..wh..opq":
            for child in list(target.parent.iterdir()) if target.parent.is_dir() else []:
                _remove(child)
        else:
            _remove(target.parent / base[len(".wh.") :])
        return
    if member.isdir():
        if target.exists() and not target.is_dir():
            _remove(target)
        target.mkdir(parents=True, exist_ok=True)
        target.chmod((member.mode & 0o777) | 0o700)
        return
    if not (member.isfile() or member.issym() or member.islnk()):
        raise UnsafeLayer(f"layer {layer.name}: entry {member.name!r} is a device or fifo; refused")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        _remove(target)
    if member.issym():
        resolved = Path(os.path.normpath(target.parent / member.linkname))
        if member.linkname.startswith("/") or not _inside(root, resolved):
            raise UnsafeLayer(
                f"layer {layer.name}: link {member.name!r} -> {member.linkname!r} leaves the destination"
            )
        target.symlink_to(member.linkname)
    elif member.islnk():
        source = _target(root, member.linkname, layer)
        if not source.is_file() or source.is_symlink():
            raise UnsafeLayer(
                f"layer {layer.name}: hard link {member.name!r} -> {member.linkname!r} has no file"
            )
        os.link(source, target)
    else:
        src = tar.extractfile(member)
        if src is None:
            raise ImageFormatError(f"layer {layer.name}: entry {member.name!r} has no data")
        with src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        target.chmod(member.mode & 0o755 | 0o600)
