"""OCI image layout folders: written, read back, linked to a blob cache, and accepted by skopeo."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aiedge.containers.layout import blob_paths, link_layout, read_layout, write_layout
from aiedge.oci.layers import LayerEntry, write_layer
from aiedge.oci.manifest import build_config, build_manifest, config_descriptor, layer_descriptor


def _image(tmp_path: Path) -> tuple[bytes, list[Path]]:
    (tmp_path / "f.txt").write_text("hello")
    layer = write_layer([LayerEntry("data/f.txt", tmp_path / "f.txt")], tmp_path / "l.tgz", mtime=0)
    config = build_config(labels={"a": "b"}, diff_ids=[layer.diff_id], created=0)
    (tmp_path / "c.json").write_bytes(config)
    manifest = build_manifest(config_descriptor(config), [layer_descriptor(layer.digest, layer.size)], {})
    return manifest, [layer.path, tmp_path / "c.json"]


def test_write_read_and_retag(tmp_path: Path) -> None:
    manifest, blobs = _image(tmp_path)
    out = tmp_path / "layout"
    image = write_layout(out, manifest, blobs, tag="v1")
    write_layout(out, manifest, blobs, tag="v1")  # again: still one entry
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    again, body = read_layout(out, "v1")
    assert again == image and body == manifest
    assert all(p.is_file() for _, p in blob_paths(out, manifest))
    assert len(json.loads((out / "index.json").read_text())["manifests"]) == 1
    assert image.transport_ref == f"oci:{out}:v1"


def test_linked_layout_reads_the_cache(tmp_path: Path) -> None:
    manifest, blobs = _image(tmp_path)
    cache_layout = tmp_path / "cache"
    image = write_layout(cache_layout, manifest, blobs, tag="x")
    linked = link_layout(tmp_path / "linked", cache_layout / "blobs" / "sha256", image.digest, tag="y")
    assert read_layout(linked.path, "y")[1] == manifest
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed: ./dev test installs it (apt-get install skopeo)", pytrace=False)
    out = subprocess.run(
        ["skopeo", "inspect", linked.transport_ref], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["Labels"] == {"a": "b"}
