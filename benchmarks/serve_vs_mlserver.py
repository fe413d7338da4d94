"""Benchmark: `aiedge serve` against Seldon MLServer 1.7 on the same model, machine and run.

A 100-tree GradientBoostingRegressor on 8 float32 features (the serve issue's reference case)
is served by both; wrk drives 1-row V2 REST infer requests at concurrency 1, 8 and 64. The table
shows req/s, p50, p99, RSS of the whole process tree and time to ready, and our/their ratio.

    .venv/bin/python benchmarks/serve_vs_mlserver.py [--seconds 10] [--skip-mlserver]

MLServer is installed on first use in its own venv (.bench/mlserver) with `uvloop<0.22`
(MLServer 1.7.1's workers fail to start with newer uvloop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WrkResult, free_port, start, stop, tree_rss_mb, wait_ready, wrk

ROOT = Path(__file__).resolve().parent.parent
MLSERVER_VENV = ROOT / ".bench" / "mlserver"
CONCURRENCY = (1, 8, 64)
BODY = json.dumps(
    {
        "inputs": [
            {
                "name": "input-0",
                "shape": [1, 8],
                "datatype": "FP32",
                "data": [8.3252, 41.0, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23],
            }
        ]
    }
).encode()


def ensure_mlserver() -> Path:
    py = MLSERVER_VENV / "bin" / "python"
    if not (MLSERVER_VENV / "bin" / "mlserver").exists():
        print("installing MLServer 1.7 into .bench/mlserver ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        import sklearn

        subprocess.run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "-q",
                "mlserver==1.7.*",
                "mlserver-sklearn==1.7.*",
                "uvloop<0.22",
                f"scikit-learn=={sklearn.__version__}",
            ],
            check=True,
        )
    return MLSERVER_VENV / "bin" / "mlserver"


def train(dest: Path) -> float:
    """Train and save the model; returns the in-process predict time (us) of the runtime aiedge uses."""
    import joblib
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8)).astype(np.float32)
    y = (x @ rng.normal(size=8) + rng.normal(scale=0.1, size=2000)).astype(np.float32)
    model = GradientBoostingRegressor(n_estimators=100, random_state=0).fit(x, y)
    dest.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, dest / "model.joblib")
    (dest / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "gbr",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            }
        )
    )
    t0 = time.perf_counter()
    row = x[:1]
    for _ in range(1000):
        model.predict(row)
    print(f"in-process sklearn predict, 1 row: {(time.perf_counter() - t0) * 1000:.0f} us", file=sys.stderr)
    from aiedge.serve.loader import load_model
    from aiedge.serve.runtimes.base import LoadOptions

    converted = load_model(dest / "model.joblib", options=LoadOptions(allow_pickle=True))  # we wrote it
    feed = {"input-0": row.astype(np.float64)}
    converted.predict(feed)
    t0 = time.perf_counter()
    for _ in range(2000):
        converted.predict(feed)
    return (time.perf_counter() - t0) / 2000 * 1e6


def measure(
    name: str,
    cmd: list[str],
    port: int,
    work: Path,
    seconds: int,
    grpc_port: int,
    env: dict[str, str] | None = None,
) -> dict[str, object]:
    proc = start(cmd, work / f"{name}.log", env=env)
    try:
        ready_s = wait_ready(f"http://127.0.0.1:{port}/v2/models/gbr/ready", proc)
        url = f"http://127.0.0.1:{port}/v2/models/gbr/infer"
        wrk(url, BODY, 4, 2, work / "wrk")  # warm-up
        rows = {}
        handler_us = None
        for c in CONCURRENCY:
            before = _histogram_sums(port) if name == "aiedge" and c == 1 else None
            rows[c] = wrk(url, BODY, c, seconds, work / "wrk")
            if before is not None:
                handler_us = server_overhead_us(before, _histogram_sums(port))
        grpc_rps = asyncio.run(grpc_load(f"127.0.0.1:{grpc_port}", seconds, 8))
        rss = tree_rss_mb(proc.pid)
    finally:
        stop(proc)
    return {"ready_s": ready_s, "rss_mb": rss, "rows": rows, "grpc_rps": grpc_rps, "handler_us": handler_us}


async def grpc_load(addr: str, seconds: int, concurrency: int) -> float:
    """Requests/s of 1-row V2 gRPC infers from ``concurrency`` tasks on one channel (Python client)."""
    import grpc

    from aiedge.serve.grpc.proto import open_inference_pb2 as pb
    from aiedge.serve.grpc.proto import open_inference_pb2_grpc as pb_grpc

    row = json.loads(BODY)["inputs"][0]["data"]
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input-0", datatype="FP32", shape=[1, 8], contents=pb.InferTensorContents(fp32_contents=row)
    )
    request = pb.ModelInferRequest(model_name="gbr", inputs=[tensor])
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        await stub.ModelInfer(request)
        done = 0
        until = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < until:
                await stub.ModelInfer(request)
                done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - t0)


def _histogram_sums(port: int) -> dict[str, float]:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text):
        for smp in family.samples:
            if smp.name.endswith(("_sum", "_count")) and smp.labels.get("model") == "gbr":
                sums[smp.name] = sums.get(smp.name, 0.0) + smp.value
    return sums


def server_overhead_us(before: dict[str, float], after: dict[str, float]) -> float:
    """Mean time our handlers spend around the runtime's predict (decode, checks, encode) between two
    snapshots of the server's own histograms: request duration minus inference duration."""

    def mean(name: str) -> float:
        n = after[f"{name}_count"] - before.get(f"{name}_count", 0.0)
        return (after[f"{name}_sum"] - before.get(f"{name}_sum", 0.0)) / n

    req = mean("aiedge_serve_request_duration_seconds")
    inf = mean("aiedge_serve_inference_duration_seconds")
    return (req - inf) * 1e6


def mnist_row(seconds: int, work: Path) -> WrkResult | None:
    """aiedge serving the seed's ONNX mnist (when ../shared is there), V2 JSON, c=8."""
    model = ROOT.parent / "shared" / "seed-models" / "onnx-mnist"
    if not model.is_dir():
        return None
    port = free_port()
    proc = start(
        [
            str(ROOT / ".venv/bin/aiedge"),
            "serve",
            str(model),
            "--name",
            "mnist",
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
        ],
        work / "mnist.log",
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/models/mnist/ready", proc)
        body = json.dumps(
            {"inputs": [{"name": "Input3", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [0.5] * 784}]}
        ).encode()
        url = f"http://127.0.0.1:{port}/v2/models/mnist/infer"
        wrk(url, body, 4, 2, work / "wrk")
        return wrk(url, body, 8, seconds, work / "wrk")
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per concurrency level")
    ap.add_argument("--skip-mlserver", action="store_true", help="measure aiedge only")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiedge-bench-"))
    model_dir = work / "gbr"
    predict_us = train(model_dir)
    results: dict[str, dict[str, object]] = {}
    if not args.skip_mlserver:
        mlserver = ensure_mlserver()
        port, grpc_port = free_port(), free_port()
        (model_dir / "settings.json").write_text(
            json.dumps(
                {"http_port": port, "grpc_port": grpc_port, "metrics_port": free_port(), "host": "127.0.0.1"}
            )
        )
        results["mlserver"] = measure(
            "mlserver", [str(mlserver), "start", str(model_dir)], port, work, args.seconds, grpc_port
        )
        (model_dir / "settings.json").unlink()
    port, grpc_port = free_port(), free_port()
    cmd = [
        str(ROOT / ".venv/bin/aiedge"),
        "serve",
        str(model_dir),
        "--name",
        "gbr",
        "--http-port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        "--allow-pickle",  # the benchmark's own model, the same pickle MLServer loads
    ]
    results["aiedge"] = measure("aiedge", cmd, port, work, args.seconds, grpc_port)
    print_table(results)
    ours = results["aiedge"]
    p50_us = ours["rows"][1].p50_ms * 1000  # type: ignore[index]
    print(
        f"\nc=1 overhead over the runtime's in-process predict ({predict_us:.1f} us): "
        f"{p50_us - predict_us:.0f} us end to end (wrk p50, loopback, client included), "
        f"{ours['handler_us']:.0f} us inside our handlers"
    )
    mnist = mnist_row(args.seconds, work)
    if mnist is not None:
        print(
            f"aiedge, seed mnist ONNX, V2 JSON, c=8: {mnist.rps:.0f} req/s, p50 {mnist.p50_ms:.2f} ms, "
            f"p99 {mnist.p99_ms:.2f} ms"
        )


def print_table(results: dict[str, dict[str, object]]) -> None:
    names = list(results)
    print(f"\n{'server':<10} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for n in names:
        for c, r in results[n]["rows"].items():  # type: ignore[attr-defined]
            print(f"{n:<10} {c:>4} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6}")
    for n in names:
        print(
            f"{n:<10} ready {results[n]['ready_s']:.1f} s, RSS {results[n]['rss_mb']:.0f} MB (process tree)"
        )
    if len(names) == 2:
        ours, theirs = results["aiedge"], results["mlserver"]
        print(f"\n{'conc':>4} {'req/s ratio (aiedge/mlserver)':>30} {'p99 ratio':>10}")
        for c in CONCURRENCY:
            a, b = ours["rows"][c], theirs["rows"][c]  # type: ignore[index]
            print(f"{c:>4} {a.rps / b.rps:>30.2f} {a.p99_ms / b.p99_ms:>10.2f}")
        g_ours, g_theirs = float(ours["grpc_rps"]), float(theirs["grpc_rps"])  # type: ignore[arg-type]
        print(
            f"gRPC, Python client, c=8: aiedge {g_ours:.0f} req/s, MLServer {g_theirs:.0f} req/s, "
            f"ratio {g_ours / g_theirs:.2f}"
        )
        print(f"RSS ratio {float(ours['rss_mb']) / float(theirs['rss_mb']):.2f}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
