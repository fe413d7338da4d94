"""Writing and reading OCI images: reproducible layers, config, manifest; safe unpacking.

INTERFACE STUB written by the lead: the oci owner implements it, keeping these signatures.
"""

from __future__ import annotations

from pathlib import Path

MODEL_NAME_LABEL = "io.aiedge.model.name"
MODEL_FORMAT_LABEL = "io.aiedge.model.format"
MODEL_PATH_LABEL = "io.aiedge.model.path"  # e.g. "models/tensorflow-housing", relative to the image root
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def read_manifest_layers(manifest: bytes) -> tuple[str, list[str]]:
    """(config digest, layer digests in order) of an OCI image manifest; validates its shape."""
    raise NotImplementedError


def read_config_labels(config: bytes) -> dict[str, str]:
    """The ``config.Labels`` of an image config blob."""
    raise NotImplementedError


def unpack_layers(layers: list[Path], dest: Path) -> None:
    """Extract gzip'd tar layers in order into ``dest``, refusing absolute paths, ``..``, devices
    and links that leave ``dest``; applies OCI whiteouts."""
    raise NotImplementedError
