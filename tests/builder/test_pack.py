"""pack(): the model's layout under models/NAME, big files in their own layers, reproducibility."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from aiedge.builder.errors import BuildError
from aiedge.builder.inspect import inspect_model, version_dir
from aiedge.builder.pack import BIG_FILE, ImageMeta, pack

META = ImageMeta(name="m", format="onnx", signature_json="{}", created=0)


def _names(path: Path) -> list[str]:
    with tarfile.open(path, "r:gz") as tar:
        return [m.name for m in tar.getmembers() if m.isfile()]


def test_big_files_get_their_own_layer(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "1").mkdir(parents=True)
    (src / "1" / "weights.bin").write_bytes(os.urandom(BIG_FILE + 1))
    (src / "1" / "model.xml").write_text("<xml/>")
    (src / "README").write_text("hi")
    image = pack(src, META, tmp_path / "out")
    assert [_names(x.path) for x in image.layers] == [
        ["models/m/1/model.xml", "models/m/README"],
        ["models/m/1/weights.bin"],
    ]
    assert pack(src, META, tmp_path / "again").digest == image.digest
    assert image.model_path == "models/m"


def test_single_file_and_links(tmp_path: Path) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(b"x")
    assert _names(pack(f, META, tmp_path / "out").layers[0].path) == ["models/m/model.onnx"]
    d = tmp_path / "d"
    d.mkdir()
    (d / "link").symlink_to(f)
    with pytest.raises(BuildError, match="links"):
        pack(d, META, tmp_path / "out2")


def test_version_folders_load_the_highest(shared: Path) -> None:
    mnist = shared / "seed-models" / "onnx-mnist"
    assert version_dir(mnist) == mnist / "1"
    info = inspect_model(mnist)
    assert info.format == "onnx" and info.signature.inputs[0].name == "Input3"
