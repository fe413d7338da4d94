"""What one site costs its link: bytes each way per traffic kind, idle, busy and through an outage.

Runs, on loopback: a real OCI registry, a GitOps repo with one Site, one App and one Placement,
``aiedge build`` of the demo model, a real ``aiedge hub`` and one real ``aiedge agent`` at its
defaults (only ``--hub``, ``--site``, ``--data``). The agent reaches the hub and the registry
only through :class:`~tests.linkproxy.LinkProxy`, which counts every byte each way and
attributes it, by HTTP request, to a kind: control (enrolment, desired-state polls), status
(reports), metrics (remote-write, summaries), downloads (the registry).

Phases, each measured apart and scaled to bytes per day (``bytes * 86400 / seconds``):

1. idle: nothing served for ``--idle`` seconds;
2. busy: ``--rate`` requests per second (one in 50 a bad request, a 400) for ``--busy`` seconds;
3. outage: the link is cut for ``--outage`` seconds while the site stays busy, then restored;
   backfill is measured until the hub's history has the last busy minute (or ``--backfill-max``).
   The goal is a 1 h outage (``--outage 3600``); a shorter one is reported as measured, with the
   cost of a 1 h outage scaled linearly from it (backfill is the same series over a longer time).

The peer, in the same run: a Prometheus in agent mode (``prometheus --enable-feature=agent``)
scrapes the same site port every ``--scrape-interval`` seconds with the same labels and
remote-writes to a second Prometheus (the receiver) through its own counting proxy, cut and
restored with the site's link. It ships what a site that remote-writes its raw series ships.

Bytes are HTTP bytes (request and status lines, headers, bodies) over plain HTTP on loopback:
TCP/IP headers and, on a real link, TLS records and handshakes come on top (``conns`` counts the
connections opened, each a TLS handshake of a few KB over https).

    .venv/bin/python -m benchmarks.link_usage [--idle 300] [--busy 300] [--outage 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.linkproxy import Counts, LinkProxy

from benchmarks.common import free_port, start, stop, wait_ready

KINDS = ("control", "status", "metrics", "downloads", "other")
SITE = "site-a"
APP = "housing"
DAY = 86400.0
MB = 1e6
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@aiedge.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@aiedge.invalid",
}


def aiedge(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiedge", *args]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env={**os.environ, **_GIT_ENV}, check=True, capture_output=True)


def write_gitops(repo: Path, repository: str, model: str, port: int, test: dict[str, Any]) -> None:
    files = {
        "sites/site-a.yaml": f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: {SITE}\n"
        "  labels:\n    tier: near-edge\n",
        "apps/housing.yaml": f"apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata:\n  name: {APP}\n"
        f"spec:\n  model: {model}\n  protocol: tfserving\n  port: {port}\n"
        f"  image:\n    repository: {repository}\n"
        f"  test:\n    request: {json.dumps(test['request'])}\n"
        f"    response: {json.dumps(test['response'])}\n",
        "placements/near-edge.yaml": "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n"
        "  name: near-edge\nspec:\n  siteSelector:\n    matchLabels:\n      tier: near-edge\n"
        f"  apps: [{APP}]\n",
    }
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bench: one site, one app")


class Load:
    """``rate`` TF-Serving predicts per second at the site port (every 50th malformed: a 400)."""

    def __init__(self, url: str, model: str, rate: float) -> None:
        self.url = f"{url}/v1/models/{model}/versions/1:predict"
        self.rate = rate
        self.sent = 0
        self.failed = 0
        self.per_minute: dict[int, int] = {}  # requests answered, by epoch minute
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        good = json.dumps({"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]})
        bad = json.dumps({"instances": [[1, 2, 3]]})
        period = 1.0 / self.rate
        next_at = time.monotonic()
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                body = bad if self.sent % 50 == 49 else good
                try:
                    r = http.post(self.url, content=body, headers={"Content-Type": "application/json"})
                    if r.status_code >= 500:
                        self.failed += 1
                    minute = int(time.time()) // 60
                    self.per_minute[minute] = self.per_minute.get(minute, 0) + 1
                except httpx.HTTPError:
                    self.failed += 1
                self.sent += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -1.0:
                    next_at = time.monotonic()  # fell behind by a second: don't burst to catch up


@dataclass
class Phase:
    name: str
    seconds: float
    site: Counts
    peer: Counts
    note: str = ""


def prometheus_peer(root: Path, target: str, labels: dict[str, str], interval: float) -> tuple[Any, ...]:
    """A receiving Prometheus, a counting proxy in front of it, and a Prometheus agent scraping
    ``target`` and remote-writing through the proxy."""
    exe = shutil.which("prometheus")
    if exe is None:
        raise SystemExit("prometheus is not installed (apt-get install prometheus)")
    rx_port = free_port()
    rx = start(
        [
            exe,
            f"--config.file={_write(root / 'rx.yml', 'global: {}')}",
            f"--storage.tsdb.path={root / 'rx-tsdb'}",
            f"--web.listen-address=127.0.0.1:{rx_port}",
            "--web.enable-remote-write-receiver",
            "--log.level=warn",
        ],
        root / "rx.log",
    )
    wait_ready(f"http://127.0.0.1:{rx_port}/-/ready", rx)
    proxy = LinkProxy(f"127.0.0.1:{rx_port}")
    cfg = (
        f"global:\n  scrape_interval: {interval:g}s\n"
        "scrape_configs:\n  - job_name: site\n    static_configs:\n"
        f"      - targets: ['{target}']\n        labels: {json.dumps(labels)}\n"
        f"remote_write:\n  - url: http://{proxy.address}/api/v1/write\n"
    )
    agent_port = free_port()
    agent = start(
        [
            exe,
            "--enable-feature=agent",
            f"--config.file={_write(root / 'agent.yml', cfg)}",
            f"--storage.agent.path={root / 'agent-wal'}",
            f"--web.listen-address=127.0.0.1:{agent_port}",
            "--log.level=warn",
        ],
        root / "prom-agent.log",
    )
    wait_ready(f"http://127.0.0.1:{agent_port}/-/ready", agent)
    return rx, proxy, agent


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def hub_minutes(hub: str, reader: dict[str, str]) -> dict[int, float]:
    """Requests per minute (epoch minutes) in the hub's history of the site's app."""
    r = httpx.get(f"{hub}/api/v1/sites/{SITE}/metrics", params={"range": "3h"}, headers=reader, timeout=10)
    r.raise_for_status()
    return {int(p["t"]) // 60_000: float(p["requests"]) for a in r.json()["apps"] for p in a["points"]}


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def measure(args: argparse.Namespace, root: Path) -> tuple[list[Phase], dict[str, Any]]:
    from aiedge.demo.model import DEMO_MODEL_NAME, demo_test_data, write_demo_model

    procs: list[Any] = []
    proxies: list[LinkProxy] = []
    info: dict[str, Any] = {}
    try:
        reg_port = free_port()
        reg_cfg = root / "registry.yml"
        reg_cfg.write_text(
            f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root / 'reg'}\n"
            f"http:\n  addr: 127.0.0.1:{reg_port}\n"
        )
        procs.append(reg := start(["/usr/bin/docker-registry", "serve", str(reg_cfg)], root / "registry.log"))
        wait_ready(f"http://127.0.0.1:{reg_port}/v2/", reg)
        registry = LinkProxy(f"127.0.0.1:{reg_port}")
        proxies.append(registry)

        site_port = free_port()
        repository = f"{registry.address}/bench/{DEMO_MODEL_NAME}"
        repo = root / "gitops"
        write_gitops(repo, repository, DEMO_MODEL_NAME, site_port, demo_test_data())
        model = write_demo_model(root / "model")
        test_data = _write(root / "test-data.json", json.dumps(demo_test_data()))
        built = subprocess.run(
            aiedge(
                "build", str(model), "--name", DEMO_MODEL_NAME, "--image", f"{repository}:1",
                "--test-data", str(test_data), "--gitops", str(repo), "--app", APP, "--json",
            ),
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if built.returncode != 0:
            raise SystemExit(f"aiedge build failed: {built.stderr[-2000:]}")
        digest = json.loads(built.stdout.strip().splitlines()[-1])["digest"]

        hub_port = free_port()
        hub_url = f"http://127.0.0.1:{hub_port}"
        hub_data = root / "hub"
        procs.append(
            hub := start(
                aiedge("hub", "--gitops", str(repo), "--data", str(hub_data), "--port", str(hub_port)),
                root / "hub.log",
            )
        )
        wait_ready(f"{hub_url}/api/v1/health", hub)
        token = subprocess.run(
            aiedge("hub", "token", "create", "--site", SITE, "--data", str(hub_data)),
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        operator = subprocess.run(
            aiedge("hub", "operator", "create", "bench", "--role", "read", "--data", str(hub_data)),
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        reader = {"Authorization": f"Bearer {operator}"}
        link = LinkProxy(f"127.0.0.1:{hub_port}")
        proxies.append(link)
        procs.append(
            start(
                aiedge(
                    "agent", "--hub", f"http://{link.address}", "--site", SITE, "--data", str(root / "site")
                ),
                root / "agent.log",
                env={"AIEDGE_AGENT_TOKEN": token},
            )
        )
        site_url = f"http://127.0.0.1:{site_port}"
        wait_for(
            lambda: (
                httpx.post(
                    f"{site_url}/v1/models/{DEMO_MODEL_NAME}/versions/1:predict",
                    json={"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]},
                    timeout=5,
                ).status_code
                == 200
            ),
            240,
            "the site to serve",
        )
        wait_for(
            lambda: (
                httpx.get(f"{hub_url}/api/v1/sites/{SITE}", headers=reader, timeout=5).json()["status"]
                == "healthy"
            ),
            120,
            "the hub to see the site healthy",
        )
        first = link.snapshot().total() + registry.snapshot().total()
        info["first_contact_bytes"] = first
        info["first_download_bytes"] = registry.snapshot().total()

        labels = {"site": SITE, "app": APP, "model": DEMO_MODEL_NAME, "version": digest[:19]}
        rx, peer, prom_agent = prometheus_peer(root, f"127.0.0.1:{site_port}", labels, args.scrape_interval)
        procs += [rx, prom_agent]
        proxies.append(peer)
        time.sleep(args.settle)  # first scrapes and shipments of both, before anything is counted

        def snap() -> tuple[Counts, Counts, float]:
            site = link.snapshot()
            reg_counts = registry.snapshot()
            for k in KINDS:
                site.up[k] += reg_counts.up[k]
                site.down[k] += reg_counts.down[k]
            site.connections += reg_counts.connections
            return site, peer.snapshot(), time.monotonic()

        phases: list[Phase] = []

        def run_phase(name: str, seconds: float) -> None:
            s0, p0, t0 = snap()
            sent = load.sent
            time.sleep(seconds)
            s1, p1, t1 = snap()
            rate = (load.sent - sent) / (t1 - t0)
            note = f"{rate:.0f} req/s served" if rate else ""
            phases.append(Phase(name, t1 - t0, s1.minus(s0), p1.minus(p0), note))
            print(
                f"  {name}: {phases[-1].site.total():,} bytes site, {phases[-1].peer.total():,} peer",
                flush=True,
            )

        load = Load(site_url, DEMO_MODEL_NAME, args.rate)
        print(f"idle {args.idle:g}s", flush=True)
        run_phase("idle", args.idle)
        print(f"busy {args.busy:g}s at {args.rate:g} req/s", flush=True)
        load.start()
        run_phase("busy", args.busy)
        if args.outage > 0:
            print(f"outage {args.outage:g}s (busy), then backfill", flush=True)
            s0, p0, t0 = snap()
            link.down()
            peer.down()
            time.sleep(args.outage)
            last_minute = int(time.time()) // 60 - 1  # the last whole minute served during the outage
            served = load.per_minute.get(last_minute, 0)
            link.up()
            peer.up()
            t_up = time.monotonic()
            load.stop()
            caught_up = None
            deadline = t_up + args.backfill_max
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    # half of it, at least: the hub counts a minute's requests between scrapes
                    if hub_minutes(hub_url, reader).get(last_minute, 0.0) >= served / 2:
                        caught_up = time.monotonic() - t_up
                        break
                time.sleep(1.0)
            time.sleep(args.settle)  # the last batches of both
            s1, p1, t1 = snap()
            backfill = (
                f"{caught_up:.0f} s" if caught_up is not None else f"not within {args.backfill_max:g} s"
            )
            phases.append(
                Phase(
                    f"outage {args.outage:g}s + backfill",
                    t1 - t0,
                    s1.minus(s0),
                    p1.minus(p0),
                    f"hub caught up {backfill} after the link came back",
                )
            )
            info["backfill_s"] = caught_up
        else:
            load.stop()
        info["requests_sent"] = load.sent
        info["requests_failed"] = load.failed
        info["agent_log_tail"] = Path(root / "agent.log").read_text(errors="replace")[-1500:]
        return phases, info
    finally:
        for p in reversed(procs):
            stop(p)
        for px in proxies:
            px.close()


def per_day(n: float, seconds: float) -> float:
    return n * DAY / seconds


def report(phases: list[Phase], info: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(
        f"one site, one app, agent defaults; first contact (enrol, desired state, download): "
        f"{info['first_contact_bytes']:,} bytes, of which {info['first_download_bytes']:,} the image"
    )
    head = ["phase", "who", "s", "up B", "down B", *[f"{k} MB/d" for k in KINDS[:4]], "total MB/d", "conns"]
    rows = []
    for ph in phases:
        for who, c in (("aiedge site", ph.site), ("prometheus agent (peer)", ph.peer)):
            rows.append(
                [
                    ph.name,
                    who,
                    f"{ph.seconds:.0f}",
                    f"{sum(c.up.values()):,}",
                    f"{sum(c.down.values()):,}",
                    *[f"{per_day(c.total(k), ph.seconds) / MB:.2f}" for k in KINDS[:4]],
                    f"{per_day(c.total(), ph.seconds) / MB:.2f}",
                    str(c.connections),
                ]
            )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    for ph in phases:
        if ph.note:
            print(f"{ph.name}: {ph.note}")
    outage = [ph for ph in phases if ph.name.startswith("outage")]
    if outage and args.outage < 3600:
        ph = outage[0]
        scale = 3600 / args.outage
        print(
            f"a 1 h outage, scaled linearly from the {args.outage:g} s measured (x{scale:g}): "
            f"site {ph.site.total() * scale / MB:.2f} MB, peer {ph.peer.total() * scale / MB:.2f} MB "
            "for the outage and its backfill"
        )
    print(
        f"load: {info['requests_sent']:,} requests sent, {info['requests_failed']} failed (5xx or no answer)"
    )
    for ph in phases:
        req = ", ".join(f"{k} {n}" for k, n in sorted(ph.site.requests.items()))
        print(f"{ph.name}: site requests over the link: {req or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=float, default=300.0, help="seconds of the idle phase")
    ap.add_argument("--busy", type=float, default=300.0, help="seconds of the busy phase")
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second when busy")
    ap.add_argument("--outage", type=float, default=300.0, help="seconds the link is cut (0: none)")
    ap.add_argument("--backfill-max", type=float, default=600.0, help="longest wait for the backfill")
    ap.add_argument("--scrape-interval", type=float, default=15.0, help="the peer's (the agent's default)")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds before counting starts")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs) and print it")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aiedge-bench-link-"))
    try:
        phases, info = measure(args, root)
        report(phases, info, args)
    finally:
        if args.keep:
            print(f"files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
