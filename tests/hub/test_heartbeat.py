"""A site's poll is its heartbeat, against a real `aiedge hub`: a site that posted one report and then
only polls stays seen (its polls touch it) and goes unknown once the polls stop; polls are held at
most the announced heartbeat (never past 0.7 x stale-after); an unchanged poll by ETag is a 304 with
no body and nothing but its ETag; gzipped reports are taken, and a gzip bomb, broken gzip or an
encoding the hub does not take are refused with one line, the bomb without the hub holding it."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from aiedge.gitops import set_app_image
from tests.hub.helpers import StartHub
from tests.support import peak_rss_mb, wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
DIGEST = "sha256:" + "ab" * 32


def _report(site: str) -> bytes:
    apps = [{"name": "housing", "digest": DIGEST, "health": "healthy"}]
    return orjson.dumps({"site": site, "apps": apps, "time": datetime.now(UTC).isoformat()})


def _status(url: str, site: str) -> str:
    status: str = httpx.get(f"{url}/api/v1/sites/{site}", timeout=30).json()["status"]
    return status


def test_polls_keep_a_site_seen_and_unchanged_polls_cost_a_bare_304(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    hub = start_hub(repo, "--insecure-no-auth", "--stale-after", "6")
    with httpx.Client(base_url=hub.url, timeout=60) as http:
        first = http.get("/api/v1/sites/site-a/desired")
        assert first.status_code == 200
        assert first.headers["x-aiedge-heartbeat"] == "4.2"  # 0.7 x stale-after, under the 35 s default
        tag = first.headers["etag"]
        assert tag == f'"{first.headers["x-aiedge-digest"].removeprefix("sha256:")[:16]}"'
        assert "server" not in first.headers and "date" not in first.headers
        posted = http.post(
            "/api/v1/sites/site-a/status",
            content=gzip.compress(_report("site-a")),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert posted.status_code == 204, posted.text
        assert _status(hub.url, "site-a") == "healthy"

        seen: list[str] = []
        for _ in range(4):  # ~17 s of polls, three times stale-after, and no report
            poll = http.get(
                "/api/v1/sites/site-a/desired", params={"wait": "300"}, headers={"If-None-Match": tag}
            )
            assert poll.status_code == 304 and poll.content == b""
            assert dict(poll.headers) == {"etag": tag}  # nothing else on the wire
            seen.append(_status(hub.url, "site-a"))
        assert seen == ["healthy"] * 4

        # an ETag of some other state is answered at once with the current one
        other = http.get("/api/v1/sites/site-a/desired", headers={"If-None-Match": '"0000000000000000"'})
        assert other.status_code == 200 and other.headers["etag"] == tag
    wait_until(lambda: _status(hub.url, "site-a") == "unknown", timeout=60, what="site-a silent -> unknown")


def test_compressed_reports_are_bounded_after_decoding(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    hub = start_hub(repo, "--insecure-no-auth")
    url = f"{hub.url}/api/v1/sites/site-a/status"
    gz: dict[str, Any] = {"Content-Encoding": "gzip", "Content-Type": "application/json"}

    before = peak_rss_mb(hub.proc.pid)
    bomb = gzip.compress(b"{" + b" " * (256 << 20), compresslevel=9)  # 256 MiB of JSON in ~250 KB
    assert len(bomb) < 1 << 20  # under the body limit: the decoded size is what must stop it
    r = httpx.post(url, content=bomb, headers=gz, timeout=60)
    assert r.status_code == 413
    assert r.json()["error"] == (
        "body: decodes to more than this route takes (1048576 bytes after gzip, AIEDGE_HUB_MAX_BODY_BYTES)"
    )
    assert peak_rss_mb(hub.proc.pid) - before < 64  # decoding stopped at the limit

    r2 = httpx.post(url, content=b"\x1f\x8b not gzip at all", headers=gz, timeout=30)
    assert r2.status_code == 400 and r2.json()["error"].startswith("body: not valid gzip")
    cut = zlib.compressobj(wbits=31).compress(_report("site-a") * 50)[:40]
    r3 = httpx.post(url, content=cut, headers=gz, timeout=30)
    assert r3.status_code == 400, r3.text
    r4 = httpx.post(url, content=_report("site-a"), headers={**gz, "Content-Encoding": "br"}, timeout=30)
    assert r4.status_code == 400 and r4.json()["error"].startswith("Content-Encoding: 'br' is not taken")
    ok = httpx.post(url, content=_report("site-a"), headers={"Content-Type": "application/json"}, timeout=30)
    assert ok.status_code == 204  # plain JSON, as older agents send it
