"""run_build() in-process (``aiedge.builder.pipeline``) against a real registry: the packed model is
served by a real ``aiedge serve`` child and passes its smoke test before the push; a wrong
expected answer stops the build before anything is pushed; bad requests are refused before any
work."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from aiedge.builder.errors import BuildError, SmokeTestFailed
from aiedge.builder.pipeline import BuildRequest, check_request
from aiedge.demo.model import DEMO_MODEL_NAME, demo_test_data
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from tests.builder.helpers import build, pull


def _request(model: Path, image: str, tmp_path: Path, response: object | None = None) -> BuildRequest:
    """A build of the demo model with its test data (``response``: another expected answer)."""
    data = demo_test_data()
    if response is not None:
        data["response"] = response
    test_data = tmp_path / "test-data.json"
    test_data.write_text(json.dumps(data))
    return BuildRequest(
        model=model,
        name=DEMO_MODEL_NAME,
        image=ImageReference.parse(image),
        test_data=test_data,
        workdir=tmp_path / "work",
    )


def test_the_packed_model_passes_its_smoke_test_before_the_push(
    onnx_model: Path, registry: str, tmp_path: Path
) -> None:
    result = build(_request(onnx_model, f"{registry}/pipeline/housing:1", tmp_path))
    assert result.smoke is not None and result.smoke.ok
    assert result.image == f"{registry}/pipeline/housing@{result.digest}"
    manifest, _ = pull(registry, "pipeline/housing", result.digest)
    assert manifest["layers"]
    # the trial's server wrote its log beside the build's other work
    log = (tmp_path / "work" / "logs" / f"{DEMO_MODEL_NAME}.log").read_text()
    assert f"starting {DEMO_MODEL_NAME}" in log


def test_a_wrong_answer_stops_the_build_before_the_push(
    onnx_model: Path, registry: str, tmp_path: Path
) -> None:
    req = _request(onnx_model, f"{registry}/pipeline/wrong:1", tmp_path, {"predictions": [1.0]})
    with pytest.raises(SmokeTestFailed, match=r"\$\.predictions\[0\]: expected 1\.0, got 6\.5"):
        build(req)

    async def pushed() -> bool:
        async with RegistryClient(registry) as client:
            return await client.find_manifest("pipeline/wrong", "1") is not None

    assert not asyncio.run(pushed())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "no spaces"}, "must be letters"),
        ({"image": ImageReference.parse(f"r.example/a@sha256:{'0' * 64}")}, "the digest is what the build"),
        ({"app": "housing"}, "--gitops and --app go together"),
        ({"test_container": True}, "--test-container needs --base"),
        ({"update_model_name": True}, "--update-model-name changes the App"),
    ],
)
def test_bad_requests_are_refused_before_any_work(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "model": Path("/nonexistent"),
        "name": "m",
        "image": ImageReference.parse("r.example/a:1"),
        **changes,
    }
    with pytest.raises(BuildError, match=message):
        check_request(BuildRequest(**fields))  # type: ignore[arg-type]
