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
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, start, stop, tree_rss_mb, wait_ready, wrk

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


def train(dest: Path) -> None:
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


def measure(
    name: str,
    cmd: list[str],
    port: int,
    work: Path,
    seconds: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, object]:
    proc = start(cmd, work / f"{name}.log", env=env, cwd=cwd)
    try:
        ready_s = wait_ready(f"http://127.0.0.1:{port}/v2/models/gbr/ready", proc)
        url = f"http://127.0.0.1:{port}/v2/models/gbr/infer"
        wrk(url, BODY, 4, 2, work / "wrk")  # warm-up
        rows = {}
        for c in CONCURRENCY:
            rows[c] = wrk(url, BODY, c, seconds, work / "wrk")
        rss = tree_rss_mb(proc.pid)
    finally:
        stop(proc)
    return {"ready_s": ready_s, "rss_mb": rss, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per concurrency level")
    ap.add_argument("--skip-mlserver", action="store_true", help="measure aiedge only")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiedge-bench-"))
    model_dir = work / "gbr"
    train(model_dir)
    results: dict[str, dict[str, object]] = {}
    if not args.skip_mlserver:
        mlserver = ensure_mlserver()
        port = free_port()
        (model_dir / "settings.json").write_text(
            json.dumps(
                {
                    "http_port": port,
                    "grpc_port": free_port(),
                    "metrics_port": free_port(),
                    "host": "127.0.0.1",
                }
            )
        )
        results["mlserver"] = measure(
            "mlserver", [str(mlserver), "start", str(model_dir)], port, work, args.seconds
        )
        (model_dir / "settings.json").unlink()
    port = free_port()
    results["aiedge"] = measure(
        "aiedge",
        [
            str(ROOT / ".venv/bin/aiedge"),
            "serve",
            str(model_dir),
            "--name",
            "gbr",
            "--http-port",
            str(port),
            "--grpc-port",
            str(free_port()),
        ],
        port,
        work,
        args.seconds,
    )
    print_table(results)


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
        print(f"RSS ratio {float(ours['rss_mb']) / float(theirs['rss_mb']):.2f}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
