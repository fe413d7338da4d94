"""What `aiedge serve` costs to start: a real process serving one ONNX model imports no runtime
it does not use (OpenVINO, LightGBM, scikit-learn) and none of the CLI's other parts (the hub's
database layer, the agent, builds, S3, an HTTP client), and stays under 150 MB resident. Imports are read from
the process's own ``-X importtime`` log, which names every module as it is first imported."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import Proc, free_port, wait_http

NOT_FOR_ONNX = (
    "openvino",
    "lightgbm",
    "sklearn",
    "skl2onnx",
    "boto3",
    "botocore",
    "sqlalchemy",
    "psycopg",
    "httpx",  # only the shadow mirror sends requests, and only once the agent sets a target
    "aiedge.hub",
    "aiedge.agent",
    "aiedge.builder",
    "aiedge.gitops",
)


def test_an_onnx_model_imports_only_what_it_needs(shared: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    model = str(shared / "seed-models/onnx-mnist")
    cmd = [sys.executable, "-X", "importtime", "-m", "aiedge", "serve", model, "--name", "mnist"]
    proc = Proc([*cmd, "--http-port", str(port), "--grpc-port", str(free_port())], log)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/models/mnist/ready", timeout=90)
        rss_mb = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    finally:
        proc.stop()
    imported = {
        line.split("|")[-1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("import time:")
    }
    assert "onnxruntime" in imported and "grpc" in imported  # the log is read right
    unwanted = sorted(m for m in imported if m.split(".")[0] in NOT_FOR_ONNX or m.startswith(NOT_FOR_ONNX))
    assert not unwanted, unwanted
    assert rss_mb < 150, f"{rss_mb:.0f} MB resident"
