"""Scale-out: two real `aiedge hub` processes on one PostgreSQL database serve one fleet. A client
whose requests alternate between the hubs sees a commit (noticed only by hub A) wake its long poll
held by hub B, through PostgreSQL LISTEN/NOTIFY; a site enrolled through hub A is served by hub B;
both hubs agree on the revision and never publish an invalid one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from aiedge.gitops import set_app_image
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub
from tests.support import aiedge_cmd, wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
DIGEST = "sha256:" + "ab" * 32
# hub B never reads the repo after it starts and never syncs on a timer: only a NOTIFY wakes it
DEAF = {"AIEDGE_HUB_ROLLOUT_INTERVAL": "600"}


def _desired(url: str, site: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/sites/{site}/desired", params=params, headers=headers, timeout=60)


def test_a_commit_seen_by_hub_a_wakes_a_long_poll_on_hub_b(
    repo: Path, start_hub: StartHub, pg_url: str
) -> None:
    a = start_hub(repo, "--insecure-no-auth", db=pg_url)
    b = start_hub(repo, "--insecure-no-auth", "--poll-interval", "600", db=pg_url, env=DEAF)
    head = git(repo, "rev-parse", "HEAD")
    for hub in (a, b):
        assert httpx.get(f"{hub.url}/api/v1/health").json()["revision"] == f"main@sha1:{head}"
    digest = _desired(a.url, "site-a").headers["X-Aiedge-Digest"]
    assert _desired(b.url, "site-a").headers["X-Aiedge-Digest"] == digest

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_desired, b.url, "site-a", after=digest, wait=30)
        sha = set_app_image(repo, "housing", REPOSITORY, DIGEST, "build: housing")
        woken = pending.result(timeout=30)
    assert woken.status_code == 200
    assert woken.json()["revision"] == f"main@sha1:{sha}"
    assert woken.json()["apps"][0]["image"] == f"{REPOSITORY}@{DIGEST}"
    new = woken.headers["X-Aiedge-Digest"]
    # the next request goes to hub A, which agrees
    assert _desired(a.url, "site-a", after=new, wait=0.2).status_code == 304
    assert "published revision" in a.proc.log()

    # a bad commit: hub A reports it, neither hub publishes it
    app = repo / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("port: 8080", "port: eighty"))
    git(repo, "commit", "-qam", "break it")
    wait_until(lambda: httpx.get(f"{a.url}/api/v1/health").json()["error"] is not None, what="the error")
    for hub in (a, b):
        assert httpx.get(f"{hub.url}/api/v1/health").json()["revision"] == f"main@sha1:{sha}"
    assert _desired(b.url, "site-a").headers["X-Aiedge-Digest"] == new


def test_enrolment_on_hub_a_works_on_hub_b(
    repo: Path, start_hub: StartHub, pg_url: str, tmp_path: Path
) -> None:
    import subprocess

    a = start_hub(repo, db=pg_url)
    b = start_hub(repo, db=pg_url)
    out = subprocess.run(
        aiedge_cmd(
            "hub", "--db", pg_url, "token", "create", "--site", "site-b", "--data", str(tmp_path / "cli")
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    token = out.stdout.strip().splitlines()[-1]
    r = httpx.post(f"{a.url}/api/v1/enroll", json={"token": token, "site": "site-b"})
    assert r.status_code == 200, r.text
    credential = r.json()["credential"]
    auth = {"Authorization": f"Bearer {credential}"}
    assert _desired(b.url, "site-b", headers=auth).status_code == 200
    assert _desired(a.url, "site-b", headers=auth).status_code == 200  # both hubs know it now
    assert _desired(b.url, "site-a", headers=auth).status_code == 403
    # the token is spent for both hubs
    assert httpx.post(f"{b.url}/api/v1/enroll", json={"token": token}).status_code == 403
    revoked = subprocess.run(
        aiedge_cmd("hub", "--db", pg_url, "site", "revoke", "site-b"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "revoked 1 credential" in revoked.stdout
    for hub in (a, b):  # both hubs drop the checked credential at their next sync
        wait_until(
            lambda h=hub: _desired(h.url, "site-b", headers=auth).status_code == 401, timeout=10, what="401"
        )
