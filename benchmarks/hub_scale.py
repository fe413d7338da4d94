"""Benchmark: one real hub process serving N simulated sites.

Each simulated agent does what a real one does on the wire: fetch its desired state, then hold a
long poll (`?after=<digest>&wait=30`) and post a status report every 30 s (first one at a random
moment in the first 30 s, so the fleet is spread out as in life). Latency is measured for every
request that must answer at once (first fetch, status posts); long polls are counted as errors
only if they fail. The simulated agents run in ``--workers`` load-generator processes (uvloop +
aiohttp; one httpx process topped out at one core with ~3,000 requests a minute, so it measured
itself, not the hub). The last stdout line is JSON:
`{"sites": N, "p50_ms": .., "p99_ms": .., "errors": .., "hub_rss_mb": .., "told_max_s": .., ...}`.

    .venv/bin/python benchmarks/hub_scale.py --sites 10000 --seconds 90 [--pin] [--timeline]

Commit -> told: once every site has fetched (after the ramp, plus 5 s), the benchmark commits a new
image digest to the GitOps repo and calls the hub's Git webhook, as a Git server does; every
long-polling site records when its held poll brought the new state, and ``told_max_s`` is the
time from the commit until the last of them knew.

A held poll is an open socket in the hub: ``--long-polls N`` lets only N of the sites hold one (the
others poll every 30 s with ``wait=0`` and their ETag, the same request rate), because one process
here may open at most ``ulimit -Hn`` files (20,000 on this machine, not raisable without
CAP_SYS_RESOURCE), so 50,000 held polls cannot be open in one process at once.

``--pin`` puts the hub on CPU 0 and the load generators on the other CPUs (on a 2-core machine:
the hub gets one core, the simulated fleet the other), as if the agents ran elsewhere; without it
the hub and the generators share every core. ``--timeline`` prints the slow requests second by
second (to tell a steady queue from stalls).

The hub runs with `--insecure-no-auth` unless ``--auth``: then every simulated site first trades a
one-time join token for its credential (before the measured run, timed on its own) and sends it on
every request, as agents do.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, start, stop, tree_rss_mb, wait_ready

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "ab" * 32
NEW_DIGEST = "sha256:" + "cd" * 32  # what the commit under measurement changes the image to
SITES_PER_FILE = 5000
WEBHOOK_SECRET = "hub-scale-benchmark-secret"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
    "PATH": "/usr/bin:/bin",
}


def _app_yaml(digest: str) -> str:
    return (
        "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata:\n  name: housing\nspec:\n"
        "  model: tensorflow-housing\n  protocol: tfserving\n"
        f"  image:\n    repository: 127.0.0.1:5000/aiedge/housing\n    digest: {digest}\n"
        "---\napiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n  name: all\nspec:\n"
        "  siteSelector:\n    matchLabels:\n      tier: near-edge\n  apps: [housing]\n"
    )


def make_gitops(dest: Path, sites: int) -> None:
    dest.mkdir(parents=True)
    (dest / "app.yaml").write_text(_app_yaml(DIGEST))
    docs = [
        f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: site-{i:05d}\n  labels:\n"
        f"    tier: near-edge\n    region: r{i % 50}\n"
        for i in range(sites)
    ]
    for first in range(0, sites, SITES_PER_FILE):  # a file of aiedge documents may be 1 MiB
        (dest / f"sites-{first // SITES_PER_FILE:03d}.yaml").write_text(
            "---\n".join(docs[first : first + SITES_PER_FILE])
        )
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fleet"]):
        subprocess.run(["git", *args], cwd=dest, check=True, env=GIT_ENV)


def commit_new_digest(gitops: Path, hub: str) -> float:
    """Commit a new image digest and call the hub's webhook, as a Git server would; the wall time
    of the commit."""
    (gitops / "app.yaml").write_text(_app_yaml(NEW_DIGEST))
    at = time.time()
    subprocess.run(["git", "commit", "-q", "-am", "new image"], cwd=gitops, check=True, env=GIT_ENV)
    r = httpx.post(f"{hub}/api/v1/webhook/git", headers={"x-gitlab-token": WEBHOOK_SECRET}, timeout=30)
    r.raise_for_status()
    return at


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.by_kind: dict[str, list[float]] = {"desired": [], "status": []}
        self.loop_lag_ms = 0.0  # the load generator's worst event-loop lag
        self.slow: list[tuple[float, str, float]] = []  # (wall time, kind, ms) of requests over 100 ms
        self.errors = 0
        self.error_kinds: dict[str, int] = {}
        self.told: list[float] = []  # wall times at which long-polling sites got the new digest

    def timed(self, kind: str, ms: float) -> None:
        self.latencies.append(ms)
        self.by_kind[kind].append(ms)
        if ms > 100:
            self.slow.append((time.time(), kind, ms))

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


async def _agent(
    session: aiohttp.ClientSession,
    hub: str,
    site: str,
    credential: str | None,
    stats: Stats,
    until: float,
    ramp: float,
    holds: bool,
) -> None:
    await asyncio.sleep(random.uniform(0, ramp))
    url = f"{hub}/api/v1/sites/{site}/desired"
    auth = {"authorization": f"Bearer {credential}"} if credential else {}
    try:
        t0 = time.perf_counter()
        async with session.get(url, headers=auth) as r:
            body = await r.read()
            stats.timed("desired", (time.perf_counter() - t0) * 1000)
            if r.status != 200:
                stats.error(f"desired {r.status}")
                return
            digest = r.headers.get("x-aiedge-digest", "")
        apps = orjson.loads(body)["apps"]
    except (aiohttp.ClientError, TimeoutError) as e:
        stats.error(f"desired {type(e).__name__}")
        return

    async def poll() -> None:
        nonlocal digest
        while time.monotonic() < until:
            if not holds:
                await asyncio.sleep(30)
            try:
                async with session.get(
                    url,
                    params={"after": digest, "wait": "30" if holds else "0"},
                    headers=auth,
                    timeout=aiohttp.ClientTimeout(total=45),
                ) as r:
                    await r.read()
                    if r.status == 200:
                        new = r.headers.get("x-aiedge-digest", digest)
                        if holds and new != digest:
                            stats.told.append(time.time())
                        digest = new
                    elif r.status != 304:
                        stats.error(f"poll {r.status}")
                        await asyncio.sleep(5)
            except (aiohttp.ClientError, TimeoutError) as e:
                stats.error(f"poll {type(e).__name__}")
                await asyncio.sleep(5)

    async def report() -> None:
        await asyncio.sleep(random.uniform(0, 30))
        while time.monotonic() < until:
            body = orjson.dumps(
                {
                    "site": site,
                    "observed_revision": "main@sha1:" + "0" * 40,
                    "desired_digest": digest,
                    "apps": [{"name": a["name"], "digest": DIGEST, "health": "healthy"} for a in apps],
                    "agent_version": "bench",
                    "time": datetime.now(UTC).isoformat(),
                }
            )
            t0 = time.perf_counter()
            try:
                async with session.post(
                    f"{hub}/api/v1/sites/{site}/status",
                    data=body,
                    headers={"content-type": "application/json", **auth},
                ) as r:
                    await r.read()
                    stats.timed("status", (time.perf_counter() - t0) * 1000)
                    if r.status >= 300:
                        stats.error(f"status {r.status}")
            except (aiohttp.ClientError, TimeoutError) as e:
                stats.error(f"status {type(e).__name__}")
            await asyncio.sleep(30)

    await asyncio.gather(poll(), report())


async def _watch_lag(stats: Stats, until: float) -> None:
    """How late this process's own event loop runs (its share of any latency it measures)."""
    while time.monotonic() < until:
        t0 = time.monotonic()
        await asyncio.sleep(0.05)
        stats.loop_lag_ms = max(stats.loop_lag_ms, (time.monotonic() - t0 - 0.05) * 1000)


def ramp_seconds(seconds: float) -> float:
    """The first fetches of the fleet are spread over this long."""
    return min(30.0, seconds / 3)


async def _shard(hub: str, sites: list[tuple[str, str | None, bool]], seconds: float) -> Stats:
    stats = Stats()
    until = time.monotonic() + seconds
    ramp = ramp_seconds(seconds)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        tasks = [
            asyncio.create_task(_agent(session, hub, site, credential, stats, until, ramp, holds))
            for site, credential, holds in sites
        ]
        lag = asyncio.create_task(_watch_lag(stats, until))
        await asyncio.wait(tasks, timeout=seconds + 60)
        lag.cancel()
        for t in tasks:
            t.cancel()
    return stats


def run_shard(hub: str, sites: list[tuple[str, str | None, bool]], seconds: float) -> Stats:
    """One load-generator process: its share of the simulated sites on uvloop + aiohttp."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gc.set_threshold(50_000, 50, 1000)  # full collections of 5,000 sites' objects stall the loop
    return uvloop.run(_shard(hub, sites, seconds))


def join_tokens(data: Path, sites: int) -> dict[str, str]:
    """A one-time join token per site, written into the running hub's database as
    `aiedge hub token create --data DATA` does."""
    from aiedge.hub.enrolment import create_join_token
    from aiedge.hub.store import Store, open_engine

    store = Store(open_engine(f"sqlite:///{data / 'hub.db'}"))
    now = datetime.now(UTC)
    tokens = {f"site-{i:05d}": create_join_token(store, f"site-{i:05d}", now, 3600) for i in range(sites)}
    store.close()
    return tokens


async def enroll_all(hub: str, tokens: dict[str, str]) -> dict[str, str]:
    """Each site trades its join token for its credential, as an agent does on first start
    (before the measured run: a fleet enrols once, not every 30 s)."""
    credentials: dict[str, str] = {}
    gate = asyncio.Semaphore(32)
    async with aiohttp.ClientSession() as session:

        async def enroll(site: str, token: str) -> None:
            async with gate, session.post(f"{hub}/api/v1/enroll", json={"token": token, "site": site}) as r:
                r.raise_for_status()
                credentials[site] = (await r.json())["credential"]

        await asyncio.gather(*(enroll(site, token) for site, token in tokens.items()))
    return credentials


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    hub: str, sites: int, long_polls: int, seconds: float, workers: int, credentials: dict[str, str]
) -> Stats:
    names = [(f"site-{i:05d}", credentials.get(f"site-{i:05d}"), i < long_polls) for i in range(sites)]
    total = Stats()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for part in pool.map(
            run_shard, [hub] * workers, [names[w::workers] for w in range(workers)], [seconds] * workers
        ):
            total.latencies.extend(part.latencies)
            total.told.extend(part.told)
            total.slow.extend(part.slow)
            total.loop_lag_ms = max(total.loop_lag_ms, part.loop_lag_ms)
            for kind, ms in part.by_kind.items():
                total.by_kind[kind].extend(ms)
            for kind, n in part.error_kinds.items():
                total.errors += n
                total.error_kinds[kind] = total.error_kinds.get(kind, 0) + n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2, help="load-generator processes (default: 2)")
    ap.add_argument(
        "--long-polls",
        type=int,
        default=None,
        help="sites that hold a 30 s long poll (default: all); the others poll every 30 s without waiting",
    )
    ap.add_argument(
        "--auth",
        action="store_true",
        help="enrol every site with a join token and send its credential (default: --insecure-no-auth)",
    )
    ap.add_argument("--timeline", action="store_true", help="print slow requests second by second")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="hub on CPU 0, load generators on the other CPUs (they don't steal the hub's core)",
    )
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the hub inherits it
    long_polls = args.sites if args.long_polls is None else min(args.long_polls, args.sites)
    if long_polls + 1000 > hard:
        ap.error(
            f"--long-polls {long_polls}: each held poll is an open socket in the hub, and a process "
            f"here may open {hard} files (ulimit -Hn); pass --long-polls {hard - 1000} or fewer"
        )
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="aiedge-hub-scale-"))
    make_gitops(work / "gitops", args.sites)
    (work / "webhook-secret").write_text(WEBHOOK_SECRET)
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
            "--webhook-secret-file",
            str(work / "webhook-secret"),
            *([] if args.auth else ["--insecure-no-auth"]),
        ],
        work / "hub.log",
        # the benchmark's commit reaches the hub by its webhook; no poll of HEAD runs meanwhile
        env={"AIEDGE_HUB_POLL_INTERVAL": "3600"},
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/v1/health", hub)
        credentials: dict[str, str] = {}
        if args.auth:
            t0 = time.monotonic()
            tokens = join_tokens(work / "hub", args.sites)
            t1 = time.monotonic()
            credentials = uvloop.run(enroll_all(f"http://127.0.0.1:{port}", tokens))
            print(
                f"{len(tokens)} join tokens made in {t1 - t0:.1f} s, traded for credentials at "
                f"POST /api/v1/enroll in {time.monotonic() - t1:.1f} s (32 at a time)",
                file=sys.stderr,
            )
        if args.pin:
            cpus = sorted(os.sched_getaffinity(0))
            for task in Path(f"/proc/{hub.pid}/task").iterdir():  # every thread of the hub
                os.sched_setaffinity(int(task.name), {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]) or {cpus[0]})  # the generators inherit it
        started = time.time()
        cpu0 = cpu_seconds(hub.pid)
        url = f"http://127.0.0.1:{port}"
        commit_after = ramp_seconds(args.seconds) + 5
        committed: list[float] = []
        committer = threading.Timer(
            commit_after, lambda: committed.append(commit_new_digest(work / "gitops", url))
        )
        if args.seconds > commit_after + 5:
            committer.start()
        stats = run(url, args.sites, long_polls, args.seconds, args.workers, credentials)
        committer.cancel()
        committer.join()
        rss = tree_rss_mb(hub.pid)
        cpu = cpu_seconds(hub.pid) - cpu0
    finally:
        stop(hub)
    lat = sorted(stats.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
    told = sorted(t - committed[0] for t in stats.told) if committed else []
    load_after = os.getloadavg()
    print(f"{len(lat)} timed requests, errors: {stats.error_kinds or 0}", file=sys.stderr)
    if told:
        print(
            f"  commit -> told: {len(told)} of {long_polls} long-polling sites, "
            f"median {told[len(told) // 2]:.2f} s, last {told[-1]:.2f} s",
            file=sys.stderr,
        )
    print(
        f"  hub CPU: {cpu:.1f} s in {args.seconds:.0f} s ({cpu / args.seconds * 100:.0f}% of one core); "
        f"load average before {load_before[0]:.1f}, at the end {load_after[0]:.1f}; "
        f"load generator's worst event-loop lag {stats.loop_lag_ms:.0f} ms",
        file=sys.stderr,
    )
    for kind, ms in stats.by_kind.items():
        ms.sort()
        if ms:
            print(
                f"  {kind}: {len(ms)} requests, p50 {ms[len(ms) // 2]:.1f} ms, "
                f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, max {ms[-1]:.1f} ms",
                file=sys.stderr,
            )
    if stats.slow:
        t0 = min(t for t, _, _ in stats.slow) - started
        t1 = max(t for t, _, _ in stats.slow) - started
        print(f"  {len(stats.slow)} requests over 100 ms, between {t0:.0f} s and {t1:.0f} s", file=sys.stderr)
        if args.timeline:
            buckets: dict[int, list[float]] = {}
            for t, _kind, ms in stats.slow:
                buckets.setdefault(int(t - started), []).append(ms)
            for sec in sorted(buckets):
                print(
                    f"    t={sec:3d}s {len(buckets[sec]):5d} slow, max {max(buckets[sec]):.0f} ms",
                    file=sys.stderr,
                )
    print(
        json.dumps(
            {
                "sites": args.sites,
                "p50_ms": round(p50, 2),
                "p99_ms": round(p99, 2),
                "errors": stats.errors,
                "hub_rss_mb": round(rss, 1),
                "long_polls": long_polls,
                "told": len(told),
                "told_max_s": round(told[-1], 2) if told else None,
                "load_before": round(load_before[0], 1),
                "load_after": round(load_after[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
