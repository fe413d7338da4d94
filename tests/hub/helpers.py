"""Helpers of the hub tests (imported by tests; fixtures stay in conftest.py): starting a real
`aiedge hub` process, the YAML of a small GitOps repo, a fake agent (a thread speaking the real
wire contract to a real hub), enrolling a site and making an operator token."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


@dataclass
class Hub:
    url: str
    data: Path
    proc: Proc


StartHub = Callable[..., Hub]


def launch_hub(
    tmp_path: Path,
    gitops: Path,
    *args: str,
    db: str | None = None,
    scheme: str = "http",
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> Hub:
    """Start `aiedge hub --gitops REPO --data DIR --port P --poll-interval 0.2 [ARGS]` (after the
    command words in ``prefix``, e.g. ``prlimit``); returns once it logged that it is ready. The
    caller stops ``hub.proc``."""
    port = free_port()
    if db is not None and db != "sqlite":
        args = (*args, "--db", db)
    data = tmp_path / f"hub-{port}"
    proc = Proc(
        [*prefix, *aiedge_cmd(
            "hub", "--gitops", str(gitops), "--data", str(data), "--port", str(port),
            "--poll-interval", "0.2", *args,
        )],
        tmp_path / f"logs/hub-{port}.log",
        env=env,
    )  # fmt: skip
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        if scheme == "http":
            wait_http(f"{url}/api/v1/health")
        wait_until(lambda: f"hub ready at {url}" in proc.log(), timeout=10, what="the ready line")
    except BaseException:
        proc.stop()
        raise
    return Hub(url, data, proc)


def fleet_files(
    digest: str | None,
    sites: dict[str, dict[str, str]] | None = None,
    rollout: str = "",
    app_extra: str = "",
) -> dict[str, bytes]:
    """The YAML files of a small GitOps repo: one App ``housing`` (``digest`` or awaiting its first
    build), the ``sites`` given (name -> labels; default three near-edge sites) and one Placement
    ``near-edge`` of every site labelled tier=near-edge, with ``rollout`` appended to its spec."""
    sites = sites if sites is not None else {n: {"tier": "near-edge"} for n in ("site-a", "site-b", "site-c")}
    image = "    repository: 127.0.0.1:5000/aiedge/housing\n" + (f"    digest: {digest}\n" if digest else "")
    files = {
        "apps/housing.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata:\n  name: housing\nspec:\n"
            f"  model: housing\n  protocol: tfserving\n  image:\n{image}{app_extra}"
        ),
        "placements/near-edge.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n  name: near-edge\nspec:\n"
            "  siteSelector:\n    matchLabels:\n      tier: near-edge\n  apps: [housing]\n" + rollout
        ),
    }
    for name, labels in sites.items():
        lines = "".join(f"    {k}: {v}\n" for k, v in labels.items())
        files[f"sites/{name}.yaml"] = (
            f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: {name}\n  labels:\n{lines}"
        )
    return {p: text.encode() for p, text in files.items()}


class FakeAgent:
    """One site: long-polls its desired state and reports, as the real agent, what it serves with
    a typed reason: a digest in ``broken`` is refused (``refusal``: its smoke test fails, or its
    signature), so the previous one keeps serving; with ``starting`` set, a new digest is first
    reported ``Progressing`` (degraded) for that many reports before it is ready."""

    def __init__(
        self,
        hub: str,
        site: str,
        broken: set[str],
        refusal: str = "SmokeTestFailed",
        starting: int = 0,
        broken_tests: set[str] | None = None,
    ) -> None:
        self.hub, self.site, self.broken, self.refusal = hub, site, broken, refusal
        self.broken_tests = broken_tests or set()  # expected answers this model does not give
        self.starting = starting
        self.seen: list[str] = []  # image digests received, in order
        self.serving: str | None = None
        self.reason, self.message, self.target = "Ready", "serving", None
        self.state_digest: str | None = None
        self.reports = 0
        self._starting_left = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _report(self, http: httpx.Client) -> None:
        if self._starting_left > 0:
            self._starting_left -= 1
            if self._starting_left == 0:
                self.reason, self.message = "Ready", "serving"
        health = "healthy" if self.reason == "Ready" else "degraded"
        app = {
            "name": "housing", "digest": self.serving, "health": health, "reason": self.reason,
            "message": f"{self.reason}: {self.message}", "target_digest": self.target,
        }  # fmt: skip
        body: dict[str, Any] = {
            "site": self.site,
            "desired_digest": self.state_digest,
            "apps": [app] if self.serving else [],
            "time": datetime.now(UTC).isoformat(),
        }
        http.post(f"{self.hub}/api/v1/sites/{self.site}/status", json=body)
        self.reports += 1

    def _apply(self, app: dict[str, Any]) -> None:
        digest = app["image"].split("@", 1)[1]
        self.seen.append(digest)
        expected = json.dumps((app.get("smoke_test") or {}).get("response"), sort_keys=True)
        if digest in self.broken or expected in self.broken_tests:
            self.reason, self.message, self.target = self.refusal, f"{digest} refused", digest
        elif digest != self.serving and self.starting:
            self.serving, self.target = digest, None
            self.reason, self.message, self._starting_left = "Progressing", "starting", self.starting
        else:
            self.serving, self.target = digest, None
            self.reason, self.message = "Ready", "serving"

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                params = {"after": self.state_digest, "wait": "0.3"} if self.state_digest else {}
                try:
                    r = http.get(f"{self.hub}/api/v1/sites/{self.site}/desired", params=params)
                    if r.status_code == 200:
                        self.state_digest = r.headers["X-Aiedge-Digest"]
                        for app in r.json()["apps"]:
                            self._apply(app)
                    self._report(http)
                except httpx.HTTPError:
                    self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


CHROMIUM = "/usr/bin/chromium"


def dashboard_texts(hub: str, selector: str, page_path: str = "/") -> list[str]:
    """The text of every element matching ``selector`` once the dashboard page shows one, as a
    real headless Chromium renders it (whitespace folded)."""
    import pytest
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium", pytrace=False)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{hub}{page_path}")
            page.wait_for_selector(selector, timeout=20_000)
            rows = page.locator(selector).all_inner_texts()
        finally:
            browser.close()
    assert not errors, errors
    return [" ".join(r.split()) for r in rows]


def operator_token(hub_data: Path, role: str = "admin", name: str | None = None) -> str:
    """A new operator token for the hub of ``hub_data``, made as an operator makes one
    (``aiedge hub operator create``)."""
    name = name or f"{role}-op"
    cmd = aiedge_cmd("hub", "operator", "create", name, "--role", role, "--data", str(hub_data))
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def enroll(hub: Hub, site: str) -> str:
    """``site``'s credential: a join token (``aiedge hub token create``) traded at the hub."""
    cmd = aiedge_cmd("hub", "token", "create", "--site", site, "--data", str(hub.data))
    join = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    r = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": join}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["credential"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
