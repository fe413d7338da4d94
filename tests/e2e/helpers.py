"""Helpers for the end-to-end tests: a running `aiedge demo` process, read from its stdout; the demo's
model and GitOps repo, built and pushed as a user does it; a real hub with auth on and agents
enrolled with join tokens."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiedge.processes import stop_group
from tests.support import Proc, aiedge_cmd

HUB_RE = re.compile(r"^hub ready at (http://127\.0\.0\.1:\d+)$")
SITE_RE = re.compile(r"^site (\S+) ready at (http://127\.0\.0\.1:\d+)$")
TOKEN_RE = re.compile(r"^operator token in (\S+)$")


@dataclass
class Demo:
    popen: subprocess.Popen[str]
    data: Path
    hub: str = ""
    token_file: Path | None = None  # the demo's admin token for the operator API
    sites: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    ready_after_s: float = 0.0
    log: IO[str] | None = None
    reader: threading.Thread | None = None

    @property
    def token(self) -> str:
        assert self.token_file is not None, "the demo printed no operator token"
        return self.token_file.read_text().strip()

    def api(self, path: str) -> Any:
        """The hub's answer to an operator's GET (with the demo's admin token)."""
        import httpx

        r = httpx.get(f"{self.hub}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.json()

    def stop(self) -> int:
        stop_group(self.popen, 60)
        if self.reader is not None:
            self.reader.join(10)  # it ends at the pipe's EOF, now that the demo has exited
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        if self.log is not None:
            self.log.close()
        return self.popen.returncode


def start_demo(
    data: Path,
    *args: str,
    timeout: float = 240.0,
    env: dict[str, str] | None = None,
    exe: list[str] | None = None,
) -> Demo:
    """Start `aiedge demo --data DATA ARGS...` (with ``env`` added to ours; ``exe`` another
    installed ``aiedge`` than this tree's) and read stdout until the hub and 3 sites are ready."""
    log = (data.parent / "demo-stderr.log").open("w")
    command = (
        [*exe, "demo", "--data", str(data), *args] if exe else aiedge_cmd("demo", "--data", str(data), *args)
    )
    popen = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
        cwd=data.parent,  # nothing of the checkout in its working folder
    )
    demo = Demo(popen, data, log=log)
    t0 = time.monotonic()
    assert popen.stdout is not None
    # a reader thread, not select() + readline(): readline buffers several lines at once, which
    # select() on the pipe cannot see
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for raw in stream:
            lines.put(raw.rstrip("\n"))
        lines.put(None)

    demo.reader = threading.Thread(target=read, args=(popen.stdout,), daemon=True)
    demo.reader.start()
    while len(demo.sites) < 3:
        remaining = timeout - (time.monotonic() - t0)
        try:
            line = lines.get(timeout=max(0.1, min(1.0, remaining)))
        except queue.Empty:
            line = ""
        if line is None or remaining <= 0:
            demo.stop()
            raise AssertionError(
                f"demo not ready (rc={popen.returncode}); stdout: {demo.lines}; stderr:\n"
                f"{(data.parent / 'demo-stderr.log').read_text()[-4000:]}"
            )
        if not line:
            continue
        demo.lines.append(line)
        if m := HUB_RE.match(line):
            demo.hub = m.group(1)
        elif m := TOKEN_RE.match(line):
            demo.token_file = Path(m.group(1))
        elif m := SITE_RE.match(line):
            demo.sites[m.group(1)] = m.group(2)
    demo.ready_after_s = time.monotonic() - t0
    return demo


@dataclass
class DemoSource:
    """The demo model, its test data and a GitOps repo whose App points at ``repository``."""

    model: Path
    test_data: Path
    gitops: Path
    registry: str
    repository: str


def demo_source(tmp_path: Path, registry: str, namespace: str) -> DemoSource:
    from aiedge.demo.gitops import prepare_gitops
    from aiedge.demo.model import DEMO_MODEL_NAME, demo_test_data, write_demo_model

    model = write_demo_model(tmp_path / "model")
    test_data = tmp_path / "test-data.json"
    test_data.write_text(json.dumps(demo_test_data()))
    repository = f"{registry}/{namespace}/{DEMO_MODEL_NAME}"
    gitops = prepare_gitops(
        tmp_path / "gitops", model_name=DEMO_MODEL_NAME, repository=repository, test_data=test_data
    )
    return DemoSource(model, test_data, gitops, registry, repository)


def build_demo(src: DemoSource, tag: str) -> str:
    """`aiedge build --gitops` of the demo model, as a user runs it; returns the pushed digest."""
    from aiedge.demo.gitops import APP_NAME
    from aiedge.demo.model import DEMO_MODEL_NAME

    out = subprocess.run(
        aiedge_cmd(
            "build",
            str(src.model),
            "--name",
            DEMO_MODEL_NAME,
            "--image",
            f"{src.repository}:{tag}",
            "--test-data",
            str(src.test_data),
            "--gitops",
            str(src.gitops),
            "--app",
            APP_NAME,
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["image"] == f"{src.repository}@{result['digest']}"
    return str(result["digest"])


def predict_demo(url: str) -> list[float]:
    """The demo model's answer at a site's (or server's) TF-Serving endpoint for a fixed row."""
    import httpx

    from aiedge.demo.model import DEMO_MODEL_NAME

    r = httpx.post(
        f"{url}/v1/models/{DEMO_MODEL_NAME}/versions/1:predict",
        json={"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["predictions"])


def join_token(hub_data: Path, site: str, dest: Path) -> Path:
    """A one-time join token for ``site`` from `aiedge hub token create`, written to ``dest``."""
    out = subprocess.run(
        aiedge_cmd("hub", "token", "create", "--site", site, "--data", str(hub_data)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dest.write_text(out.stdout.strip())
    return dest


def enrolled_agent(hub_url: str, hub_data: Path, site: str, data: Path, log: Path, *extra: str) -> Proc:
    """`aiedge agent` for ``site`` enrolling with a fresh join token (polling every 0.5 s)."""
    token = join_token(hub_data, site, log.with_suffix(".token"))
    cmd = aiedge_cmd(
        "agent",
        "--hub",
        hub_url,
        "--site",
        site,
        "--data",
        str(data),
        "--token-file",
        str(token),
        "--poll-interval",
        "0.5",
    )
    return Proc([*cmd, *extra], log)
