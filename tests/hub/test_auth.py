"""Operator authentication against a real `aiedge hub` (issue 12 point 6): the operator API and the
dashboard's data need an operator token by default (today anyone who reaches the hub reads the
fleet); read and admin roles; a site's credential reads no operator route and an operator token
acts for no site; tokens made by `aiedge hub operator create` are printed once and kept hashed,
revoked within seconds; the dashboard logs in with a cookie (HttpOnly, SameSite=Strict) and a
change made through the cookie needs X-Requested-By; `aiedge status` takes --token-file or
AIEDGE_TOKEN and says what is missing in one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.hub.api import Services
from aiedge.hub.api.auth import ACCESS, access, guard
from aiedge.hub.clock import system_clock
from aiedge.hub.errors import BadOperator
from aiedge.hub.fleet import Fleet
from aiedge.hub.observability import Observability
from aiedge.hub.operators import ADMIN, READ, create_operator_token
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store, open_engine
from tests.hub.helpers import StartHub, bearer, enroll, operator_token
from tests.support import aiedge_cmd, wait_until
from tests.telemetry.appserver import serve_app

OPERATOR_GETS = [
    "/api/v1/sites",
    "/api/v1/sites/site-a",
    "/api/v1/sites/site-a/metrics",
    "/api/v1/apps",
    "/api/v1/alerts",
    "/api/v1/rollouts",
    "/api/v1/metrics/summary",
    "/api/v1/whoami",
]


def _report(site: str) -> dict[str, object]:
    return {"site": site, "time": datetime.now(UTC).isoformat()}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd(*args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_the_operator_api_needs_an_operator_token(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo)
    for path in OPERATOR_GETS:
        r = httpx.get(f"{hub.url}{path}")
        assert r.status_code == 401, (path, r.text)
        assert "operator token" in r.json()["error"]
    # public: health (probes), the dashboard's page and files, the login page
    for path in ("/api/v1/health", "/", "/login", "/static/app.js", "/static/login.js"):
        assert httpx.get(f"{hub.url}{path}").status_code == 200, path
    read = operator_token(hub.data, READ, "alice")
    for path in OPERATOR_GETS:
        assert httpx.get(f"{hub.url}{path}", headers=bearer(read)).status_code == 200, path
    assert httpx.get(f"{hub.url}/api/v1/whoami", headers=bearer(read)).json() == {
        "name": "alice",
        "role": "read",
        "auth": True,
    }
    assert httpx.get(f"{hub.url}/api/v1/sites", headers=bearer("aiedge-operator-guess")).status_code == 401


def test_site_credentials_and_operator_tokens_stay_apart(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo)
    site = enroll(hub, "site-a")
    admin = operator_token(hub.data, ADMIN)
    # a site's credential reads no operator route
    for path in OPERATOR_GETS:
        r = httpx.get(f"{hub.url}{path}", headers=bearer(site))
        assert r.status_code == 403 and "site's credential" in r.json()["error"], (path, r.text)
    assert httpx.post(f"{hub.url}/api/v1/login", json={"token": site}).status_code == 403
    # ... but does its own site's work; an operator token, even an admin's, does none of it
    post = f"{hub.url}/api/v1/sites/site-a/status"
    assert httpx.post(post, json=_report("site-a"), headers=bearer(site)).status_code == 204
    assert httpx.post(post, json=_report("site-a"), headers=bearer(admin)).status_code == 401
    assert httpx.get(f"{hub.url}/api/v1/sites/site-a/desired", headers=bearer(admin)).status_code == 401


def test_tokens_are_kept_hashed_listed_and_revoked(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo)
    token = operator_token(hub.data, READ, "bob")
    assert token.startswith("aiedge-operator-") and len(token) > 40
    db = sqlite3.connect(hub.data / "hub.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert token not in dump and "bob" in dump
    listed = _run("hub", "operator", "list", "--data", str(hub.data), "--json")
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout and '"name":"bob","role":"read"' in listed.stdout
    assert httpx.get(f"{hub.url}/api/v1/sites", headers=bearer(token)).status_code == 200
    revoked = _run("hub", "operator", "revoke", "bob", "--data", str(hub.data))
    assert revoked.returncode == 0 and "revoked 1 token of operator bob" in revoked.stdout
    wait_until(
        lambda: httpx.get(f"{hub.url}/api/v1/sites", headers=bearer(token)).status_code == 401,
        timeout=30,
        what="the revoked token to be refused",
    )
    again = _run("hub", "operator", "revoke", "bob", "--data", str(hub.data))
    assert again.returncode == 1 and "no live token" in again.stderr
    bad = _run("hub", "operator", "create", "x", "--role", "root", "--data", str(hub.data))
    assert bad.returncode == 2 and "read, admin" in bad.stderr
    out = hub.data / "ci.token"
    made = _run(
        "hub", "operator", "create", "ci", "--role", "read", "--data", str(hub.data), "--out", str(out)
    )
    assert made.returncode == 0 and made.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600
    assert httpx.get(f"{hub.url}/api/v1/sites", headers=bearer(out.read_text().strip())).status_code == 200


def test_the_dashboard_logs_in_with_an_httponly_strict_cookie(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo)
    token = operator_token(hub.data, ADMIN, "carol")
    with httpx.Client(base_url=hub.url) as browser:
        assert browser.post("/api/v1/login", json={"token": "aiedge-operator-nope"}).status_code == 401
        # a form post (what a cross-site page can send without a preflight) is not a login
        form = browser.post("/api/v1/login", data={"token": token})
        assert form.status_code == 400 and "JSON" in form.json()["error"]
        r = browser.post("/api/v1/login", json={"token": token})
        assert r.status_code == 200 and r.json() == {"name": "carol", "role": "admin", "auth": True}
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("aiedge_operator=") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Path=/" in cookie
        assert browser.get("/api/v1/sites").status_code == 200
        assert browser.get("/api/v1/whoami").json()["name"] == "carol"
        browser.post("/api/v1/logout")
        assert browser.get("/api/v1/sites").status_code == 401


def test_status_takes_the_token_from_a_file_or_the_environment(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo)
    token = operator_token(hub.data, READ)
    missing = _run("status", "--hub", hub.url, env={"AIEDGE_TOKEN": ""})
    assert missing.returncode == 1 and missing.stdout == ""
    assert "needs an operator token: pass --token-file FILE or set AIEDGE_TOKEN" in missing.stderr
    assert missing.stderr.count("\n") == 1
    token_file = hub.data / "token"
    token_file.write_text(token + "\n")
    by_file = _run("status", "--hub", hub.url, "--json", "--token-file", str(token_file))
    assert by_file.returncode == 0 and '"name":"site-a"' in by_file.stdout, by_file.stderr
    by_env = _run("status", "--hub", hub.url, "--json", env={"AIEDGE_TOKEN": token})
    assert by_env.returncode == 0 and '"name":"site-a"' in by_env.stdout, by_env.stderr
    wrong = _run("status", "--hub", hub.url, env={"AIEDGE_TOKEN": "aiedge-operator-wrong"})
    assert wrong.returncode == 1 and "refused the operator token: unknown or revoked" in wrong.stderr
    assert "--token" not in _run("status", "--help").stdout.replace("--token-file", "")


def test_insecure_no_auth_opens_everything(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo, "--insecure-no-auth")
    assert httpx.get(f"{hub.url}/api/v1/sites").status_code == 200
    assert httpx.get(f"{hub.url}/api/v1/whoami").json() == {"name": None, "role": "admin", "auth": False}


def _services(tmp_path: Path) -> Services:
    settings = HubSettings(gitops=tmp_path / "gitops", data=tmp_path)
    store = Store(open_engine(settings.db_url()))
    fleet = Fleet(tmp_path / "gitops", system_clock, store)
    return Services(settings, fleet, store, Observability(settings, fleet, store, system_clock), system_clock)


async def _changed(_request: Request) -> Response:
    return Response(b"changed")


def test_admin_routes_need_admin_and_a_csrf_header_from_a_browser(tmp_path: Path) -> None:
    """Any route the table does not name is an operator's: GET needs read, anything else admin."""
    assert access("POST", "/api/v1/rollouts/{app}/{action}") == ADMIN
    assert access("GET", "/api/v1/anything/new") == READ
    assert access("POST", "/api/v1/sites/{site}/status") == "site"
    assert all(path.startswith("/") for _, path in ACCESS)
    hub = _services(tmp_path)
    try:
        read = create_operator_token(hub.store, "r", READ, system_clock())
        admin = create_operator_token(hub.store, "a", ADMIN, system_clock())
        app = Starlette(routes=guard([Route("/api/v1/change", _changed, methods=["POST"])], hub))
        with serve_app(app) as url, httpx.Client(base_url=url) as client:
            assert client.post("/api/v1/change").status_code == 401
            refused = client.post("/api/v1/change", headers=bearer(read))
            assert refused.status_code == 403 and "needs an admin token" in refused.json()["error"]
            assert client.post("/api/v1/change", headers=bearer(admin)).text == "changed"
            # through the cookie (a browser): only with X-Requested-By, which no other site can send
            client.cookies.set("aiedge_operator", admin)
            csrf = client.post("/api/v1/change")
            assert csrf.status_code == 403 and "x-requested-by" in csrf.json()["error"]
            assert client.post("/api/v1/change", headers={"X-Requested-By": "dashboard"}).text == "changed"
    finally:
        hub.store.close()


@pytest.mark.parametrize("name", ["", "a b", "x" * 64, "../etc"])
def test_operator_names_are_checked(tmp_path: Path, name: str) -> None:
    store = Store(open_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    try:
        with pytest.raises(BadOperator, match="operator name"):
            create_operator_token(store, name, READ, system_clock())
    finally:
        store.close()


def test_rollout_commands_need_an_admin_token(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo)
    read, admin = operator_token(hub.data, READ), operator_token(hub.data, ADMIN)
    pause = f"{hub.url}/api/v1/rollouts/housing/pause"
    assert httpx.post(pause).status_code == 401
    refused = httpx.post(pause, headers=bearer(read))
    assert refused.status_code == 403 and "needs an admin token" in refused.json()["error"]
    # an admin gets through to the rollouts, which have none for housing yet
    passed = httpx.post(pause, headers=bearer(admin))
    assert passed.status_code == 404 and "no rollout" in passed.json()["error"]
    # the dashboard's cookie alone cannot make the change (a cross-site form could send that)
    with httpx.Client(base_url=hub.url) as browser:
        assert browser.post("/api/v1/login", json={"token": admin}).status_code == 200
        csrf = browser.post("/api/v1/rollouts/housing/pause")
        assert csrf.status_code == 403 and "x-requested-by" in csrf.json()["error"]
        assert (
            browser.post("/api/v1/rollouts/housing/pause", headers={"X-Requested-By": "x"}).status_code == 404
        )
    # the CLI: the token from the environment, read refused in one line, admin through
    cli = _run("rollout", "pause", "housing", "--hub", hub.url, env={"AIEDGE_TOKEN": read})
    assert cli.returncode == 1 and "needs an admin token" in cli.stderr and cli.stderr.count("\n") == 1
    cli = _run("rollout", "pause", "housing", "--hub", hub.url, env={"AIEDGE_TOKEN": admin})
    assert cli.returncode == 1 and "no rollout of app 'housing'" in cli.stderr, cli.stderr
    none = _run("rollout", "status", "housing", "--hub", hub.url, env={"AIEDGE_TOKEN": ""})
    assert none.returncode == 1 and "needs an operator token" in none.stderr
