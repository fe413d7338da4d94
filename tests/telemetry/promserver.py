"""A real Prometheus (Debian's ``prometheus``) for the remote-write tests: start, stop, query.

It runs as a child process on a loopback port with the remote-write receiver on, an empty
config (nothing scraped) and its TSDB in the test's tmp dir; restarting on the same dir and
port is how the tests simulate an outage at the core.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Proc, free_port, wait_http

PROMETHEUS = "prometheus"


def prometheus_exe() -> str:
    exe = shutil.which(PROMETHEUS) or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if exe is None:
        pytest.fail(
            "prometheus is not installed: the remote-write tests run a real Prometheus (Debian package "
            "'prometheus', 2.33+; the test command installs it: apt-get install prometheus)",
            pytrace=False,
        )
    return exe


class Prometheus:
    """One Prometheus server whose data dir and port survive :meth:`stop` / :meth:`start`."""

    def __init__(self, root: Path, port: int | None = None, config: str = "") -> None:
        self.root = root
        self.port = port or free_port()
        self.data = root / "data"
        self.config = root / "prometheus.yml"
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config)
        self.proc: Proc | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.write_url = f"{self.url}/api/v1/write"

    def start(self) -> None:
        self.proc = Proc(
            [
                prometheus_exe(),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                "--log.level=warn",
            ],
            self.root / "prometheus.log",
        )
        try:
            wait_http(f"{self.url}/-/ready", timeout=60)
        except AssertionError:
            raise AssertionError(f"prometheus did not get ready:\n{self.proc.log()[-3000:]}") from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def raw_samples(self, selector: str, window_s: int, at_s: float) -> dict[str, list[tuple[int, float]]]:
        """Every stored sample of ``selector`` in ``(at - window, at]``, by series, as (ms, value)."""
        data = self.api("query", {"query": f"{selector}[{window_s}s]", "time": f"{at_s:.3f}"})
        return {
            _series_key(r["metric"]): [(round(float(t) * 1000), float(v)) for t, v in r["values"]]
            for r in data["result"]
        }

    def api(self, endpoint: str, params: dict[str, str]) -> Any:
        resp = httpx.get(f"{self.url}/api/v1/{endpoint}", params=params, timeout=10)
        resp.raise_for_status()
        body = resp.json()
        assert body["status"] == "success", body
        return body["data"]


def _series_key(metric: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(metric.items()))
