"""Benchmark: one real hub process serving N simulated sites.

Each simulated agent does what a real one does on the wire: fetch its desired state, then hold a
long poll (`?after=<digest>&wait=30`) and post a status report every 30 s (first one at a random
moment in the first 30 s, so the fleet is spread out as in life). Latency is measured for every
request that must answer at once (first fetch, status posts); long polls are counted as errors
only if they fail. The simulated agents run in ``--workers`` load-generator processes, each a
uvloop event loop with a minimal HTTP/1.1 client of its own (`_Client`: asyncio ``Protocol``s,
httptools' response parser, requests encoded once per site, a pool of idle keep-alive
connections), because the generator shares the hub's cores and must cost far less than the hub, or
the benchmark measures the generator: one httpx process topped out at one core with ~3,000
requests a minute, and aiohttp took about three times this client's CPU per request (10,000 sites
for 60 s: 33 s of generator CPU against 12 s; at 50,000 sites its event loops ran up to 39 s late).
The last stdout line is JSON:
`{"sites": N, "p50_ms": .., "p99_ms": .., "errors": .., "hub_rss_mb": .., "told_max_s": .., ...}`.

    .venv/bin/python benchmarks/hub_scale.py --sites 10000 --seconds 90 [--pin] [--timeline]

Commit -> told: once every site has fetched (after the ramp, plus 5 s), the benchmark commits a new
image digest to the GitOps repo and calls the hub's Git webhook, as a Git server does; every
long-polling site records when its held poll brought the new state, and ``told_max_s`` is the
time from the commit until the last of them knew.

A held poll is an open socket in the hub: ``--long-polls N`` lets only N of the sites hold one (the
others poll every 30 s with ``wait=0`` and their digest, the same request rate), because one process
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
import errno
import gc
import json
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import httptools
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
    for attempt in range(5):  # a Git server retries a webhook that failed, too
        try:
            r = httpx.post(
                f"{hub}/api/v1/webhook/git", headers={"x-gitlab-token": WEBHOOK_SECRET}, timeout=30
            )
            r.raise_for_status()
            return at
        except httpx.HTTPError as e:
            failed = e
            time.sleep(1 + attempt)
    raise RuntimeError(f"the Git webhook failed 5 times, last: {failed!r}")


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


class _Conn(asyncio.Protocol):
    """One keep-alive connection to the hub: one request at a time, its answer parsed by httptools
    (content-length or chunked bodies alike), failed with TimeoutError if it takes too long (a
    timer of the event loop's own: cheaper than an ``asyncio.timeout`` per request)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, str | None, bytes]] | None = None
        self.digest: str | None = None
        self.chunks: list[bytes] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(
        self, data: bytes, keep_body: bool, limit_s: float
    ) -> asyncio.Future[tuple[int, str | None, bytes]]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        self.timer = loop.call_later(limit_s, self._expire)
        self.digest, self.chunks, self.reusable = None, [] if keep_body else None, False
        self.transport.write(data)
        return waiter

    def usable(self) -> bool:
        """Open, and not closing (the hub's close may be seen before connection_lost runs)."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(e)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the hub closed the connection"))

    def close(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        self._fail(TimeoutError())
        self.close()

    def _fail(self, exc: BaseException) -> None:
        self._stop_timer()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # httptools' callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-aiedge-digest":
            self.digest = value.decode()

    def on_body(self, body: bytes) -> None:
        if self.chunks is not None:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        self._stop_timer()
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():  # an answer nobody asked for (or too late): drop it
            self.close()
            return
        self.reusable = self.parser.should_keep_alive()  # False on `connection: close`
        waiter.set_result((self.parser.get_status_code(), self.digest, b"".join(self.chunks or ())))


class _Client:
    """A minimal HTTP/1.1 client for one load-generator process: requests come encoded (`get`,
    `post`), idle keep-alive connections wait in a LIFO pool (a new one is opened when none is
    idle), and a connection is dropped when the hub says `connection: close`, on any error, or
    after 60 s idle (as aiohttp's keepalive_timeout; the hub keeps them 75 s)."""

    KEEP_IDLE = 60.0

    def __init__(self, hub: str) -> None:
        url = urlsplit(hub)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        # what an agent sends (aiedge.agent.hub_client): no User-Agent or Accept, gzip accepted
        self.head = f"HTTP/1.1\r\nHost: {url.netloc}\r\nAccept-Encoding: gzip\r\n".encode()
        self.idle: list[_Conn] = []

    def get(self, target: str, headers: str = "") -> bytes:
        """A GET request, encoded once."""
        return b"GET " + target.encode() + b" " + self.head + headers.encode() + b"\r\n"

    def post_head(self, target: str, headers: str = "") -> bytes:
        """A POST request's line and headers up to ``Content-Length: `` (`post` adds the rest)."""
        return b"POST " + target.encode() + b" " + self.head + headers.encode() + b"Content-Length: "

    @staticmethod
    def post(head: bytes, body: bytes) -> bytes:
        return head + str(len(body)).encode() + b"\r\n\r\n" + body

    async def request(
        self, data: bytes, limit_s: float, keep_body: bool = False
    ) -> tuple[int, str | None, bytes]:
        """(status, X-Aiedge-Digest or None, body: only if ``keep_body``); raises OSError
        (TimeoutError after ``limit_s``, from connecting to the end of the body) or
        httptools.HttpParserError."""
        conn = None
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < self.KEEP_IDLE and conn.usable():
                break
            conn.close()
            conn = None
        try:
            if conn is None:
                async with asyncio.timeout(limit_s):
                    _, conn = await asyncio.get_running_loop().create_connection(_Conn, self.host, self.port)
                limit_s = max(limit_s - (time.monotonic() - now), 0.001)  # what is left for the answer
            answer = await conn.send(data, keep_body, limit_s)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        if conn.reusable and not conn.closed:
            conn.idle_since = time.monotonic()
            self.idle.append(conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


_FAILED = (OSError, httptools.HttpParserError)  # refused, reset, TimeoutError (an OSError), garbled


def _failure(e: Exception) -> str:
    """The kind of a failed request: its exception's type, and for a plain OSError its errno's name
    too (EMFILE: out of open files, EADDRNOTAVAIL: out of local ports)."""
    name = type(e).__name__
    if type(e) is OSError and e.errno is not None and e.errno in errno.errorcode:
        return f"{name} {errno.errorcode[e.errno]}"
    return name


async def _agent(
    client: _Client,
    site: str,
    credential: str | None,
    stats: Stats,
    until: float,
    ramp: float,
    holds: bool,
    asks: bool,
) -> None:
    await asyncio.sleep(random.uniform(0, ramp))
    path = f"/api/v1/sites/{site}/desired"
    auth = f"Authorization: Bearer {credential}\r\n" if credential else ""
    try:
        t0 = time.perf_counter()
        status, digest_header, body = await client.request(client.get(path, auth), 30, keep_body=True)
        stats.timed("desired", (time.perf_counter() - t0) * 1000)
        if status != 200:
            stats.error(f"desired {status}")
            return
        digest = digest_header or ""
        apps = orjson.loads(body)["apps"]
    except _FAILED as e:
        stats.error(f"desired {_failure(e)}")
        return

    async def poll() -> None:
        nonlocal digest
        wait = "30" if holds else "0"
        asked, request = "", b""
        while time.monotonic() < until:
            if not holds:
                await asyncio.sleep(30)
            if asked != digest:  # encoded again only when the digest changes
                asked = digest
                request = client.get(f"{path}?after={quote(digest, safe=':')}&wait={wait}", auth)
            try:
                status, new, _ = await client.request(request, 45)
                if status == 200:
                    new = new or digest
                    if holds and new != digest:
                        stats.told.append(time.time())
                    digest = new
                elif status != 304:
                    stats.error(f"poll {status}")
                    await asyncio.sleep(5)
            except _FAILED as e:
                stats.error(f"poll {_failure(e)}")
                await asyncio.sleep(5)

    async def report() -> None:
        head = client.post_head(f"/api/v1/sites/{site}/status", f"Content-Type: application/json\r\n{auth}")
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
                status, _, _ = await client.request(client.post(head, body), 30)
                stats.timed("status", (time.perf_counter() - t0) * 1000)
                if status >= 300:
                    stats.error(f"status {status}")
            except _FAILED as e:
                stats.error(f"status {_failure(e)}")
            await asyncio.sleep(random.uniform(27, 33))  # agents jitter by a tenth (backoff.jittered)

    async def requests() -> None:
        """Operators' requests (logs, diagnose): an older agent holds this poll, 240 s at a time;
        today's agents look once at their start and then only when their desired-state poll
        tells them (none is queued here)."""
        request = client.get(f"/api/v1/sites/{site}/requests?wait={240 if asks else 0}", auth)
        while time.monotonic() < until:
            try:
                status, _, _ = await client.request(request, 255)
                if status != 200:
                    stats.error(f"requests {status}")
                    await asyncio.sleep(5)
            except _FAILED as e:
                stats.error(f"requests {_failure(e)}")
                await asyncio.sleep(5)
            if not asks:  # today's agents look once at their start, then when a poll tells them
                return

    await asyncio.gather(poll(), report(), requests())


async def _watch_lag(stats: Stats, until: float) -> None:
    """How late this process's own event loop runs (its share of any latency it measures)."""
    while time.monotonic() < until:
        t0 = time.monotonic()
        await asyncio.sleep(0.05)
        stats.loop_lag_ms = max(stats.loop_lag_ms, (time.monotonic() - t0 - 0.05) * 1000)


def ramp_seconds(seconds: float) -> float:
    """The first fetches of the fleet are spread over this long."""
    return min(30.0, seconds / 3)


Shard = list[tuple[str, str | None, bool, bool]]  # site, credential, holds a poll, holds a requests poll


async def _shard(hub: str, sites: Shard, seconds: float) -> Stats:
    stats = Stats()
    until = time.monotonic() + seconds
    ramp = ramp_seconds(seconds)
    client = _Client(hub)
    tasks = [
        asyncio.create_task(_agent(client, site, credential, stats, until, ramp, holds, asks))
        for site, credential, holds, asks in sites
    ]
    lag = asyncio.create_task(_watch_lag(stats, until))
    await asyncio.wait(tasks, timeout=seconds + 60)
    lag.cancel()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, lag, return_exceptions=True)
    client.close()
    return stats


def run_shard(hub: str, sites: Shard, seconds: float) -> Stats:
    """One load-generator process: its share of the simulated sites on uvloop and `_Client`."""
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
    client = _Client(hub)

    async def enroll(site: str, token: str) -> None:
        async with gate:
            body = orjson.dumps({"token": token, "site": site})
            head = client.post_head("/api/v1/enroll", "Content-Type: application/json\r\n")
            status, _, answer = await client.request(client.post(head, body), 30, keep_body=True)
            if status != 200:
                raise RuntimeError(f"POST /api/v1/enroll for {site}: {status} {answer[:200]!r}")
            credentials[site] = orjson.loads(answer)["credential"]

    await asyncio.gather(*(enroll(site, token) for site, token in tokens.items()))
    client.close()
    return credentials


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    hub: str,
    sites: int,
    long_polls: int,
    requests_polls: int,
    seconds: float,
    workers: int,
    credentials: dict[str, str],
) -> Stats:
    names = [
        (f"site-{i:05d}", credentials.get(f"site-{i:05d}"), i < long_polls, i < requests_polls)
        for i in range(sites)
    ]
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
        "--requests-polls",
        type=int,
        default=0,
        help="sites that also hold a 240 s poll for operators' requests, as agents before 2026-12-04 "
        "did (default: none; today's agents learn of requests from their desired-state poll)",
    )
    ap.add_argument(
        "--auth",
        action="store_true",
        help="enrol every site with a join token and send its credential (default: --insecure-no-auth)",
    )
    ap.add_argument("--timeline", action="store_true", help="print slow requests second by second")
    ap.add_argument("--keep", action="store_true", help="keep the hub's log and data (default: removed)")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="hub on CPU 0, load generators on the other CPUs (they don't steal the hub's core)",
    )
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the hub inherits it
    long_polls = args.sites if args.long_polls is None else min(args.long_polls, args.sites)
    requests_polls = min(args.requests_polls, args.sites)
    if long_polls + requests_polls + 1000 > hard:
        ap.error(
            f"--long-polls {long_polls} --requests-polls {requests_polls}: each held poll is an open "
            f"socket in the hub, and a process here may open {hard} files (ulimit -Hn); hold "
            f"{hard - 1000} or fewer in all"
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
        wait_ready(f"http://127.0.0.1:{port}/api/v1/health", hub, timeout=900)  # 50,000 Sites to parse
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
        commit_failed: list[str] = []

        def commit() -> None:
            try:
                committed.append(commit_new_digest(work / "gitops", url))
            except Exception as e:  # said in the summary, not lost in the timer's thread
                commit_failed.append(str(e))

        committer = threading.Timer(commit_after, commit)
        if args.seconds > commit_after + 5:
            committer.start()
        stats = run(url, args.sites, long_polls, requests_polls, args.seconds, args.workers, credentials)
        committer.cancel()
        committer.join()
        rss = tree_rss_mb(hub.pid)
        cpu = cpu_seconds(hub.pid) - cpu0
    finally:
        stop(hub)
        if args.keep:
            print(f"the hub's log and data: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    lat = sorted(stats.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
    told = sorted(t - committed[0] for t in stats.told) if committed else []
    load_after = os.getloadavg()
    print(f"{len(lat)} timed requests, errors: {stats.error_kinds or 0}", file=sys.stderr)
    for why in commit_failed:
        print(f"  commit -> told: not measured, {why}", file=sys.stderr)
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
            for t, _kind, slow_ms in stats.slow:
                buckets.setdefault(int(t - started), []).append(slow_ms)
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
                "requests_polls": requests_polls,
                "told": len(told),
                "told_max_s": round(told[-1], 2) if told else None,
                "load_before": round(load_before[0], 1),
                "load_after": round(load_after[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
