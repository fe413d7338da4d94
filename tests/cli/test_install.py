"""aiedge installed like a real tool: the wheel built from this tree carries everything the CLI
reads at run time (dashboard files, protos, OpenAPI), and installed into a fresh venv outside the
repo with its default set (no extras) it serves an ONNX model, stays well under the dev venv's
size, holds none of the optional runtimes and backends, and names the extra a model needs when
its runtime is missing (``model X is ... : install aiedge[openvino]``).

pip installs from the indexes this machine is configured with (PyPI and local ones)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import predict_demo, start_demo
from tests.support import REPO_ROOT, Proc, free_port, wait_until

pytestmark = pytest.mark.timeout(1200)

OPTIONAL = ("openvino", "lightgbm", "sklearn", "boto3", "psycopg")
# the default set in a venv, pip included; the dev venv with every extra and test tool is ~2 GiB
MAX_DEFAULT_MIB = 450


def _env() -> dict[str, str]:
    """The environment of the installed tool: nothing of this checkout on its path (empty, not
    unset, so that it also wins where the environment is merged into the test's own)."""
    return {**os.environ, "PYTHONPATH": "", "VIRTUAL_ENV": ""}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # built from a copy, so that the build's own folders (build/, *.egg-info) stay out of the tree
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    r = subprocess.run([*cmd, str(source)], capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    (found,) = out.glob("aiedge-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300, env=_env())
    r = subprocess.run(
        [str(root / "bin" / "pip"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env=_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    yield root


def _size_mib(root: Path) -> float:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total / (1 << 20)


def test_the_wheel_carries_what_the_cli_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "aiedge/hub/static/index.html",
        "aiedge/hub/static/app.js",
        "aiedge/hub/static/app.css",
        "aiedge/serve/grpc/proto/open_inference.proto",
        "aiedge/serve/rest/openapi.yaml",
        "aiedge/py.typed",
    ):
        assert needed in names, needed
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("dist-info/METADATA")))
    for extra in ("openvino", "lightgbm", "sklearn", "s3", "postgres", "all"):
        assert f"Provides-Extra: {extra}".encode() in metadata, extra


def test_a_fresh_install_serves_onnx_and_names_the_missing_extras(
    venv: Path, shared: Path, tmp_path: Path
) -> None:
    size = _size_mib(venv)
    print(f"default install: {size:.0f} MiB in {venv}")
    assert size < MAX_DEFAULT_MIB, size
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "onnxruntime").is_dir() and (site / "aiedge").is_dir()
    assert not [m for m in OPTIONAL if (site / m).exists()], sorted(p.name for p in site.iterdir())
    aiedge = str(venv / "bin" / "aiedge")
    version = subprocess.run([aiedge, "version"], capture_output=True, text=True, env=_env(), check=False)
    assert version.returncode == 0 and version.stdout.startswith("aiedge "), version.stderr

    port = free_port()
    mnist = shared / "seed-models" / "onnx-mnist"
    housing = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    cmd = [aiedge, "serve", str(mnist), str(housing), "-n", "mnist", "-n", "housing", "-p", str(port)]
    server = Proc([*cmd, "--grpc-port", "0"], tmp_path / "serve.log", env=_env(), cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        # models load after the server starts listening: ready, not live, says mnist can answer
        wait_until(
            lambda: httpx.get(f"{url}/v2/models/mnist/ready", timeout=2).status_code == 200, timeout=180
        )
        body = {
            "inputs": [{"name": "Input3", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [0.0] * 784}]
        }
        r = httpx.post(f"{url}/v2/models/mnist/infer", json=body, timeout=30)
        assert r.status_code == 200 and len(r.json()["outputs"][0]["data"]) == 10, r.text

        def housing_failed() -> bool:
            answer = httpx.get(f"{url}/v2/models/housing/ready", timeout=10).json()
            return "install" in str(answer.get("reason"))

        wait_until(housing_failed, timeout=180)
        ready = httpx.get(f"{url}/v2/models/housing/ready", timeout=10).json()
        assert ready["ready"] is False
        assert ready["reason"].startswith(
            f"model {housing} is a TensorFlow SavedModel (served by OpenVINO): "
        )
        assert "install aiedge[openvino]" in ready["reason"], ready
    finally:
        server.stop()


def test_the_installed_wheel_runs_the_demo(venv: Path, tmp_path: Path) -> None:
    """No checkout anywhere in sight: the examples, the demo model and every process it starts
    come from the installed package (run from a folder outside the repo)."""
    demo = start_demo(tmp_path / "demo", exe=[str(venv / "bin" / "aiedge")], env=_env(), timeout=600)
    try:
        assert set(demo.sites) == {"site-a", "site-b", "site-c"}, demo.lines
        assert predict_demo(demo.sites["site-b"]) == [6.5]
        assert demo.api("/api/v1/sites")
    finally:
        assert demo.stop() == 0


def test_the_full_base_image_gets_the_runtime_extras(wheel: Path) -> None:
    from aiedge.containers.wheels import runtime_requirements, wheel_requirements

    declared = wheel_requirements(wheel)
    full = {r.split("<")[0].split(">")[0].split("[")[0] for r in runtime_requirements(True, declared)}
    slim = {r.split("<")[0].split(">")[0].split("[")[0] for r in runtime_requirements(False, declared)}
    assert {"openvino", "lightgbm", "scikit-learn", "psycopg", "onnxruntime"} <= full, full
    assert not {"pytest", "boto3", "aiedge"} & full, full
    assert not {"openvino", "onnxruntime", "scikit-learn"} & slim and "httpx" in slim, slim
