"""The audit's attacks on the hub (issue 12 points 4, 5, 6, 9), each against a fresh `aiedge hub`
process, with what each cost the hub: its answer, its peak RSS growth (VmHWM) or its resident
growth after (VmRSS), and the slowest answer of a request another client made meanwhile.

The peer is the same script run with another tree's code: ``--code DIR`` puts ``DIR/src`` first on
the hub's PYTHONPATH (e.g. a worktree of the commit before the fixes), so both columns of the
README's table come from one machine and one script:

    python benchmarks/hub_attacks.py                      # this tree
    git worktree add /tmp/before a522881 && python benchmarks/hub_attacks.py --code /tmp/before

Each attack meets a fresh hub. The metrics and webhook rows run with ``--insecure-no-auth`` (the
code before had no site check on them worth passing); the others with the hub's defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.telemetry.helpers import empty_samples

from aiedge.telemetry.remote_write import encode_series
from aiedge.telemetry.samples import Series, make_labels
from benchmarks.common import free_port, start, stop, wait_ready

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def _rss(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def _series_body(n: int, batch: int) -> bytes:
    """``n`` distinct request counters of site-a's housing app (one sample each)."""
    now = int(time.time() * 1000)
    target = {"site": "site-a", "app": "housing", "model": "tensorflow-housing", "outcome": "success"}
    return encode_series(
        [
            Series(make_labels("aiedge_serve_requests_total", {**target, "x": f"{batch}-{i}"}), [(now, 1.0)])
            for i in range(n)
        ]
    )


GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}  # fmt: skip
WRITE_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}


class Hub:
    def __init__(self, work: Path, code: Path | None, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = work / f"hub-{self.port}"
        gitops = work / f"gitops-{self.port}"  # a Git repo, as the hub reads in production
        shutil.copytree(REPO / "examples" / "gitops", gitops)
        for git in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "examples"]):
            subprocess.run(["git", "-C", str(gitops), *git], check=True, capture_output=True, env=GIT_ENV)
        path = f"{code / 'src'}" if code else f"{REPO / 'src'}"
        cmd = [sys.executable, "-m", "aiedge", "hub", "--gitops", str(gitops), "--data", str(self.data)]
        self.proc = start(
            [*cmd, "--port", str(self.port), "--poll-interval", "5", *args],
            work / f"hub-{self.port}.log",
            env={"PYTHONPATH": path, **(env or {})},
        )
        wait_ready(f"{self.url}/api/v1/health", self.proc)

    def peak(self) -> float:
        return _rss(self.proc.pid, "VmHWM")

    def resident(self) -> float:
        return _rss(self.proc.pid, "VmRSS")

    def stop(self) -> None:
        stop(self.proc)


def _while(work: Callable[[], str], probe: Callable[[], object]) -> tuple[str, float]:
    """Run ``work`` in a thread; meanwhile call ``probe`` again and again: (work's result, the
    slowest probe in seconds)."""
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(work()))
    t.start()
    slowest = 0.0
    while t.is_alive():
        t0 = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):
            probe()
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)
    t.join()
    return result[0], slowest


def _chunked_post(port: int, path: str, chunks: int, chunk: bytes) -> str:
    """A POST of ``chunks`` x ``chunk`` (chunked); the status line, or how the connection ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n".encode())
        s.sendall(b"Content-Type: application/json\r\n\r\n")
        try:
            for _ in range(chunks):
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            s.sendall(b"0\r\n\r\n")
            line = s.recv(200).split(b"\r\n", 1)[0].decode()
            return line.split(" ")[1] if line.startswith("HTTP/") else "closed"
        except OSError as e:
            return f"connection {e.strerror or e}"


Row = tuple[str, str, str]


def _bomb(hub: Hub) -> Row:
    before = hub.peak()
    body = empty_samples(16_700_000)

    def bomb() -> str:
        r = httpx.post(f"{hub.url}/api/v1/metrics/write", content=body, headers=WRITE_HEADERS, timeout=600)
        return str(r.status_code)

    status, slowest = _while(bomb, lambda: httpx.get(f"{hub.url}/api/v1/health", timeout=120))
    what = f"remote-write bomb ({len(body) / MiB:.1f} MiB snappy, 16.7 M empty samples)"
    return what, status, f"peak RSS +{hub.peak() - before:.0f} MiB, /health up to {slowest:.1f} s"


def _bad_bound(hub: Hub) -> Row:
    now = int(time.time() * 1000)
    le = make_labels(
        "aiedge_serve_request_duration_seconds_bucket",
        {"site": "site-a", "app": "housing", "model": "tensorflow-housing", "le": "notanumber"},
    )
    r = httpx.post(
        f"{hub.url}/api/v1/metrics/write",
        content=encode_series([Series(le, [(now - 1000, 1.0), (now, 2.0)])]),
        headers=WRITE_HEADERS,
    )
    return 'le="notanumber" in a bucket series', str(r.status_code), ""


def _cardinality(hub: Hub) -> Row:
    before = hub.resident()
    for batch in range(5):
        r = httpx.post(
            f"{hub.url}/api/v1/metrics/write",
            content=_series_body(20_000, batch),
            headers=WRITE_HEADERS,
            timeout=300,
        )
    return (
        "100,000 distinct series from one site",
        str(r.status_code),
        f"RSS after +{hub.resident() - before:.0f} MiB",
    )


def _enroll(hub: Hub, n: int) -> Row:
    before = hub.peak()
    answers: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(_chunked_post(hub.port, "/api/v1/enroll", 200, b" " * MiB))
        )
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    what = "200 MB JSON to /api/v1/enroll" + ("" if n == 1 else f", {n} at once")
    return what, ", ".join(sorted(set(answers))), f"peak RSS +{hub.peak() - before:.0f} MiB"


def _header(hub: Hub) -> Row:
    before = hub.peak()
    sent = 0
    with socket.create_connection(("127.0.0.1", hub.port), timeout=60) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(200):
                s.sendall(b"a" * MiB)
                sent += 1
            s.sendall(b"\r\n\r\n")
            line = s.recv(200).split(b"\r\n", 1)[0].decode()
            reply = line.split(" ")[1] if line.startswith("HTTP/") else "closed"
        except OSError:
            reply = "closed"
    return "a 200 MiB header line", reply, f"{sent} MiB taken, peak RSS +{hub.peak() - before:.0f} MiB"


def _webhooks(hub: Hub) -> Row:
    """Unsigned calls: --insecure-no-auth takes them (the code before took any); this row is
    about how many polls they start."""

    def flood() -> str:
        def calls() -> None:
            with httpx.Client(timeout=300) as c:
                for _ in range(375):
                    c.post(f"{hub.url}/api/v1/webhook/git", content=b"{}")

        t0 = time.monotonic()
        threads = [threading.Thread(target=calls) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return f"all answered in {time.monotonic() - t0:.0f} s"

    took, slowest = _while(flood, lambda: httpx.get(f"{hub.url}/api/v1/sites", timeout=300))
    return "3,000 webhook calls", took, f"GET /sites up to {slowest:.1f} s"


def _no_credential(hub: Hub) -> Row:
    return "GET /api/v1/sites without a credential", str(httpx.get(f"{hub.url}/api/v1/sites").status_code), ""


ATTACKS: list[tuple[Callable[[Hub], Row], tuple[str, ...]]] = [
    (_bomb, ("--insecure-no-auth",)),
    (_bad_bound, ("--insecure-no-auth",)),
    (_cardinality, ("--insecure-no-auth",)),
    (lambda hub: _enroll(hub, 1), ()),
    (lambda hub: _enroll(hub, 4), ()),
    (_header, ()),
    (_webhooks, ("--insecure-no-auth", "--poll-interval", "600")),
    (_no_credential, ()),
]


def run(code: Path | None) -> list[Row]:
    """Each attack on a fresh hub (a peak RSS is a high-water mark: one attack would hide the next)."""
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="aiedge-hub-attacks-"))
    try:
        for attack, args in ATTACKS:
            hub = Hub(work, code, *args)
            try:
                rows.append(attack(hub))
            finally:
                hub.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", type=Path, help="run the hub from DIR/src (another checkout)")
    args = ap.parse_args()
    rows = run(args.code)
    width = max(len(r[0]) for r in rows)
    print(f"code: {args.code or REPO}")
    for what, answer, cost in rows:
        print(f"{what:<{width}}  {answer:<28}  {cost}")


if __name__ == "__main__":
    main()
