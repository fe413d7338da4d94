"""The dashboard in a real headless Chromium (Playwright) over a running `aiedge demo`: inference
requests reach the sites, the agents scrape and ship their metrics to the hub, and, once logged in
with the demo's operator token (a wrong one is refused on the login page; the cookie is HttpOnly
and SameSite=Strict), the fleet page lists the three sites while a site page draws its
request-rate chart. A screenshot is kept in the test's tmp dir and copied to
/tmp/aiedge-dashboard.png.

An operator acts in it on a real rollout of the demo (a second build of its model, committed by
``aiedge build --gitops`` under a Placement that rolls out in waves and soaks for an hour): the
rollout card's Pause, Resume and Abort buttons call the hub's rollout API as ``aiedge rollout``
does and the hub's answer says so; the app's revision history shows the build's commit, its
author and digest and when site-a switched, with a deploy marker on the charts; the range and
the search live in the URL (a reload keeps them), an unknown route is a 404 page, the Alerts page
prints no ``null``, and at 390 px nothing is wider than the screen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import Demo, start_demo
from tests.gitops.helpers import git
from tests.support import aiedge_cmd, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip


def test_dashboard_shows_the_fleet_and_charts(
    tmp_path: Path, demo_factory: list[Demo], monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium", pytrace=False)
    monkeypatch.setenv("AIEDGE_AGENT_SCRAPE_INTERVAL", "1")  # inherited by the demo's agents
    demo = start_demo(tmp_path / "demo")
    demo_factory.append(demo)
    body = {"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]}
    for url in demo.sites.values():
        for _ in range(20):
            r = httpx.post(f"{url}/v1/models/housing-demo/versions/1:predict", json=body, timeout=10)
            assert r.json() == {"predictions": [6.5]}

    def shipped() -> bool:
        summary = demo.api("/api/v1/metrics/summary")["sites"]
        return all(summary.get(s, {}).get("housing", {}).get("requests", 0) >= 20 for s in demo.sites)

    # sites send each minute once it is over (a few seconds after it ends): up to a minute and more
    wait_until(shipped, timeout=150, interval=0.5, what="the sites' metrics at the hub")

    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            # no cookie yet: the dashboard sends the browser to its login page
            page.goto(f"{demo.hub}/")
            page.wait_for_url("**/login**", timeout=20_000)
            page.fill("#token", "aiedge-operator-wrong")
            page.click("button[type=submit]")
            page.wait_for_selector("#login-error:not(.hidden)", timeout=20_000)
            assert "unknown or revoked" in page.inner_text("#login-error")
            page.fill("#token", demo.token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{demo.hub}/", timeout=20_000)
            cookie = next(c for c in page.context.cookies() if c["name"] == "aiedge_operator")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert page.evaluate("document.cookie") == ""  # out of reach of scripts
            rows = page.locator("#sites tbody tr[data-site]")
            rows.first.wait_for(timeout=20_000)
            assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.site)")) == sorted(demo.sites)
            page.wait_for_selector("#sites .pill.s-healthy", timeout=20_000)
            page.screenshot(path=str(tmp_path / "fleet.png"), full_page=True)
            # search narrows the table
            page.fill("input[type=search]", "site-b")
            page.wait_for_function("document.querySelectorAll('#sites tbody tr[data-site]').length === 1")
            rows.first.click()
            page.wait_for_selector("#charts .chart-card svg .series path.line, #charts svg .series circle")
            assert page.locator("#charts .chart-card h3").first.inner_text() == "Request rate"
            page.screenshot(path=str(tmp_path / "site.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    shutil.copyfile(tmp_path / "fleet.png", "/tmp/aiedge-dashboard.png")
    shutil.copyfile(tmp_path / "site.png", "/tmp/aiedge-dashboard-site.png")


ROLLOUT = """  rollout:
    waves: [{sites: 1}, {percent: 100}]
    soakSeconds: 3600
    maxFailures: 0
"""


def _rollout(demo: Demo) -> dict[str, Any]:
    found: list[dict[str, Any]] = demo.api("/api/v1/rollouts/housing")
    return found[0]


def _second_build(demo: Demo, tmp_path: Path) -> str:
    """Roll out in waves, then `aiedge build --gitops` a second version of the demo model (a new
    file beside it: a new digest) as a user would; returns the new digest."""
    gitops = demo.data / "gitops"
    placement = gitops / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text() + ROLLOUT)
    git(gitops, "commit", "-qam", "roll out in waves, soak an hour")
    pushed = re.search(r"^pushed (\S+)@sha256:", (demo.data.parent / "demo-stderr.log").read_text(), re.M)
    assert pushed, "the demo said where it pushed"
    model = tmp_path / "model-v2"
    shutil.copytree(demo.data / "model", model)
    (model / "NOTES.txt").write_text("second build\n")
    cmd = aiedge_cmd("build", str(model), "-n", "housing-demo", "-i", f"{pushed.group(1)}:v2")
    cmd += ["-t", str(demo.data / "test-data.json"), "-g", str(gitops), "-a", "housing", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout.strip().splitlines()[-1])["digest"])


def test_an_operator_acts_on_a_real_rollout(tmp_path: Path, demo_factory: list[Demo]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium", pytrace=False)
    demo = start_demo(tmp_path / "demo")
    demo_factory.append(demo)
    before = next(s for s in demo.api("/api/v1/sites") if s["name"] == "site-a")["apps"][0]["digest"]
    digest = _second_build(demo, tmp_path)
    wait_until(lambda: _rollout(demo)["to_digest"] == digest and _rollout(demo)["phase"] == "soaking",
               timeout=240, interval=0.5, what="wave 1 (site-a) soaking on the second build")  # fmt: skip
    shots = tmp_path / "shots"
    shots.mkdir()
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: d.accept())  # Abort asks first
            page.goto(f"{demo.hub}/login")
            page.fill("#token", demo.token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{demo.hub}/", timeout=20_000)
            card = '#rollouts tr[data-rollout="near-edge/housing"]'
            page.wait_for_selector(f"{card} button[data-action=pause]", timeout=30_000)
            assert digest.removeprefix("sha256:")[:12] in page.inner_text(card)
            site_link = page.locator('#sites tbody tr[data-site="site-b"] a.site-name')
            assert site_link.get_attribute("href") == "#/site/site-b"  # a real link: Tab, new tab
            page.screenshot(path=str(shots / "rollout.png"), full_page=True)

            page.click(f"{card} button[data-action=pause]")
            page.wait_for_function("document.getElementById('rollout-msg').textContent.includes('paused')")
            assert _rollout(demo)["paused_by"] == "operator"
            page.wait_for_selector(f"{card} button[data-action=resume]", timeout=20_000)
            page.click(f"{card} button[data-action=resume]")
            page.wait_for_function("document.getElementById('rollout-msg').textContent.includes('resumed')")
            assert _rollout(demo)["paused_by"] is None
            page.wait_for_selector(f"{card} button[data-action=abort]", timeout=20_000)
            page.click(f"{card} button[data-action=abort]")
            page.wait_for_function("document.getElementById('rollout-msg').textContent.includes('aborted')")
            assert _rollout(demo)["state"] == "aborted"

            def site_a_back() -> bool:
                site = next(s for s in demo.api("/api/v1/sites") if s["name"] == "site-a")
                return bool(site["apps"][0]["digest"] == before)

            wait_until(site_a_back, timeout=120, interval=0.5, what="site-a back on the first build")

            # the app's revision history: the build's commit, who made it, when site-a switched
            page.goto(f"{demo.hub}/#/app/housing?range=15m")
            row = f'#revisions tr[data-revision="{_rollout(demo)["revision"]}"]'
            page.wait_for_selector(row, timeout=20_000)
            text = page.inner_text(row)
            assert "housing: model housing-demo" in text and digest.removeprefix("sha256:")[:12] in text
            assert "site-a" in text and "switched" in text
            assert page.locator("#charts .markers line.marker").count() >= 1
            assert page.get_attribute(".ranges button.on", "aria-pressed") == "true"
            assert page.inner_text(".ranges button.on") == "15m"
            page.screenshot(path=str(shots / "app.png"), full_page=True)

            # state in the URL: the search survives a reload; unknown routes are a 404 page
            page.goto(f"{demo.hub}/#/")
            page.fill("input[type=search]", "site-c")
            page.wait_for_function("location.hash.includes('q=site-c')")
            page.reload()
            page.wait_for_function("document.querySelectorAll('#sites tbody tr[data-site]').length === 1")
            assert page.input_value("input[type=search]") == "site-c"
            page.goto(f"{demo.hub}/#/no/such/page")
            page.wait_for_selector("#not-found", timeout=20_000)
            page.goto(f"{demo.hub}/#/alerts")
            page.wait_for_selector("#firing", timeout=20_000)
            assert "null" not in page.inner_text("#view")

            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.on("pageerror", lambda e: errors.append(str(e)))
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{demo.hub}/#/")
            phone.wait_for_selector("#sites tbody tr[data-site]", timeout=20_000)
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            phone.screenshot(path=str(shots / "phone.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    for shot in shots.iterdir():
        shutil.copyfile(shot, f"/tmp/aiedge-dashboard-{shot.name}")
