"""Benchmark: what model health costs the request path of `aiedge serve`.

The serve issues' reference case (a 100-tree GradientBoostingRegressor on 8 float32 features,
served as its ONNX export, 1-row V2 JSON requests from wrk), one server per configuration, the
servers interleaved round by round (medians of ``--rounds``):

- ``off``: ``AIEDGE_SERVE_DRIFT=false``;
- ``drift 10%``: the default (one request in ten folded into the drift window);
- ``drift 100%``: every request folded (the worst case);
- ``shadow 20%``: drift off, one request in five mirrored after answering to a second server (the
  same model, on the same machine: it competes for the same CPUs, the worst case for a site);

For each: req/s, p50, p99 and the server's CPU time per request (from /proc, steadier than req/s
on a shared machine). The drift rows are also checked to have scores at the end. Then the same
configurations in-process: the ASGI app called directly on one thread, CPU time per request with
the background folding included (what the request path and the fold cost, without uvicorn).

    .venv/bin/python benchmarks/health_overhead.py [--seconds 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, start, stop, tree_cpu_s, wait_ready, wrk
from serve_vs_mlserver import V2_BODY, aiedge_cmd, train

CONCURRENCY = (1, 8, 64)


@dataclass
class Config:
    name: str
    env: dict[str, str]
    url: str = ""
    pid: int = 0
    shadow: float = 0.0  # share mirrored to a candidate server
    rows: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)


CONFIGS = [
    Config("off", {"AIEDGE_SERVE_DRIFT": "false"}),
    Config("drift 10%", {}),
    Config("drift 100%", {"AIEDGE_SERVE_DRIFT_SAMPLE": "1"}),
    Config("shadow 20%", {"AIEDGE_SERVE_DRIFT": "false", "AIEDGE_SERVE_CONTROL_TOKEN": "bench"}, shadow=0.2),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiedge-bench-health-") as tmp:
        work = Path(tmp)
        train(work)
        procs = []
        try:
            for cfg in CONFIGS:
                port = free_port()
                p = start(aiedge_cmd(work / "onnx", port, 0), work / f"{cfg.name}.log", env=cfg.env)
                procs.append(p)
                cfg.url, cfg.pid = f"http://127.0.0.1:{port}", p.pid
                wait_ready(f"{cfg.url}/v2/models/gbr/ready", p)
                if cfg.shadow:
                    procs.append(shadow_candidate(work, cfg))
            for cfg in CONFIGS:
                wrk(f"{cfg.url}/v2/models/gbr/infer", V2_BODY, 4, 2, work / "wrk")
            for _ in range(args.rounds):
                for c in CONCURRENCY:
                    for cfg in CONFIGS:
                        cpu0 = tree_cpu_s(cfg.pid)
                        r = wrk(f"{cfg.url}/v2/models/gbr/infer", V2_BODY, c, args.seconds, work / "wrk")
                        cpu_us = (tree_cpu_s(cfg.pid) - cpu0) / max(r.requests, 1) * 1e6
                        if r.errors:
                            print(f"  {cfg.name} c={c}: {r.errors} errors", file=sys.stderr)
                        cfg.rows.setdefault(c, []).append((r.rps, r.p50_ms, r.p99_ms, cpu_us))
            report(work)
            print("\nin-process, CPU per request (the fold included):")
            for cfg in CONFIGS:
                if cfg.shadow:
                    continue  # its cost is the mirror's HTTP client, measured above
                us = asyncio.run(in_process(work / "onnx", cfg))
                print(f"  {cfg.name:<12} {us:6.1f} us")
        finally:
            for p in procs:
                stop(p)


def shadow_candidate(work: Path, cfg: Config) -> Any:
    """A second server of the same model, and ``cfg``'s server pointed at it."""
    port = free_port()
    p = start(aiedge_cmd(work / "onnx", port, 0), work / "candidate.log", env={"AIEDGE_SERVE_DRIFT": "false"})
    wait_ready(f"http://127.0.0.1:{port}/v2/models/gbr/ready", p)
    r = httpx.put(
        f"{cfg.url}/v2/aiedge/shadow",
        json={"url": f"http://127.0.0.1:{port}", "share": cfg.shadow},
        headers={"Authorization": "Bearer bench"},
        timeout=10,
    )
    r.raise_for_status()
    return p


async def in_process(model: Path, cfg: Config, n: int = 20_000) -> float:
    """CPU microseconds per V2 request through the app itself, drift folded as it goes."""
    from aiedge.serve.app import create_app
    from aiedge.serve.dataplane import DataPlane
    from aiedge.serve.drift.monitor import DriftMonitor
    from aiedge.serve.server import ModelSource, build_registry
    from aiedge.serve.settings import ServeSettings

    settings = ServeSettings(**{k.removeprefix("AIEDGE_SERVE_").lower(): v for k, v in cfg.env.items()})
    registry = build_registry([ModelSource(model, "gbr")])
    registry.load_all(settings.load_options())
    drift = DriftMonitor(settings.drift_settings(), {"gbr": None}) if settings.drift else None
    dp = DataPlane(registry, taps=[drift] if drift else [])
    dp.record_loaded()
    app = create_app(dp)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v2/models/gbr/infer",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(V2_BODY))],
        "query_string": b"",
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": V2_BODY, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        pass

    for _ in range(6000):  # warm-up: the predict estimate settles, the profile is learned (10%: 5000)
        await app(scope, receive, send)
        if drift is not None and len(drift._queue) >= 256:
            drift.fold_pending()
    t0 = time.thread_time()
    for i in range(n):
        await app(scope, receive, send)
        if drift is not None and i % 256 == 0:
            drift.fold_pending()
    if drift is not None:
        drift.fold_pending()
    return (time.thread_time() - t0) / n * 1e6


def report(work: Path) -> None:
    print(f"\n{'server':<12} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10}")
    for cfg in CONFIGS:
        for c, rows in cfg.rows.items():
            med = [statistics.median(r[i] for r in rows) for i in range(4)]
            print(f"{cfg.name:<12} {c:>4} {med[0]:>8.0f} {med[1]:>7.2f} {med[2]:>7.2f} {med[3]:>10.0f}")
    for cfg in CONFIGS[1:]:
        if cfg.shadow:
            doc = httpx.get(
                f"{cfg.url}/v2/aiedge/shadow", headers={"Authorization": "Bearer bench"}, timeout=10
            ).json()["shadow"]
            print(
                f"{cfg.name}: {doc['compared']} compared, {doc['agreed']} agreed, "
                f"{doc['dropped']} dropped (queue full), {doc['errors']} errors"
            )
            continue
        text = httpx.get(f"{cfg.url}/metrics", timeout=10).text
        scored = sum(1 for line in text.splitlines() if line.startswith("aiedge_model_drift_score{"))
        dropped = [line for line in text.splitlines() if line.startswith("aiedge_model_drift_dropped_total")]
        print(f"{cfg.name}: {scored} features scored; {dropped[0] if dropped else 'nothing dropped'}")


if __name__ == "__main__":
    main()
