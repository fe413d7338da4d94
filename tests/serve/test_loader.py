"""Format detection, the format -> runtime table and ``load_model`` in-process, on the seed models:
each runtime claims its own formats, ONNX runs on ONNX Runtime or OpenVINO with the same answer,
and unknown formats or runtimes are errors that name what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError, UnknownModelFormat
from aiedge.serve.loader import load_model, runtime_for
from aiedge.serve.repository import discover_versions
from aiedge.serve.runtimes.base import LoadOptions


def test_formats_and_versions_of_the_seed_models(shared: Path) -> None:
    seeds = shared / "seed-models"
    assert formats.detect_format(seeds / "onnx-mnist/1") == "onnx"
    assert formats.detect_format(seeds / "tensorflow-housing/tf2model") == "tf-savedmodel"
    assert formats.detect_format(seeds / "lightgbm-iris") == "lightgbm"
    assert discover_versions(seeds / "onnx-mnist") == {"1": seeds / "onnx-mnist/1"}
    assert list(discover_versions(seeds / "lightgbm-iris")) == ["v0.1.0"]
    assert discover_versions(seeds / "tensorflow-housing/tf2model", "3") == {
        "3": seeds / "tensorflow-housing/tf2model"
    }


def test_each_runtime_claims_its_formats(shared: Path) -> None:
    mnist = shared / "seed-models/onnx-mnist/1"
    housing = shared / "seed-models/tensorflow-housing/tf2model"
    onnx_rt, openvino = runtime_for("onnx"), runtime_for("tf-savedmodel")
    assert (onnx_rt.name, openvino.name) == ("onnxruntime", "openvino")
    assert onnx_rt.can_load(mnist) and not onnx_rt.can_load(housing)
    assert openvino.can_load(housing) and openvino.can_load(mnist)
    assert runtime_for("onnx", LoadOptions(onnx_runtime="openvino")) is openvino
    assert runtime_for("lightgbm").can_load(shared / "seed-models/lightgbm-iris")
    with pytest.raises(ModelLoadError, match="tensorrt"):
        runtime_for("onnx", LoadOptions(onnx_runtime="tensorrt"))


def test_onnx_on_openvino_answers_like_onnxruntime(shared: Path) -> None:
    mnist = shared / "seed-models/onnx-mnist/1"
    on_ort = load_model(mnist)
    on_ov = load_model(mnist, options=LoadOptions(onnx_runtime="openvino"))
    assert on_ort.signature.platform == "onnxruntime" and on_ov.signature.platform == "openvino"
    assert on_ort.signature.inputs == on_ov.signature.inputs
    assert on_ort.signature.outputs == on_ov.signature.outputs
    image = {"Input3": np.random.default_rng(3).random((1, 1, 28, 28), dtype=np.float32)}
    np.testing.assert_allclose(
        on_ov.predict(image)["Plus214_Output_0"], on_ort.predict(image)["Plus214_Output_0"], atol=1e-5
    )


def test_housing_is_float32_by_default(shared: Path) -> None:
    model = load_model(shared / "seed-models/tensorflow-housing/tf2model")
    x = np.arange(1, 9, dtype=np.float32).reshape(1, 8)
    (out,) = model.predict({"x": x}).values()
    assert float(f"{out[0]:.9g}") == -28.7639923


def test_unknown_files_name_the_path_and_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("no model here")
    with pytest.raises(UnknownModelFormat, match=r"readme\.md") as e:
        formats.detect_format(tmp_path)
    assert str(tmp_path) in str(e.value)
    assert not formats.is_format(tmp_path, ("onnx",))
