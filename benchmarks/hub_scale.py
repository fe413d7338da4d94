"""Benchmark: one real hub process serving N simulated sites.

Each simulated agent does what a real one does on the wire: fetch its desired state, then hold a
long poll (`?after=<digest>&wait=30`) and post a status report every 30 s (first one at a random
moment in the first 30 s, so the fleet is spread out as in life). Latency is measured for every
request that must answer at once (first fetch, status posts); long polls are counted as errors
only if they fail. The last stdout line is JSON:
`{"sites": N, "p50_ms": .., "p99_ms": .., "errors": .., "hub_rss_mb": ..}`.

    .venv/bin/python benchmarks/hub_scale.py --sites 10000 --seconds 120

The hub runs with `--insecure-no-auth` (enrolment of N sites is not what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, start, stop, tree_rss_mb, wait_ready

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "ab" * 32


def make_gitops(dest: Path, sites: int) -> None:
    dest.mkdir(parents=True)
    (dest / "app.yaml").write_text(
        "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata:\n  name: housing\nspec:\n"
        "  model: tensorflow-housing\n  protocol: tfserving\n"
        f"  image:\n    repository: 127.0.0.1:5000/aiedge/housing\n    digest: {DIGEST}\n"
        "---\napiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n  name: all\nspec:\n"
        "  siteSelector:\n    matchLabels:\n      tier: near-edge\n  apps: [housing]\n"
    )
    docs = [
        f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: site-{i:05d}\n  labels:\n"
        f"    tier: near-edge\n    region: r{i % 50}\n"
        for i in range(sites)
    ]
    (dest / "sites.yaml").write_text("---\n".join(docs))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fleet"]):
        subprocess.run(
            ["git", *args],
            cwd=dest,
            check=True,
            env={
                "GIT_AUTHOR_NAME": "b",
                "GIT_AUTHOR_EMAIL": "b@b",
                "GIT_COMMITTER_NAME": "b",
                "GIT_COMMITTER_EMAIL": "b@b",
                "PATH": "/usr/bin:/bin",
            },
        )


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.error_kinds: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


async def agent(
    client: httpx.AsyncClient, hub: str, site: str, stats: Stats, until: float, ramp: float
) -> None:
    await asyncio.sleep(random.uniform(0, ramp))
    digest = ""
    try:
        t0 = time.perf_counter()
        r = await client.get(f"{hub}/api/v1/sites/{site}/desired")
        stats.latencies.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            stats.error(f"desired {r.status_code}")
            return
        apps = r.json()["apps"]
        digest = r.headers.get("x-aiedge-digest", "") or _digest_of(r.json())
    except httpx.HTTPError as e:
        stats.error(type(e).__name__)
        return

    async def poll() -> None:
        while time.monotonic() < until:
            try:
                r = await client.get(
                    f"{hub}/api/v1/sites/{site}/desired", params={"after": digest, "wait": 30}, timeout=45
                )
                if r.status_code not in (200, 304):
                    stats.error(f"poll {r.status_code}")
                    await asyncio.sleep(5)
            except httpx.HTTPError as e:
                stats.error(f"poll {type(e).__name__}")
                await asyncio.sleep(5)

    async def report() -> None:
        await asyncio.sleep(random.uniform(0, 30))
        while time.monotonic() < until:
            body = {
                "site": site,
                "observed_revision": "main@sha1:" + "0" * 40,
                "desired_digest": digest,
                "apps": [{"name": a["name"], "digest": DIGEST, "health": "healthy"} for a in apps],
                "agent_version": "bench",
                "time": datetime.now(UTC).isoformat(),
            }
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{hub}/api/v1/sites/{site}/status", json=body)
                stats.latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code >= 300:
                    stats.error(f"status {r.status_code}")
            except httpx.HTTPError as e:
                stats.error(f"status {type(e).__name__}")
            await asyncio.sleep(30)

    await asyncio.gather(poll(), report())


def _digest_of(state: dict[str, object]) -> str:
    import hashlib

    import orjson

    return "sha256:" + hashlib.sha256(orjson.dumps(state["apps"], option=orjson.OPT_SORT_KEYS)).hexdigest()


async def run(hub: str, sites: int, seconds: float) -> Stats:
    stats = Stats()
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=sites * 2 + 100, max_keepalive_connections=sites * 2 + 100)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        tasks = [
            asyncio.create_task(agent(client, hub, f"site-{i:05d}", stats, until, min(30.0, seconds / 3)))
            for i in range(sites)
        ]
        await asyncio.wait(tasks, timeout=seconds + 60)
        for t in tasks:
            t.cancel()
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the hub inherits it
    work = Path(tempfile.mkdtemp(prefix="aiedge-hub-scale-"))
    make_gitops(work / "gitops", args.sites)
    port = free_port()
    hub = start(
        [
            str(ROOT / ".venv/bin/aiedge"),
            "hub",
            "--gitops",
            str(work / "gitops"),
            "--data",
            str(work / "hub"),
            "--port",
            str(port),
            "--insecure-no-auth",
        ],
        work / "hub.log",
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/v1/health", hub)
        stats = asyncio.run(run(f"http://127.0.0.1:{port}", args.sites, args.seconds))
        rss = tree_rss_mb(hub.pid)
    finally:
        stop(hub)
    lat = sorted(stats.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
    print(f"{len(lat)} timed requests, errors: {stats.error_kinds or 0}", file=sys.stderr)
    print(
        json.dumps(
            {
                "sites": args.sites,
                "p50_ms": round(p50, 2),
                "p99_ms": round(p99, 2),
                "errors": stats.errors,
                "hub_rss_mb": round(rss, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
