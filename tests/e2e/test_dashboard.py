"""The dashboard in a real headless Chromium (Playwright) over a running `aiedge demo`: inference
requests reach the sites, the agents scrape and ship their metrics to the hub, and, once logged in
with the demo's operator token (a wrong one is refused on the login page; the cookie is HttpOnly
and SameSite=Strict), the fleet page lists the three sites while a site page draws its
request-rate chart. A screenshot is kept in the test's tmp dir and copied to
/tmp/aiedge-dashboard.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import Demo, start_demo
from tests.support import wait_until

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
