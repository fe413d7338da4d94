"""Benchmark: `aiedge serve` against the ceiling of its own stack (and Seldon MLServer 1.7).

The reference case of the serve issues: a 100-tree GradientBoostingRegressor on 8 float32
features, 1-row requests. aiedge serves its ONNX export (what `aiedge build` packs, so sites never
unpickle); MLServer (with ``--mlserver``) serves the pickle with its sklearn runtime. The ceiling
is a bare ASGI app on the same uvicorn, uvloop and httptools that reads the body and answers a
fixed response (``serve_ceiling_app.py``); for gRPC, a bare ``grpc.aio`` servicer with a fixed
answer (``serve_grpc_ceiling.py``).

wrk drives V2 REST and TF-Serving REST at concurrency 1, 8 and 64, the servers interleaved, for
``--rounds`` rounds (medians shown). Besides req/s and the fraction of the ceiling measured in the
same round, the table shows the server's CPU time per request (from /proc): on a machine shared
with other work, req/s moves with the load, CPU per request much less, so ``cpu %`` (ceiling's CPU
per request / ours) says what fraction of the ceiling a core of our own would give. gRPC is driven
by the Python client (8 tasks on one channel). Then: RSS and time to ready of one tabular ONNX
model served with default flags, and which heavy libraries that process mapped.

    .venv/bin/python benchmarks/serve_vs_mlserver.py [--seconds 8] [--rounds 2] [--mlserver]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, start, stop, tree_cpu_s, tree_rss_mb, wait_ready, wrk

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
MLSERVER_VENV = ROOT / ".bench" / "mlserver"
CONCURRENCY = (1, 8, 64)
ROW = [8.3252, 41.0, 6.98, 1.02, 322.0, 2.55, 37.88, -122.23]
V2_BODY = json.dumps(
    {"inputs": [{"name": "input_0", "shape": [1, 8], "datatype": "FP32", "data": ROW}]}
).encode()
TF_BODY = json.dumps({"instances": [ROW]}).encode()
HEAVY = (
    "openvino",
    "lightgbm",
    "sklearn",
    "skl2onnx",
    "sqlalchemy",
    "psycopg",
    "boto",
    "grpc",
    "cryptography",
)


@dataclass
class Target:
    name: str  # row label
    url: str
    body: bytes
    pid: int
    rows: dict[int, list[tuple[float, float, float, float]]] = field(
        default_factory=dict
    )  # rps, p50, p99, cpu


def train(dest: Path) -> None:
    """The model, pickled (for MLServer) and exported to ONNX (for aiedge)."""
    import joblib
    import numpy as np
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8)).astype(np.float32)
    y = (x @ rng.normal(size=8) + rng.normal(scale=0.1, size=2000)).astype(np.float32)
    model = GradientBoostingRegressor(n_estimators=100, random_state=0).fit(x, y)
    (dest / "mlserver").mkdir(parents=True)
    joblib.dump(model, dest / "mlserver/model.joblib")
    (dest / "mlserver/model-settings.json").write_text(
        json.dumps(
            {
                "name": "gbr",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            }
        )
    )
    onx = convert_sklearn(
        model,
        initial_types=[("input_0", FloatTensorType([None, 8]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    (dest / "onnx/1").mkdir(parents=True)
    (dest / "onnx/1/model.onnx").write_bytes(onx.SerializeToString())


def ensure_mlserver() -> Path:
    py = MLSERVER_VENV / "bin" / "python"
    if not (MLSERVER_VENV / "bin" / "mlserver").exists():
        print("installing MLServer 1.7 into .bench/mlserver ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        import sklearn

        subprocess.run(
            [
                *(str(py), "-m", "pip", "install", "-q", "mlserver==1.7.*", "mlserver-sklearn==1.7.*"),
                *("uvloop<0.22", f"scikit-learn=={sklearn.__version__}"),
            ],
            check=True,
        )
    return MLSERVER_VENV / "bin" / "mlserver"


def aiedge_cmd(model: Path, port: int, grpc_port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aiedge",
        "serve",
        str(model),
        "--name",
        "gbr",
        "--http-port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        *extra,
    ]


def drive(targets: list[Target], seconds: int, rounds: int, work: Path) -> None:
    for t in targets:  # warm-up
        wrk(t.url, t.body, 4, 2, work / "wrk")
    for _ in range(rounds):
        for c in CONCURRENCY:
            for t in targets:
                cpu0 = tree_cpu_s(t.pid)
                r = wrk(t.url, t.body, c, seconds, work / "wrk")
                cpu_us = (tree_cpu_s(t.pid) - cpu0) / max(r.requests, 1) * 1e6
                if r.errors:
                    print(f"  {t.name} c={c}: {r.errors} errors", file=sys.stderr)
                t.rows.setdefault(c, []).append((r.rps, r.p50_ms, r.p99_ms, cpu_us))


def print_rest(targets: list[Target]) -> None:
    ceiling = targets[0]
    print(
        f"\n{'server':<22} {'conc':>4} {'req/s':>8} {'% ceil':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU us/req':>10} {'cpu %':>6}"
    )
    for t in targets:
        for c, rows in t.rows.items():
            rps = statistics.median(r[0] for r in rows)
            # the fraction of the ceiling in each round, then the median: rounds differ in load
            frac = statistics.median(r[0] / ce[0] for r, ce in zip(rows, ceiling.rows[c], strict=True))
            cpu = statistics.median(r[3] for r in rows)
            cpu_frac = statistics.median(ce[3] for ce in ceiling.rows[c]) / cpu
            p50 = statistics.median(r[1] for r in rows)
            p99 = statistics.median(r[2] for r in rows)
            cells = f"{rps:>8.0f} {frac:>7.0%} {p50:>7.2f} {p99:>7.2f} {cpu:>10.1f} {cpu_frac:>6.0%}"
            print(f"{t.name:<22} {c:>4} {cells}")


async def grpc_rate(addr: str, seconds: int, concurrency: int = 8) -> float:
    """Requests/s of 1-row V2 gRPC infers from ``concurrency`` tasks on one channel (Python client)."""
    import grpc

    from aiedge.serve.grpc.proto import open_inference_pb2 as pb
    from aiedge.serve.grpc.proto import open_inference_pb2_grpc as pb_grpc

    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input_0", datatype="FP32", shape=[1, 8], contents=pb.InferTensorContents(fp32_contents=ROW)
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


def startup(model: Path, work: Path) -> tuple[float, float, list[str]]:
    """(seconds from process start to ready, RSS MB, heavy libraries mapped) with default flags."""
    port = free_port()
    proc = start(aiedge_cmd(model, port, free_port()), work / "startup.log")
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/v2/models/gbr/ready", proc)
        time.sleep(1)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        return ready, tree_rss_mb(proc.pid), [h for h in HEAVY if f"/{h}" in maps]
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8, help="wrk duration per run")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (medians are shown)")
    ap.add_argument("--mlserver", action="store_true", help="also measure MLServer 1.7 (installs it once)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiedge-bench-"))
    train(work / "model")
    procs, targets = [], []
    try:
        port = free_port()
        procs.append(
            start([sys.executable, str(HERE / "serve_ceiling_app.py"), str(port)], work / "ceiling.log")
        )
        wait_ready(f"http://127.0.0.1:{port}/", procs[-1])
        targets.append(Target("ceiling (bare ASGI)", f"http://127.0.0.1:{port}/", V2_BODY, procs[-1].pid))
        port, grpc_port = free_port(), free_port()
        procs.append(start(aiedge_cmd(work / "model/onnx", port, grpc_port), work / "aiedge.log"))
        wait_ready(f"http://127.0.0.1:{port}/v2/models/gbr/ready", procs[-1])
        pid = procs[-1].pid
        targets.append(Target("aiedge V2", f"http://127.0.0.1:{port}/v2/models/gbr/infer", V2_BODY, pid))
        targets.append(
            Target("aiedge TF-Serving", f"http://127.0.0.1:{port}/v1/models/gbr:predict", TF_BODY, pid)
        )
        if args.mlserver:
            mport = free_port()
            (work / "model/mlserver/settings.json").write_text(
                json.dumps({"http_port": mport, "grpc_port": free_port(), "metrics_port": free_port()})
            )
            procs.append(
                start([str(ensure_mlserver()), "start", str(work / "model/mlserver")], work / "mls.log")
            )
            wait_ready(f"http://127.0.0.1:{mport}/v2/models/gbr/ready", procs[-1])
            url = f"http://127.0.0.1:{mport}/v2/models/gbr/infer"
            targets.append(Target("MLServer 1.7 V2", url, V2_BODY, procs[-1].pid))
        drive(targets, args.seconds, args.rounds, work)
        print_rest(targets)
        gport = free_port()
        procs.append(
            start([sys.executable, str(HERE / "serve_grpc_ceiling.py"), str(gport)], work / "gceil.log")
        )
        time.sleep(2)
        ours = [asyncio.run(grpc_rate(f"127.0.0.1:{grpc_port}", args.seconds)) for _ in range(args.rounds)]
        bare = [asyncio.run(grpc_rate(f"127.0.0.1:{gport}", args.seconds)) for _ in range(args.rounds)]
        g, b = statistics.median(ours), statistics.median(bare)
        print(
            f"\ngRPC, Python client, c=8: aiedge {g:.0f} req/s, bare grpc.aio servicer {b:.0f} req/s", end=""
        )
        print(f" ({g / b:.0%})")
    finally:
        for p in procs:
            stop(p)
    ready, rss, heavy = startup(work / "model/onnx", work)
    print(
        f"one tabular ONNX model, default flags (gRPC on): ready {ready:.2f} s after process start, "
        f"RSS {rss:.0f} MB, heavy libraries mapped: {', '.join(heavy) or 'none'}"
    )


if __name__ == "__main__":
    main()
