"""Packing a model folder into a reproducible OCI image under ``models/NAME/``.

The model keeps its own layout (a SavedModel's contents, ``1/model.onnx`` version folders, or one
file). Files over ``BIG_FILE`` get a layer each (so a changed small file re-uploads nothing big);
the rest share one layer. Same inputs and ``SOURCE_DATE_EPOCH`` -> same manifest digest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiedge.builder.errors import BuildError
from aiedge.builder.stack import BaseImage, runnable_config
from aiedge.oci.digest import sha256_bytes
from aiedge.oci.errors import OciError
from aiedge.oci.image import (
    MODEL_FORMAT_LABEL,
    MODEL_NAME_LABEL,
    MODEL_PATH_LABEL,
    MODEL_SIGNATURE_LABEL,
    SOURCE_LABEL,
    SOURCE_REVISION_LABEL,
    TITLE_LABEL,
)
from aiedge.oci.layers import Layer, LayerEntry, write_layer
from aiedge.oci.manifest import (
    build_config,
    build_manifest,
    config_descriptor,
    layer_descriptor,
    rfc3339,
)
from aiedge.serve.mlmodel import PYFUNC

BIG_FILE = 1 << 20
OCI_SOURCE_LABEL = "org.opencontainers.image.source"
OCI_REVISION_LABEL = "org.opencontainers.image.revision"
_SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class ImageMeta:
    name: str
    format: str
    signature_json: str
    created: int  # seconds since the epoch (SOURCE_DATE_EPOCH)
    source: str | None = None
    revision: str | None = None
    extra_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PackedImage:
    config: bytes
    config_path: Path
    manifest: bytes
    layers: list[Layer]
    model_path: str  # models/NAME
    base: BaseImage | None = None  # its layers are in the manifest, not in ``layers``

    @property
    def digest(self) -> str:
        return sha256_bytes(self.manifest)

    def blobs(self) -> list[tuple[str, Path, int]]:
        """(digest, file, size) of every blob, layers first, config last."""
        return [(x.digest, x.path, x.size) for x in self.layers] + [
            (sha256_bytes(self.config), self.config_path, len(self.config))
        ]


def model_files(model: Path) -> list[tuple[str, Path]]:
    """(path relative to the model root, file) for every file to pack, sorted."""
    if model.is_file():
        return [(model.name, model)]
    found: list[tuple[str, Path]] = []
    for p in sorted(model.rglob("*")):
        rel = p.relative_to(model)
        if any(part in _SKIP_DIRS for part in rel.parts):
            continue
        if p.is_symlink():
            raise BuildError(f"{p}: model folders may not hold links (copy the file in)")
        if p.is_file():
            found.append((rel.as_posix(), p))
    if not found:
        raise BuildError(f"{model}: the folder has no files")
    return found


def pack(
    model: Path,
    meta: ImageMeta,
    workdir: Path,
    base: BaseImage | None = None,
    progress: Callable[[int], None] | None = None,
    extra: Sequence[tuple[str, Path]] = (),
) -> PackedImage:
    """Write layers and config into ``workdir``; returns the image, ready to push. With ``base``,
    the model layers go on top of the base's and the config runs ``aiedge serve`` on the model.
    ``progress`` is told the bytes of model files as they are packed. ``extra``: more files for the
    model folder (path relative to it, file), e.g. its drift profile."""
    root = f"models/{meta.name}"
    small: list[LayerEntry] = []
    big: list[LayerEntry] = []
    files = model_files(model)
    clash = {rel for rel, _ in files} & {rel for rel, _ in extra}
    if clash:
        raise BuildError(f"{model}: already has {', '.join(sorted(clash))}, which the build writes itself")
    for rel, path in sorted([*files, *extra]):
        entry = LayerEntry(f"{root}/{rel}", path)
        (big if path.stat().st_size > BIG_FILE else small).append(entry)
    groups = ([small] if small else []) + [[e] for e in big]
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        layers = [
            write_layer(g, workdir / f"layer-{i}.tar.gz", mtime=meta.created, progress=progress)
            for i, g in enumerate(groups)
        ]
    except OciError as e:
        raise BuildError(f"{model}: cannot pack: {e}") from e
    labels = {
        MODEL_NAME_LABEL: meta.name,
        MODEL_FORMAT_LABEL: meta.format,
        MODEL_PATH_LABEL: root,
        MODEL_SIGNATURE_LABEL: meta.signature_json,
        TITLE_LABEL: meta.name,
        **({SOURCE_LABEL: meta.source, OCI_SOURCE_LABEL: meta.source} if meta.source else {}),
        **(
            {SOURCE_REVISION_LABEL: meta.revision, OCI_REVISION_LABEL: meta.revision} if meta.revision else {}
        ),
        **meta.extra_labels,
    }
    diff_ids = [x.diff_id for x in layers]
    if base is None:
        config = build_config(labels=labels, diff_ids=diff_ids, created=meta.created)
    else:
        config = runnable_config(
            base,
            name=meta.name,
            labels=labels,
            diff_ids=diff_ids,
            created=meta.created,
            allow_code=meta.format == PYFUNC,
        )
    config_path = workdir / "config.json"
    config_path.write_bytes(config)
    annotations = {
        "org.opencontainers.image.title": meta.name,
        "org.opencontainers.image.created": rfc3339(meta.created),
        **({"org.opencontainers.image.source": meta.source} if meta.source else {}),
        **({"org.opencontainers.image.revision": meta.revision} if meta.revision else {}),
    }
    if base is not None:
        annotations["org.opencontainers.image.base.name"] = f"{base.ref.registry}/{base.ref.repository}"
        annotations["org.opencontainers.image.base.digest"] = str(base.ref.digest)
    descs = [*(base.layers if base else []), *(layer_descriptor(x.digest, x.size) for x in layers)]
    manifest = build_manifest(config_descriptor(config), descs, annotations)
    return PackedImage(config, config_path, manifest, layers, root, base)
