"""Reproducible layers (oci/layers.py) and config/manifest documents (oci/manifest.py)."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from aiedge.oci.errors import OciError
from aiedge.oci.image import read_config_labels, read_manifest_layers, unpack_layers
from aiedge.oci.layers import LayerEntry, source_date_epoch, write_layer
from aiedge.oci.manifest import build_config, build_manifest, config_descriptor, layer_descriptor


def _tree(root: Path) -> list[LayerEntry]:
    (root / "1").mkdir(parents=True)
    (root / "1" / "model.onnx").write_bytes(b"onnx" * 100)
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o775)
    (root / "a.txt").write_text("a")
    return [LayerEntry(f"models/m/{p.relative_to(root)}", p) for p in root.rglob("*") if p.is_file()]


def test_same_files_same_digest_whatever_the_order_or_mtime(tmp_path: Path) -> None:
    entries = _tree(tmp_path / "src")
    one = write_layer(entries, tmp_path / "one.tar.gz", mtime=0)
    for e in entries:
        e.source.touch()
    two = write_layer(list(reversed(entries)), tmp_path / "two.tar.gz", mtime=0)
    assert one.digest == two.digest and one.diff_id == two.diff_id
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert write_layer(entries, tmp_path / "three.tar.gz", mtime=1).digest != one.digest


def test_tar_entries_are_normalised(tmp_path: Path) -> None:
    layer = write_layer(_tree(tmp_path / "src"), tmp_path / "l.tar.gz", mtime=1700000000)
    raw = layer.path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08  # gzip: mtime 0, no FNAME
    with tarfile.open(layer.path, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[:3] == ["models", "models/m", "models/m/1"]
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 1700000000)
    modes = {m.name: m.mode for m in members}
    assert modes["models/m/run.sh"] == 0o755 and modes["models/m/a.txt"] == 0o644
    assert modes["models/m"] == 0o755
    assert layer.diff_id == "sha256:" + __import__("hashlib").sha256(gzip.decompress(raw)).hexdigest()


def test_source_date_epoch() -> None:
    assert source_date_epoch({}) == 0
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    with pytest.raises(OciError, match="SOURCE_DATE_EPOCH"):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_links_are_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OciError, match="only regular files"):
        write_layer([LayerEntry("m/link", tmp_path / "link")], tmp_path / "l.tar.gz")


def test_config_and_manifest_round_trip(tmp_path: Path) -> None:
    layer = write_layer(_tree(tmp_path / "src"), tmp_path / "l.tar.gz", mtime=0)
    config = build_config(labels={"a": "b"}, diff_ids=[layer.diff_id], created=0)
    doc = json.loads(config)
    assert doc["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
    assert (doc["architecture"], doc["os"], doc["created"]) == ("amd64", "linux", "1970-01-01T00:00:00Z")
    manifest = build_manifest(
        config_descriptor(config), [layer_descriptor(layer.digest, layer.size)], {"x": "y"}
    )
    assert read_manifest_layers(manifest) == (config_descriptor(config).digest, [layer.digest])
    assert read_config_labels(config) == {"a": "b"}
    out = tmp_path / "out"
    unpack_layers([layer.path], out)
    assert (out / "models/m/1/model.onnx").read_bytes() == b"onnx" * 100
