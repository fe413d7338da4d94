"""`aiedge serve --workers 2`: two worker processes under one supervisor share one HTTP socket;
whichever worker a scrape reaches, /metrics counts every worker's requests; a worker stopped and
then killed with SIGKILL leaves every connection to the other, and is started again; SIGTERM to
the supervisor stops them all and exits 0."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aiedge.demo.model import write_demo_model
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until

ROW = {"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]}


def _children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _requests_total(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "aiedge_serve_requests_total" and s.labels.get("outcome") == "success"
    )


def test_two_workers_share_the_port_count_together_and_restart(tmp_path: Path) -> None:
    port = free_port()
    model = write_demo_model(tmp_path / "m")
    cmd = aiedge_cmd("serve", str(model), "--name", "demo", "--http-port", str(port), "--grpc-port", "0")
    proc = Proc([*cmd, "--workers", "2"], tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/models/demo/ready", timeout=90)
        wait_until(lambda: len(_children(proc.pid)) == 2, timeout=30, what="two workers")
        workers = _children(proc.pid)
        for _ in range(40):  # a new connection each: the kernel spreads them over both workers
            r = httpx.post(f"{url}/v1/models/demo:predict", json=ROW, headers={"Connection": "close"})
            assert r.json() == {"predictions": [6.5]}
        # every worker writes its counts once a second; any scrape sums them all
        wait_until(lambda: _requests_total(url) == 40, timeout=30, what="40 requests counted")
        victim = sorted(workers)[0]
        # a worker that stops accepting (stopped, then killed) leaves the port's connections to
        # the other: none is queued to it alone (with a SO_REUSEPORT socket per worker, about half
        # of these waited on the stopped worker's own queue, and were reset when it was killed)
        os.kill(victim, signal.SIGSTOP)
        for _ in range(20):
            r = httpx.post(
                f"{url}/v1/models/demo:predict", json=ROW, headers={"Connection": "close"}, timeout=60
            )
            assert r.status_code == 200
        os.kill(victim, signal.SIGKILL)
        for _ in range(20):  # the other worker answers meanwhile
            r = httpx.post(f"{url}/v1/models/demo:predict", json=ROW, headers={"Connection": "close"})
            assert r.status_code == 200
        wait_until(
            lambda: len(_children(proc.pid)) == 2 and victim not in _children(proc.pid),
            timeout=60,
            what="the killed worker started again",
        )
        wait_http(f"{url}/v2/models/demo/ready", timeout=60)
        assert (
            "worker 0 exited (signal 9); starting it again" in proc.log() or "worker 1 exited" in proc.log()
        )
        current = _children(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.popen.wait(60) == 0
        assert not [w for w in current if Path(f"/proc/{w}").exists()]  # the supervisor reaped them
    finally:
        proc.stop()
