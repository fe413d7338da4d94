"""The hub's API against a real `aiedge hub` process and a real Git repo: desired state per site,
a long poll woken by a new commit, an invalid commit that never replaces the last good revision,
status reports feeding the fleet view, clear 4xx answers for bad requests, a clean SIGTERM. The
first three run on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from aiedge.gitops import set_app_image
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub
from tests.support import wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
DIGEST = "sha256:" + "ab" * 32


def _desired(url: str, site: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/sites/{site}/desired", params=params, timeout=60)


def _report(site: str, digest: str | None, health: str = "healthy", **extra: Any) -> dict[str, Any]:
    apps = [{"name": "housing", "digest": digest, "health": health}] if digest else []
    return {"site": site, "apps": apps, "time": datetime.now(UTC).isoformat(), **extra}


def test_long_poll_wakes_on_a_new_commit(repo: Path, start_hub: StartHub, hub_db: str) -> None:
    hub = start_hub(repo, "--insecure-no-auth", db=hub_db)
    health = httpx.get(f"{hub.url}/api/v1/health").json()
    head = git(repo, "rev-parse", "HEAD")
    assert health == {
        "status": "ok",
        "revision": f"main@sha1:{head}",
        "error": None,
        "error_revision": None,
        "sites": 3,
        "awaiting_build": ["housing"],
        "auth": False,
        "held_polls": 0,
        "held_requests": 0,
        "banner": None,
    }
    first = _desired(hub.url, "site-a")
    assert first.status_code == 200
    assert first.json() == {"site": "site-a", "revision": f"main@sha1:{head}", "apps": []}
    digest = first.headers["X-Aiedge-Digest"]
    assert _desired(hub.url, "site-a", after=digest, wait=0.3).status_code == 304

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_desired, hub.url, "site-a", after=digest, wait=30)
        # whether the commit lands before or while the poll is held, it must answer the new digest
        sha = set_app_image(repo, "housing", REPOSITORY, DIGEST, "build: housing")
        woken = pending.result(timeout=30)
    assert woken.status_code == 200
    body = woken.json()
    assert body["revision"] == f"main@sha1:{sha}"
    (app,) = body["apps"]
    assert app["image"] == f"{REPOSITORY}@{DIGEST}"
    assert app["smoke_test"]["path"] == "/v1/models/tensorflow-housing/versions/1:predict"
    assert app["smoke_test"]["request"] == {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}
    assert woken.headers["X-Aiedge-Digest"] != digest
    assert httpx.get(f"{hub.url}/api/v1/health").json()["awaiting_build"] == []


def test_an_invalid_commit_keeps_the_last_good_revision(repo: Path, start_hub: StartHub, hub_db: str) -> None:
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    hub = start_hub(repo, "--insecure-no-auth", db=hub_db)
    good = httpx.get(f"{hub.url}/api/v1/health").json()["revision"]
    before = _desired(hub.url, "site-b")

    app = repo / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("port: 8080", "port: eighty"))
    git(repo, "commit", "-qam", "break it")
    bad = git(repo, "rev-parse", "HEAD")
    wait_until(lambda: httpx.get(f"{hub.url}/api/v1/health").json()["error"] is not None, what="the error")
    health = httpx.get(f"{hub.url}/api/v1/health").json()
    assert health["status"] == "degraded" and health["revision"] == good
    assert health["error_revision"] == f"main@sha1:{bad}"
    assert health["error"].startswith(
        "apps/housing.yaml:11:9: App: spec.port: Input should be a valid integer"
    )
    again = _desired(hub.url, "site-b")
    assert again.json() == before.json()
    assert "is invalid, still serving" in hub.proc.log()

    app.write_text(app.read_text().replace("port: eighty", "port: 8081"))
    git(repo, "commit", "-qam", "fix it")
    fixed = git(repo, "rev-parse", "HEAD")
    wait_until(
        lambda: httpx.get(f"{hub.url}/api/v1/health").json()["revision"] == f"main@sha1:{fixed}",
        what="the fixed revision",
    )
    assert httpx.get(f"{hub.url}/api/v1/health").json()["error"] is None
    assert _desired(hub.url, "site-b").json()["apps"][0]["port"] == 8081


def test_status_reports_feed_the_fleet_view(repo: Path, start_hub: StartHub, hub_db: str) -> None:
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    hub = start_hub(repo, "--insecure-no-auth", "--stale-after", "2", db=hub_db)
    post = httpx.post(f"{hub.url}/api/v1/sites/site-a/status", json=_report("site-a", DIGEST))
    assert post.status_code == 204
    httpx.post(
        f"{hub.url}/api/v1/sites/site-b/status", json=_report("site-b", DIGEST, "failed", last_error="boom")
    )
    sites = {s["name"]: s for s in httpx.get(f"{hub.url}/api/v1/sites").json()}
    assert {n: s["status"] for n, s in sites.items()} == {
        "site-a": "healthy",
        "site-b": "degraded",
        "site-c": "never-seen",
    }
    assert sites["site-a"]["apps"][0]["digest"] == DIGEST and sites["site-a"]["last_seen"]
    assert sites["site-b"]["last_error"] == "boom"
    assert sites["site-c"]["labels"] == {"region": "us-east", "tier": "near-edge"}
    one = httpx.get(f"{hub.url}/api/v1/sites/site-a").json()
    assert one == sites["site-a"]
    old = "sha256:" + "00" * 32
    httpx.post(f"{hub.url}/api/v1/sites/site-c/status", json=_report("site-c", old))
    assert httpx.get(f"{hub.url}/api/v1/sites/site-c").json()["status"] == "progressing"
    wait_until(
        lambda: httpx.get(f"{hub.url}/api/v1/sites/site-a").json()["status"] == "unknown",
        what="site-a to go silent",
    )


def test_bad_requests_are_4xx_naming_the_problem(repo: Path, start_hub: StartHub) -> None:
    hub = start_hub(repo, "--insecure-no-auth")
    r = _desired(hub.url, "nowhere")
    assert r.status_code == 404 and "site 'nowhere' is not defined" in r.json()["error"]
    r = httpx.post(f"{hub.url}/api/v1/sites/nowhere/status", json=_report("nowhere", None))
    assert r.status_code == 404
    assert httpx.get(f"{hub.url}/api/v1/sites/nowhere").status_code == 404
    r = _desired(hub.url, "site-a", after="x", wait="soon")
    assert r.status_code == 400 and r.json()["error"].startswith("wait:")
    r = httpx.post(f"{hub.url}/api/v1/sites/site-a/status", json={"site": "site-a", "apps": "none"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"apps", "time"}
    r = httpx.post(f"{hub.url}/api/v1/sites/site-a/status", content=b"{not json")
    assert r.status_code == 422
    r = httpx.post(f"{hub.url}/api/v1/sites/site-a/status", json=_report("site-b", None))
    assert r.status_code == 400 and "posted to 'site-a'" in r.json()["error"]
    assert httpx.post(f"{hub.url}/api/v1/sites/site-a/status").status_code == 400


def test_webhook_and_sigterm_with_a_pending_long_poll(repo: Path, start_hub: StartHub) -> None:
    """SIGTERM answers every held long poll at once with 503 + Retry-After (the agent polls again
    later), logs no traceback and exits 0."""
    hub = start_hub(repo, "--insecure-no-auth")
    assert httpx.post(f"{hub.url}/api/v1/webhook/git").status_code == 202
    digest = _desired(hub.url, "site-a").headers["X-Aiedge-Digest"]
    with ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(_desired, hub.url, s, after=digest, wait=60) for s in ("site-a", "site-a")]
        wait_until(lambda: _health(hub.url)["held_polls"] == 2, timeout=30, what="the polls to be held")
        started = time.monotonic()
        assert hub.proc.stop() == 0
        stopped_after = time.monotonic() - started
        answers = [p.result(timeout=30) for p in pending]
    assert [(r.status_code, r.headers.get("retry-after")) for r in answers] == [(503, "1"), (503, "1")]
    assert "shutting down" in answers[0].json()["error"]
    log = hub.proc.log()
    assert "hub stopped" in log and "Traceback" not in log and "CancelledError" not in log, log
    print(f"SIGTERM to exit with 2 held long polls: {stopped_after:.2f} s")


def test_polls_held_together_do_not_end_together(repo: Path, start_hub: StartHub) -> None:
    """Polls that one commit woke come back at once; held for exactly their ``wait`` they would
    end, and come back, together for good. Each is held up to an eighth less, at random."""
    hub = start_hub(repo, "--insecure-no-auth")
    digest = _desired(hub.url, "site-a").headers["X-Aiedge-Digest"]

    def timed_poll(_: int) -> tuple[int, float]:
        t0 = time.monotonic()
        r = _desired(hub.url, "site-a", after=digest, wait=8)
        return r.status_code, time.monotonic() - t0

    with ThreadPoolExecutor(16) as pool:
        polls = list(pool.map(timed_poll, range(16)))
    assert {code for code, _ in polls} == {304}
    held = sorted(seconds for _, seconds in polls)
    assert held[0] >= 7 - 0.05, held  # never more than an eighth early
    # held for the whole 8 s, every poll would take 8 s and more. Of 16 holds drawn from [7, 8] s,
    # all are over 7.6 s about once in 10^6 runs; 0.25 s is left for the client's own overhead
    assert held[0] < 7.85, held


def test_a_commit_wakes_the_fleet_at_the_wake_rate(repo: Path, start_hub: StartHub) -> None:
    """A commit wakes every held poll, and every woken site comes straight back: woken at once,
    a fleet's herd takes the hub's whole core for seconds and status posts wait behind it. The
    hub wakes at most ``AIEDGE_HUB_WAKE_RATE`` sites a second; here 1, so of the three sites the
    last is told at least 2 s after the first."""
    hub = start_hub(repo, "--insecure-no-auth", env={"AIEDGE_HUB_WAKE_RATE": "1"})
    digest = _desired(hub.url, "site-a").headers["X-Aiedge-Digest"]

    def timed_poll(site: str) -> tuple[str, int, float]:
        r = _desired(hub.url, site, after=digest, wait=60)
        return site, r.status_code, time.monotonic()

    sites = ["site-a", "site-b", "site-c"] * 2
    with ThreadPoolExecutor(len(sites)) as pool:
        pending = [pool.submit(timed_poll, s) for s in sites]
        wait_until(lambda: _health(hub.url)["held_polls"] == len(sites), timeout=30, what="the polls held")
        set_app_image(repo, "housing", REPOSITORY, DIGEST, "build: housing")
        answers = [p.result(timeout=60) for p in pending]
    assert {code for _, code, _ in answers} == {200}
    told = {site: sorted(t for s, _, t in answers if s == site) for site in set(sites)}
    firsts = sorted(times[0] for times in told.values())
    assert firsts[-1] - firsts[0] >= 2 - 0.05, told  # three sites at one a second (timers may round)


def test_a_second_commit_is_served_while_the_first_still_wakes_the_fleet(
    repo: Path, start_hub: StartHub
) -> None:
    """Waking a large fleet at the wake rate takes seconds (10,000 sites: about 3 s at the default
    3,000 a second). That happens beside the sync, not inside it: the next commit (or a rollout
    step, or an operator's command) is served at once, not after the last site was woken. At one
    site every ten seconds, the second commit is served while polls of the first are still held;
    they are answered with the newest state."""
    hub = start_hub(repo, "--insecure-no-auth", env={"AIEDGE_HUB_WAKE_RATE": "0.1"})
    digest = _desired(hub.url, "site-a").headers["X-Aiedge-Digest"]
    sites = ["site-a", "site-b", "site-c"]
    with ThreadPoolExecutor(len(sites)) as pool:
        pending = [pool.submit(_desired, hub.url, s, after=digest, wait=120) for s in sites]
        wait_until(lambda: _health(hub.url)["held_polls"] == len(sites), timeout=30, what="the polls held")
        first = set_app_image(repo, "housing", REPOSITORY, DIGEST, "build: housing")
        assert httpx.post(f"{hub.url}/api/v1/webhook/git").status_code == 202
        wait_until(lambda: _health(hub.url)["revision"] == f"main@sha1:{first}", timeout=60, what="commit 1")
        second = set_app_image(repo, "housing", REPOSITORY, "sha256:" + "cd" * 32, "build: housing again")
        assert httpx.post(f"{hub.url}/api/v1/webhook/git").status_code == 202
        wait_until(lambda: _health(hub.url)["revision"] == f"main@sha1:{second}", timeout=60, what="commit 2")
        still_held = _health(hub.url)["held_polls"]
        answers = [p.result(timeout=120) for p in pending]
    assert still_held >= 1  # the first commit's wake was still under way
    assert {r.status_code for r in answers} == {200}
    told = [r.json()["revision"] for r in answers]
    # the polls still held when the second commit was served are answered with it
    assert told.count(f"main@sha1:{second}") >= still_held, told
    assert set(told) <= {f"main@sha1:{first}", f"main@sha1:{second}"}, told


def _health(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/api/v1/health", timeout=30).json()
    return body


def test_non_finite_waits_are_refused_and_other_polls_go_on(repo: Path, start_hub: StartHub) -> None:
    """`wait=nan` (or inf, 1e309) would reach the event loop's timers and stall every site's long
    poll: refused with 400; a huge finite wait is clamped to --max-wait; other sites' polls answer."""
    hub = start_hub(repo, "--insecure-no-auth")
    digest = _desired(hub.url, "site-b").headers["X-Aiedge-Digest"]
    for bad in ("nan", "NaN", "inf", "-inf", "1e309"):
        r = _desired(hub.url, "site-a", after="x", wait=bad)
        assert r.status_code == 400 and r.json()["error"].startswith("wait: must be a finite number"), bad
    with ThreadPoolExecutor(8) as pool:
        bad_polls = [pool.submit(_desired, hub.url, "site-a", after=digest, wait=w) for w in ("nan", "inf")]
        polls = [pool.submit(_desired, hub.url, "site-b", after=digest, wait=0.3) for _ in range(5)]
        assert [p.result(timeout=60).status_code for p in bad_polls] == [400, 400]
        assert [p.result(timeout=60).status_code for p in polls] == [304] * 5
    for _ in range(3):  # and after them, one after the other
        assert _desired(hub.url, "site-b", after=digest, wait=0.3).status_code == 304


def test_a_fleet_reporting_at_once_loses_no_report(repo: Path, start_hub: StartHub, hub_db: str) -> None:
    """300 sites post at the same moment (the hub writes them by group commit), twice: every
    site's newest report is the one kept; one commit changes all 300 desired states at once."""
    sites = [f"plant-{i:03d}" for i in range(300)]
    (repo / "sites" / "plants.yaml").write_text(
        "---\n".join(
            f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: {s}\n  labels:\n"
            "    tier: near-edge\n"
            for s in sites
        )
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "300 plants")
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    hub = start_hub(repo, "--insecure-no-auth", db=hub_db)
    client = httpx.Client(base_url=hub.url, timeout=60)
    pool = ThreadPoolExecutor(16)

    def desired_all() -> dict[str, httpx.Response]:
        return dict(
            zip(sites, pool.map(lambda s: client.get(f"/api/v1/sites/{s}/desired"), sites), strict=True)
        )

    before = {s: r.headers["x-aiedge-digest"] for s, r in desired_all().items()}

    def post_all(version: str) -> list[int]:
        def post(site: str) -> int:
            body = _report(site, DIGEST, observed_revision=f"{version}-{site}")
            return client.post(f"/api/v1/sites/{site}/status", json=body).status_code

        return list(pool.map(post, sites))

    assert set(post_all("first")) == {204}
    assert set(post_all("second")) == {204}
    fleet = {s["name"]: s for s in httpx.get(f"{hub.url}/api/v1/sites", timeout=60).json()}
    assert {s: fleet[s]["observed_revision"] for s in sites} == {s: f"second-{s}" for s in sites}
    assert {fleet[s]["status"] for s in sites} == {"healthy"}

    new = "sha256:" + "cd" * 32
    set_app_image(repo, "housing", REPOSITORY, new, "new digest for all")
    wait_until(
        lambda: _desired(hub.url, sites[-1]).json()["apps"][0]["image"].endswith(new),
        what="the new digest",
    )
    after = desired_all()
    pool.shutdown()
    client.close()
    assert all(r.json()["apps"][0]["image"].endswith(new) for r in after.values())
    assert all(after[s].headers["x-aiedge-digest"] != before[s] for s in sites)


def test_a_request_queued_for_a_site_ends_its_held_poll_and_says_so(repo: Path, start_hub: StartHub) -> None:
    """An agent needs no second held poll for operators' requests (every held poll is a socket
    at the hub): its desired-state poll ends the moment one is queued, and says so."""
    hub = start_hub(repo, "--insecure-no-auth")
    first = _desired(hub.url, "site-a")
    assert first.headers["X-Aiedge-Requests"] == "0"  # the hub tells: agents hold one poll
    tag = {"If-None-Match": first.headers["ETag"]}

    def poll(timeout: float = 60) -> httpx.Response:
        return httpx.get(f"{hub.url}/api/v1/sites/site-a/desired?wait=30", headers=tag, timeout=timeout)

    def ask() -> int:
        r = httpx.post(f"{hub.url}/api/v1/sites/site-a/requests", json={"kind": "diagnose"}, timeout=30)
        assert r.status_code == 202, r.text
        return int(r.json()["id"])

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(poll)
        wait_until(lambda: _health(hub.url)["held_polls"] == 1, timeout=30, what="the poll held")
        request_id = ask()
        ended = held.result(timeout=20)  # before: held its 30 s, and said nothing
        assert ended.status_code == 304 and ended.headers.get("X-Aiedge-Requests") == "1"
        # told once: polling again before fetching them is held as usual, not answered again
        again = pool.submit(poll)
        wait_until(lambda: _health(hub.url)["held_polls"] == 1, timeout=30, what="the poll held again")
        assert not again.done()
        taken = httpx.get(f"{hub.url}/api/v1/sites/site-b/requests", timeout=30).json()
        assert taken == []  # another site's requests are not site-a's
        taken = httpx.get(f"{hub.url}/api/v1/sites/site-a/requests", timeout=30).json()
        assert [r["id"] for r in taken] == [request_id]
        second = ask()  # a new request tells again, and ends the poll held meanwhile
        ended = again.result(timeout=20)
        assert ended.status_code == 304 and ended.headers.get("X-Aiedge-Requests") == "1"
        taken = httpx.get(f"{hub.url}/api/v1/sites/site-a/requests", timeout=30).json()
        assert [r["id"] for r in taken] == [second]
    # queued while the site was between polls: its next poll is answered at once, and says so
    third = ask()
    told = poll(timeout=20)  # not held its 30 s
    assert told.status_code == 304 and told.headers.get("X-Aiedge-Requests") == "1"
    taken = httpx.get(f"{hub.url}/api/v1/sites/site-a/requests", timeout=30).json()
    assert [r["id"] for r in taken] == [third]
    assert _health(hub.url)["held_requests"] == 0
