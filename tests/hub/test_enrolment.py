"""Enrolment against a real hub process that requires credentials (the default): a one-time join
token made by `aiedge hub token create` while the hub runs, traded once at /api/v1/enroll for a
per-site credential; a credential works for its own site only; `aiedge hub site revoke` ends it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.hub.helpers import StartHub
from tests.support import aiedge_cmd, wait_until


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(aiedge_cmd("hub", *args), capture_output=True, text=True, timeout=60, check=False)


def _desired(url: str, site: str, credential: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return httpx.get(f"{url}/api/v1/sites/{site}/desired", headers=headers, timeout=10)


def test_join_token_credential_and_revocation(repo: Path, start_hub: StartHub) -> None:
    hub = start_hub(repo)
    assert httpx.get(f"{hub.url}/api/v1/health").json()["auth"] is True
    r = _desired(hub.url, "site-a", None)
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]
    assert _desired(hub.url, "site-a", "made-up").status_code == 401

    made = _cli("token", "create", "--site", "site-a", "--data", str(hub.data))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("aiedge-join-")
    assert token not in (hub.data / "hub.db").read_bytes().decode(errors="replace")

    wrong_site = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": token, "site": "site-b"})
    assert wrong_site.status_code == 403
    enrolled = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": token, "site": "site-a"})
    assert enrolled.status_code == 200, enrolled.text
    body = enrolled.json()
    assert body["site"] == "site-a" and body["credential"].startswith("aiedge-site-")
    credential = body["credential"]
    again = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": token})
    assert again.status_code == 403 and "already used" in again.json()["error"]
    assert httpx.post(f"{hub.url}/api/v1/enroll", json={"site": "site-a"}).status_code == 422

    assert _desired(hub.url, "site-a", credential).status_code == 200
    other = _desired(hub.url, "site-b", credential)
    assert other.status_code == 403 and "belongs to site 'site-a'" in other.json()["error"]
    status = httpx.post(
        f"{hub.url}/api/v1/sites/site-b/status",
        json={"site": "site-b", "time": "2026-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert status.status_code == 403

    revoked = _cli("site", "revoke", "site-a", "--data", str(hub.data))
    assert revoked.returncode == 0 and revoked.stdout.strip() == "revoked 1 credential of site site-a"
    # every hub drops the credentials it had checked at its next sync (within a second)
    wait_until(lambda: _desired(hub.url, "site-a", credential).status_code == 401, timeout=10, what="401")


def test_expired_token_is_refused(repo: Path, start_hub: StartHub) -> None:
    hub = start_hub(repo)
    token = _cli(
        "token", "create", "--site", "site-c", "--data", str(hub.data), "--ttl", "0.001"
    ).stdout.strip()
    r = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": token})
    assert r.status_code == 403 and "expired" in r.json()["error"]
