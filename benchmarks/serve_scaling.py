"""Benchmark: what dynamic batching and worker processes give `aiedge serve`, same machine, same run.

Batching: a small image model with a variable batch (Conv, Relu, pool, Gemm on [N, 1, 28, 28]),
served as ONNX (ONNX Runtime) and as OpenVINO IR, driven by wrk at c=64 with 1-image V2 requests
in Triton's binary tensor format, without batching and with ``--max-batch 16 --batch-delay
0.002``: req/s, p50, p99, and predicts per request (from /metrics).

Workers: the tabular ONNX model of ``serve_vs_mlserver.py`` with ``--workers 1`` and ``--workers 2``
at c=8 and c=64 (wrk itself takes a core: on a 2-core machine the second worker has less than one).

    .venv/bin/python benchmarks/serve_scaling.py [--seconds 8] [--skip-batching] [--skip-workers]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import free_port, start, stop, wait_ready, wrk
from serve_vs_mlserver import V2_BODY, aiedge_cmd, train
from tests.serve.models import cnn_model


def _binary_body() -> tuple[bytes, str]:
    image = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 1, 28, 28],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": image.nbytes},
                }
            ]
        }
    ).encode()
    return head + image.tobytes(), str(len(head))


def _predicts(port: int, model: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "aiedge_serve_inference_duration_seconds_count" and s.labels.get("model") == model
    )


def batching(seconds: int, work: Path) -> None:
    cnn_model(work / "cnn/onnx/1/model.onnx")
    import openvino as ov

    ov.save_model(ov.convert_model(str(work / "cnn/onnx/1/model.onnx")), str(work / "cnn/ir/1/model.xml"))
    body, head_len = _binary_body()
    print(f"\n{'model':<14} {'batching':<22} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'predicts/req':>12}")
    for label, folder in (("ONNX Runtime", "onnx"), ("OpenVINO IR", "ir")):
        for how, extra in (("off", []), ("16 rows, 2 ms", ["--max-batch", "16", "--batch-delay", "0.002"])):
            port = free_port()
            cmd = aiedge_cmd(work / "cnn" / folder, port, 0, *extra)
            cmd[cmd.index("gbr")] = "cnn"
            proc = start(cmd, work / f"cnn-{folder}.log")
            try:
                url = f"http://127.0.0.1:{port}/v2/models/cnn/infer"
                wait_ready(f"http://127.0.0.1:{port}/v2/models/cnn/ready", proc)
                headers = {"Inference-Header-Content-Length": head_len}
                wrk(url, body, 8, 2, work / "wrk", "application/octet-stream", headers)
                before = _predicts(port, "cnn")
                r = wrk(url, body, 64, seconds, work / "wrk", "application/octet-stream", headers)
                per_request = (_predicts(port, "cnn") - before) / max(r.requests, 1)
                cells = f"{r.rps:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {per_request:>12.2f}"
                print(f"{label:<14} {how:<22} {cells}")
            finally:
                stop(proc)


def workers(seconds: int, work: Path) -> None:
    train(work / "gbr")
    print(f"\n{'workers':>7} {'conc':>4} {'req/s':>8} {'p99 ms':>7}")
    for n in (1, 2):
        port = free_port()
        proc = start(aiedge_cmd(work / "gbr/onnx", port, 0, "--workers", str(n)), work / f"workers-{n}.log")
        try:
            url = f"http://127.0.0.1:{port}/v2/models/gbr/infer"
            wait_ready(f"http://127.0.0.1:{port}/v2/models/gbr/ready", proc)
            wrk(url, V2_BODY, 8, 2, work / "wrk")
            for c in (8, 64):
                r = wrk(url, V2_BODY, c, seconds, work / "wrk")
                print(f"{n:>7} {c:>4} {r.rps:>8.0f} {r.p99_ms:>7.2f}")
        finally:
            stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8, help="wrk duration per run")
    ap.add_argument("--skip-batching", action="store_true")
    ap.add_argument("--skip-workers", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiedge-bench-"))
    if not args.skip_batching:
        batching(args.seconds, work)
    if not args.skip_workers:
        workers(args.seconds, work)


if __name__ == "__main__":
    main()
