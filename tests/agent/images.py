"""Test images: a tiny ONNX model (``y = x @ W + b`` over 4 floats) packed as an OCI image and
pushed to the real test registry with the plain distribution API, so the agent's pull path is
tested against images it did not write itself."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import httpx
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from aiedge.contracts import DesiredApp, SmokeTest
from tests.support import free_port

MODEL_PATH_LABEL = "io.aiedge.model.path"
MODEL_NAME_LABEL = "io.aiedge.model.name"
ROW = [1.0, 2.0, 3.0, 4.0]


def model_bytes(scale: float) -> bytes:
    """``y = x @ (scale * [1, 1, 1, 1]) + 0.5``: the test row answers ``10 * scale + 0.5``."""
    w = numpy_helper.from_array(np.full((4, 1), scale, dtype=np.float32), "w")
    b = numpy_helper.from_array(np.asarray([0.5], dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def answer(scale: float) -> float:
    return float(np.float32(sum(ROW)) * np.float32(scale) + np.float32(0.5))


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue(), gzip.compress(raw.getvalue(), mtime=0)


def push_model_image(
    registry: str,
    repository: str,
    model: str,
    scale: float,
    extra: bytes = b"",
    label: bool = True,
    architecture: str = "amd64",
) -> str:
    """Push an image serving ``model`` (folder ``models/<model>``); returns REGISTRY/REPO@DIGEST."""
    files = {f"models/{model}/model.onnx": model_bytes(scale)}
    if extra:
        files[f"models/{model}/NOTES.bin"] = extra
    tar, layer = _layer(files)
    return push_layer_image(registry, repository, model, layer, _digest(tar), label, architecture)


def push_layer_image(
    registry: str,
    repository: str,
    model: str,
    layer: bytes,
    diff_id: str,
    label: bool = True,
    architecture: str = "amd64",
) -> str:
    """Push an image of one given tar+gzip ``layer`` (labelled as serving ``models/<model>``)."""
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Labels": {MODEL_PATH_LABEL: f"models/{model}", MODEL_NAME_LABEL: model} if label else {}
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        },
        sort_keys=True,
    ).encode()
    base = f"http://{registry}/v2/{repository}"
    with httpx.Client(timeout=30) as c:
        for blob in (config, layer):
            r = c.post(f"{base}/blobs/uploads/")
            assert r.status_code == 202, r.text
            loc = httpx.URL(f"http://{registry}").join(r.headers["location"])
            r = c.put(
                loc.copy_add_param("digest", _digest(blob)),
                content=blob,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert r.status_code == 201, r.text
        r = c.put(
            f"{base}/manifests/{_digest(manifest)}",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status_code == 201, r.text
    return f"{registry}/{repository}@{_digest(manifest)}"


def predict_body() -> dict[str, object]:
    return {"instances": [ROW]}


def smoke_test(model: str, scale: float) -> SmokeTest:
    """A TF-Serving smoke test expecting the answer of a model made with ``scale``."""
    return SmokeTest(
        path=f"/v1/models/{model}/versions/1:predict",
        request=predict_body(),
        response={"predictions": [[answer(scale)]]},
    )


def app(name: str, image: str, model: str, smoke: SmokeTest | None = None) -> DesiredApp:
    """An app on two fresh loopback ports (HTTP and gRPC)."""
    return DesiredApp(
        name=name, model=model, image=image, port=free_port(), grpc_port=free_port(), smoke_test=smoke
    )
