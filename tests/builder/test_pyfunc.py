"""`aiedge build` of MLflow pyfunc models: refused without --allow-pickle and without --base (one
line, exit 1); requirements.txt lines that are not exact pins from an index refused with their
file:line; a requirement that cannot be met refused naming it; with both flags, the model's pinned
requirements installed into its own environment in the image's model layer, the packed image
smoke-tested on /invocations from that environment, and its entrypoint carrying the opt-in."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from aiedge.builder.errors import ModelInvalid
from aiedge.builder.pipeline import BuildRequest
from aiedge.builder.pyfunc import read_requirements
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from tests.builder.helpers import build, cli, pull
from tests.builder.test_stack import push_base
from tests.pyfunc_models import EXTRA_ANSWER, save_pyfunc_model


def _layer(registry: str, repository: str, digest: str) -> bytes:
    async def get() -> bytes:
        async with RegistryClient(registry) as client:
            return await client.get_blob_bytes(repository, digest, limit=1 << 30)

    return asyncio.run(get())


def _cli_build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli("build", *args), capture_output=True, text=True, timeout=300, check=False)


def test_refused_without_the_opt_in_or_a_base(tmp_path: Path, registry: str) -> None:
    model = save_pyfunc_model(tmp_path / "bikes")
    image = f"{registry}/pyfunc/bikes:1"
    for extra, wanted in (([], "--allow-pickle"), (["--allow-pickle"], "give --base IMAGE")):
        done = _cli_build(str(model), "--name", "bikes", "--image", image, *extra)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
        assert wanted in lines[0] and str(model) in lines[0], lines[0]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("-e .", "pip options are not taken"),
        ("--index-url http://evil.example/simple", "pip options are not taken"),
        ("six>=1.16", "pin exactly one version"),
        ("six @ https://evil.example/six.whl", "pin exactly one version"),
        ("six==1.*", "pin exactly one version"),
        ("six=1.16", "is not a requirement"),
    ],
)
def test_requirements_must_be_exact_pins(tmp_path: Path, line: str, why: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"# pinned\nmlflow-skinny==3.17.2\n{line}\n")
    with pytest.raises(ModelInvalid) as e:
        read_requirements(tmp_path)
    assert f"{tmp_path / 'requirements.txt'}:3:" in str(e.value) and why in str(e.value)


def test_unmet_requirement_refused_naming_it(tmp_path: Path, registry: str) -> None:
    model = save_pyfunc_model(tmp_path / "bikes", extra="six==99.0.0")
    base, _ = push_base(registry, tmp_path)
    done = _cli_build(
        str(model), "--name", "bikes", "--image", f"{registry}/pyfunc/bad:1", "--base", base, "--allow-pickle"
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert "cannot be met" in lines[0] and "six==99.0.0" in lines[0], lines[0]


def test_runnable_image_holds_the_model_environment(tmp_path: Path, registry: str) -> None:
    model = save_pyfunc_model(tmp_path / "bikes")
    base, _ = push_base(registry, tmp_path)
    test_data = tmp_path / "test-data.json"
    request = {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}
    test_data.write_text(json.dumps({"request": request, "response": {"predictions": [EXTRA_ANSWER]}}))
    req = BuildRequest(
        model=model,
        name="bikes",
        image=ImageReference.parse(f"{registry}/pyfunc/bikes:1"),
        base=ImageReference.parse(base),
        allow_pickle=True,
        test_data=test_data,
        wheel_cache=tmp_path / "wheels",
    )
    result = build(req)
    assert result.format == "mlflow-pyfunc"
    assert result.smoke is not None and result.smoke.ok  # served from the packed layers' environment
    assert not (model / ".pyfunc-env").exists()  # the build installs into its own copy
    manifest, config = pull(registry, "pyfunc/bikes", result.digest)
    assert config["config"]["Entrypoint"][-1] == "--allow-pickle"
    names: set[str] = set()
    for layer in manifest["layers"][1:]:  # the base's first
        with tarfile.open(fileobj=io.BytesIO(_layer(registry, "pyfunc/bikes", layer["digest"]))) as tar:
            names |= set(tar.getnames())
    site = "models/bikes/.pyfunc-env/site-packages"
    assert f"{site}/six.py" in names and f"{site}/six-1.16.0.dist-info/METADATA" in names
    assert "models/bikes/.pyfunc-env/python.txt" in names and "models/bikes/MLmodel" in names
