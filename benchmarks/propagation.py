"""Benchmark: how long a new digest takes to reach a fleet. N simulated agents (default 100) hold
long polls against a real hub, as the real agent does; the script commits a new digest into the
GitOps repo and times, per agent, when it received the new desired state and when the hub had its
healthy status report on the new digest. Prints a table; the last stdout line is JSON:
`{"agents": N, "received_p50_s": .., "received_max_s": .., "reported_max_s": .., ...}`.

    .venv/bin/python benchmarks/propagation.py --agents 100 [--db postgresql://...] [--poll-interval 1]

The time includes the hub noticing the commit (it polls HEAD every --poll-interval seconds, or at once
with --webhook, as a Git server's push webhook would). The hub runs with `--insecure-no-auth`.
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
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, start, stop, wait_ready
from hub_scale import make_gitops

ROOT = Path(__file__).resolve().parent.parent
NEW = "sha256:" + "cd" * 32
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
    "PATH": "/usr/bin:/bin",
}


class Agent:
    """One simulated site: first fetch, then long polls; reports healthy on what it receives."""

    def __init__(self, client: httpx.AsyncClient, hub: str, site: str) -> None:
        self.client, self.hub, self.site = client, hub, site
        self.digest = ""
        self.ready = asyncio.Event()
        self.received: float | None = None
        self.reported: float | None = None
        self.errors = 0

    async def run(self, until: float) -> None:
        url = f"{self.hub}/api/v1/sites/{self.site}/desired"
        while time.monotonic() < until and self.reported is None:
            params = {"after": self.digest, "wait": "30"} if self.digest else {}
            try:
                if self.digest:
                    self.ready.set()
                r = await self.client.get(url, params=params, timeout=45)
            except httpx.HTTPError:
                self.errors += 1
                await asyncio.sleep(0.5)
                continue
            if r.status_code != 200:
                if r.status_code != 304:
                    self.errors += 1
                continue
            self.digest = r.headers["x-aiedge-digest"]
            images = [a["image"] for a in r.json()["apps"]]
            if any(i.endswith(NEW) for i in images):
                self.received = time.monotonic()
                body = {
                    "site": self.site,
                    "desired_digest": self.digest,
                    "apps": [{"name": "housing", "digest": NEW, "health": "healthy"}],
                    "time": datetime.now(UTC).isoformat(),
                }
                post = await self.client.post(f"{self.hub}/api/v1/sites/{self.site}/status", json=body)
                if post.status_code == 204:
                    self.reported = time.monotonic()
                else:
                    self.errors += 1


def commit_new_digest(repo: Path) -> None:
    app = repo / "app.yaml"
    text = app.read_text()
    old = text.split("digest: ", 1)[1].split("\n", 1)[0]
    app.write_text(text.replace(old, NEW))
    subprocess.run(["git", "commit", "-qam", "new digest"], cwd=repo, check=True, env=GIT_ENV)


async def measure(hub: str, repo: Path, agents: int, webhook: bool) -> tuple[float, list[Agent]]:
    limits = httpx.Limits(max_connections=agents * 2 + 20, max_keepalive_connections=agents * 2 + 20)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        fleet = [Agent(client, hub, f"site-{i:05d}") for i in range(agents)]
        until = time.monotonic() + 120
        tasks = [asyncio.create_task(a.run(until)) for a in fleet]
        await asyncio.wait_for(asyncio.gather(*(a.ready.wait() for a in fleet)), 60)
        await asyncio.sleep(1.0)  # every long poll is held by now
        t0 = time.monotonic()
        await asyncio.to_thread(commit_new_digest, repo)
        if webhook:
            await client.post(f"{hub}/api/v1/webhook/git")
        await asyncio.wait(tasks, timeout=120)
        for t in tasks:
            t.cancel()
    return t0, fleet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--db", default=None, help="hub database URL (default: SQLite in a temp dir)")
    ap.add_argument("--poll-interval", type=float, default=1.0, help="the hub's HEAD poll interval")
    ap.add_argument("--webhook", action="store_true", help="POST the hub's git webhook after the commit")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiedge-propagation-"))
    make_gitops(work / "gitops", args.agents)
    port = free_port()
    cmd = [
        str(ROOT / ".venv/bin/aiedge"),
        "hub",
        "--gitops",
        str(work / "gitops"),
        "--data",
        str(work / "hub"),
        "--port",
        str(port),
        "--poll-interval",
        str(args.poll_interval),
        "--insecure-no-auth",
    ]
    if args.db:
        cmd += ["--db", args.db]
    hub = start(cmd, work / "hub.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/v1/health", hub)
        t0, fleet = asyncio.run(
            measure(f"http://127.0.0.1:{port}", work / "gitops", args.agents, args.webhook)
        )
    finally:
        stop(hub)
    received = sorted(a.received - t0 for a in fleet if a.received is not None)
    reported = sorted(a.reported - t0 for a in fleet if a.reported is not None)
    errors = sum(a.errors for a in fleet)

    def q(xs: list[float], p: float) -> float:
        return round(xs[min(len(xs) - 1, int(len(xs) * p))], 3) if xs else float("nan")

    rows = [
        ("received new digest", received),
        ("reported healthy on it", reported),
    ]
    print(f"{'':26} {'agents':>7} {'p50 s':>8} {'p99 s':>8} {'max s':>8}")
    for name, xs in rows:
        print(f"{name:26} {len(xs):>7} {q(xs, 0.5):>8} {q(xs, 0.99):>8} {q(xs, 1.0):>8}")
    print(f"errors: {errors}; hub poll interval {args.poll_interval}s; webhook: {args.webhook}")
    print(
        json.dumps(
            {
                "agents": args.agents,
                "db": "postgresql" if args.db else "sqlite",
                "poll_interval_s": args.poll_interval,
                "webhook": args.webhook,
                "received": len(received),
                "received_p50_s": round(statistics.median(received), 3) if received else None,
                "received_max_s": round(received[-1], 3) if received else None,
                "reported": len(reported),
                "reported_max_s": round(reported[-1], 3) if reported else None,
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
