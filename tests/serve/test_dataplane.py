"""The data plane in-process (``aiedge.serve.dataplane``), with real models and no HTTP: inference
on the demo's ONNX model; what a request declares is checked against the signature; unknown
models and versions, a model that failed to load, and a full queue are serve errors (each
transport maps them to its statuses); metadata and the repository index."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from aiedge.demo.model import TEST_ROW, predict, write_demo_model
from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import BadRequest, ModelNotFound, ModelNotReady, Overloaded
from aiedge.serve.metrics import ServeMetrics
from aiedge.serve.registry import FAILED, READY, ModelRegistry
from aiedge.serve.runtimes.base import LoadOptions


def _plane(tmp_path: Path, metrics: CollectorRegistry | None = None, **kwargs: int) -> DataPlane:
    registry = ModelRegistry()
    registry.add("demo", {"1": write_demo_model(tmp_path / "demo")})
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not onnx")
    registry.add("broken", {"1": broken})
    registry.load_all(LoadOptions())
    plane = DataPlane(registry, ServeMetrics(metrics or CollectorRegistry()), **kwargs)
    plane.record_loaded()
    return plane


def test_inference_and_the_signature_check(tmp_path: Path) -> None:
    plane = _plane(tmp_path)
    mv = plane.loaded("demo")
    rows = np.asarray([TEST_ROW, TEST_ROW], dtype=np.float32)
    out = asyncio.run(plane.infer(mv, {"x": rows}))
    assert list(out) == ["predictions"] and np.allclose(out["predictions"], predict(rows))
    with pytest.raises(BadRequest, match="x"):
        asyncio.run(plane.infer(mv, {"x": np.zeros((1, 3), dtype=np.float32)}))  # 3 features, not 8
    with pytest.raises(BadRequest):
        asyncio.run(plane.infer(mv, {"nope": rows}))


def test_unknown_and_failed_models_are_errors_not_crashes(tmp_path: Path) -> None:
    plane = _plane(tmp_path)
    with pytest.raises(ModelNotFound, match="'other' is not served here"):
        plane.loaded("other")
    with pytest.raises(ModelNotFound, match="no version '2'"):
        plane.loaded("demo", "2")
    assert plane.model_ready("broken").state == FAILED
    with pytest.raises(ModelNotReady, match="'broken' version 1 is failed"):
        plane.loaded("broken")
    assert not plane.ready() and plane.live()  # one failed model: not ready, still up
    index = {m["name"]: m for m in plane.repository_index()}
    assert index["demo"]["state"] == "READY" and index["broken"]["state"] == "UNAVAILABLE"
    assert index["broken"]["reason"]
    assert [m["name"] for m in plane.repository_index(ready_only=True)] == ["demo"]
    meta = plane.model_metadata("demo")
    assert meta["state"] == READY and meta["platform"] and meta["inputs"][0]["name"] == "x"
    assert "reason" in plane.model_metadata("broken")


def test_past_its_slots_and_queue_a_model_refuses_at_once(tmp_path: Path) -> None:
    metrics = CollectorRegistry()
    plane = _plane(tmp_path, metrics, slots=1, queue=0)
    mv = plane.loaded("demo")
    row = {"x": np.asarray([TEST_ROW], dtype=np.float32)}

    async def two_at_once() -> list[object]:
        # a first predict runs on a worker thread (it has not been timed yet), holding the slot
        return await asyncio.gather(plane.infer(mv, row), plane.infer(mv, row), return_exceptions=True)

    first, second = asyncio.run(two_at_once())
    assert isinstance(first, dict) and isinstance(second, Overloaded) and "busy" in str(second)
    asyncio.run(plane.infer(mv, row))  # the slot is free again
    assert metrics.get_sample_value("aiedge_serve_rejected_total", {"model": "demo"}) == 1
