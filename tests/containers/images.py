"""Runnable model images for the container tests: a model's layers (``aiedge.build.pack``)
stacked on the base image, entrypoint ``aiedge serve /models/NAME``, ports 8080/8081, user 1000.

This is what ``aiedge build --base`` makes; replace this helper with it once it lands.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiedge.build.pack import ImageMeta, pack
from aiedge.containers.layout import LayoutImage, blob_paths, read_layout, write_layout
from aiedge.oci.manifest import canonical_json, config_descriptor, layer_descriptor


def stack_model(base: Path, model: Path, name: str, out: Path, *, note: str = "") -> LayoutImage:
    """Write ``base``'s image plus ``model`` under ``/models/NAME`` into the layout ``out``; a
    ``note`` label makes another digest of the same image."""
    _, base_manifest = read_layout(base)
    blobs = blob_paths(base, base_manifest)
    base_config = json.loads(blobs[-1][1].read_bytes())
    packed = pack(model, ImageMeta(name, "test", "{}", created=0), out.parent / f"{out.name}-work")
    config = dict(base_config)
    inner = dict(config["config"])
    inner["Entrypoint"] = [
        "/opt/aiedge/bin/aiedge",
        "serve",
        f"/models/{name}",
        "--name",
        name,
        "--host",
        "0.0.0.0",
    ]
    inner["Cmd"] = []
    inner["ExposedPorts"] = {"8080/tcp": {}, "8081/tcp": {}}
    inner["Labels"] = {**inner.get("Labels", {}), **json.loads(packed.config)["config"]["Labels"]}
    if note:
        inner["Labels"]["io.aiedge.test.note"] = note
    config["config"] = inner
    config["rootfs"] = {
        "type": "layers",
        "diff_ids": [*base_config["rootfs"]["diff_ids"], *(x.diff_id for x in packed.layers)],
    }
    config_bytes = canonical_json(config)
    config_path = out.parent / f"{out.name}-config.json"
    config_path.write_bytes(config_bytes)
    base_layers = json.loads(base_manifest)["layers"]
    layers = [layer_descriptor(d["digest"], d["size"]) for d in base_layers] + [
        layer_descriptor(x.digest, x.size) for x in packed.layers
    ]
    from aiedge.oci.manifest import build_manifest

    manifest = build_manifest(config_descriptor(config_bytes), layers, {})
    files = [p for _, p in blobs[:-1]] + [x.path for x in packed.layers] + [config_path]
    return write_layout(out, manifest, files, tag=name)
