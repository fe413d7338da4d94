"""What one request may make a real `aiedge hub` process hold (issue 12 points 4 and 5): remote-write
bodies are capped compressed, decompressed, and in series and samples before they become Python
objects, and decoded off the event loop; a bucket bound that is not a number is a 400. Every
other body is capped per route from its Content-Length before a byte is read, cut at the limit
when streamed, timed out when slow; headers are timed out; connections past the limit get 503.
The hub's peak RSS (VmHWM) stays bounded through every attack."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import httpx

from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_series
from aiedge.telemetry.samples import Series, make_labels
from tests.hub.helpers import Hub, StartHub
from tests.support import peak_rss_mb, raw_post, wait_until
from tests.telemetry.helpers import empty_samples

MiB = 1024 * 1024
WRITE = "/api/v1/metrics/write"


def _port(hub: Hub) -> int:
    return int(hub.url.rsplit(":", 1)[1])


def _write(hub: Hub, body: bytes) -> httpx.Response:
    return httpx.post(f"{hub.url}{WRITE}", content=body, headers=REMOTE_WRITE_HEADERS, timeout=120)


def test_a_remote_write_bomb_is_refused_from_snappys_header(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo, "--insecure-no-auth")
    before = peak_rss_mb(hub.proc.pid)
    bomb = empty_samples(16_700_000)  # the audit's body: 1.5 MiB, 16.7 million empty samples
    assert len(bomb) < 2 * MiB
    r = _write(hub, bomb)
    assert r.status_code == 400, r.text
    assert "decompresses to" in r.text and "AIEDGE_HUB_METRICS_MAX_DECODED_BYTES" in r.text
    assert httpx.get(f"{hub.url}/api/v1/health").status_code == 200
    growth = peak_rss_mb(hub.proc.pid) - before
    assert growth < 50, f"peak RSS grew by {growth:.0f} MiB"


def test_samples_and_series_past_the_limits_are_refused_off_the_event_loop(
    start_hub: StartHub, repo: Path
) -> None:
    """Four bodies at once, each just under the decoded limit and holding ~2 million empty
    samples: refused for their count before any becomes a Python object, while /health keeps
    answering (the decoding runs in worker threads)."""
    hub = start_hub(repo, "--insecure-no-auth")
    before = peak_rss_mb(hub.proc.pid)
    body = empty_samples(2_000_000 - 100)  # just under 4 MiB decoded
    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(_write(hub, body))) for _ in range(4)]
    for t in threads:
        t.start()
    health: list[int] = []
    while any(t.is_alive() for t in threads):
        health.append(httpx.get(f"{hub.url}/api/v1/health", timeout=30).status_code)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [400] * 4, [a.text for a in answers]
    assert all("AIEDGE_HUB_METRICS_MAX_SAMPLES" in a.text for a in answers), answers[0].text
    assert set(health) <= {200}
    many = _write(hub, empty_samples(1, extra_series=20_000))
    assert many.status_code == 400 and "AIEDGE_HUB_METRICS_MAX_SERIES" in many.text, many.text
    growth = peak_rss_mb(hub.proc.pid) - before
    print(f"peak RSS {before:.0f} -> {before + growth:.0f} MiB")
    assert growth < 300, f"peak RSS grew by {growth:.0f} MiB"


def test_a_bucket_bound_that_is_not_a_number_is_a_bad_request(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo, "--insecure-no-auth")
    now = int(time.time() * 1000)
    target = {"site": "site-a", "app": "housing", "model": "housing-demo"}
    bucket = "aiedge_serve_request_duration_seconds_bucket"
    bad = Series(make_labels(bucket, {**target, "le": "notanumber"}), [(now - 1000, 1.0), (now, 2.0)])
    r = _write(hub, encode_series([bad]))
    assert r.status_code == 400, r.text
    assert "le='notanumber' is not a number" in r.text
    good = Series(make_labels(bucket, {**target, "le": "+Inf"}), [(now - 1000, 1.0), (now, 2.0)])
    assert _write(hub, encode_series([good])).status_code == 204


def test_the_remote_write_limits_are_settings(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(repo, "--insecure-no-auth", env={"AIEDGE_HUB_METRICS_MAX_SAMPLES": "10"})
    assert _write(hub, empty_samples(10)).status_code == 204
    r = _write(hub, empty_samples(11))
    assert r.status_code == 400 and "limit of 10 (AIEDGE_HUB_METRICS_MAX_SAMPLES)" in r.text, r.text


def test_a_site_cannot_make_the_hub_follow_unbounded_series(start_hub: StartHub, repo: Path) -> None:
    """100,000 distinct series from one site (point 9) grew the hub by ~300 MiB for good; now
    it follows 10,000 per site (the default), counts the rest, and turns away made-up apps."""
    hub = start_hub(repo, "--insecure-no-auth")
    before = peak_rss_mb(hub.proc.pid, "VmRSS")
    now = int(time.time() * 1000)
    target = {"site": "site-a", "app": "housing", "model": "tensorflow-housing", "outcome": "success"}
    for batch in range(5):
        series = [
            Series(make_labels("aiedge_serve_requests_total", {**target, "x": f"{batch}-{i}"}), [(now, 1.0)])
            for i in range(20_000)
        ]
        assert _write(hub, encode_series(series)).status_code == 204
    made_up = [
        Series(make_labels("aiedge_serve_requests_total", {**target, "app": f"app-{i}"}), [(now, 1.0)])
        for i in range(1000)
    ]
    assert _write(hub, encode_series(made_up)).status_code == 204
    after = peak_rss_mb(hub.proc.pid, "VmRSS")
    print(f"RSS {before:.0f} -> {after:.0f} MiB")
    counts = httpx.get(f"{hub.url}/api/v1/sites/site-a/metrics").json()["series"]
    assert counts == {"followed": 10_000, "series_limit": 90_000, "not_desired": 1000}
    assert after - before < 100, f"RSS grew by {after - before:.0f} MiB"
    assert "series dropped (series_limit)" in hub.proc.log()


def test_bodies_over_a_routes_limit_are_refused_from_their_content_length(
    start_hub: StartHub, repo: Path
) -> None:
    hub = start_hub(repo)
    port = _port(hub)
    for path, setting in [
        ("/api/v1/enroll", "AIEDGE_HUB_ENROLL_MAX_BODY_BYTES"),
        ("/api/v1/sites/site-a/status", "AIEDGE_HUB_MAX_BODY_BYTES"),
        ("/api/v1/webhook/git", "AIEDGE_HUB_MAX_BODY_BYTES"),
        (WRITE, "AIEDGE_HUB_METRICS_MAX_BODY_BYTES"),
    ]:
        # 200 MB declared, nothing sent: the answer comes from the header alone
        r = raw_post(port, path, {"Content-Type": "application/json", "Content-Length": "200000000"})
        assert r.status == 413, (path, r)
        assert b"200000000 bytes" in r.body and setting.encode() in r.body, r.body
    assert raw_post(port, "/api/v1/enroll", {"Content-Length": "12abc"}).status == 400
    # within the limit, the route answers as before
    small = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": "aiedge-join-nope"})
    assert small.status_code == 403, small.text


def test_streamed_bodies_are_cut_at_the_limit_and_memory_stays_bounded(
    start_hub: StartHub, repo: Path
) -> None:
    """The audit's 200 MB JSON to /api/v1/enroll, needing no credential, was read whole (+357 MB,
    1.2 GB with four at once); now each is cut at 16 KiB."""
    hub = start_hub(repo)
    before = peak_rss_mb(hub.proc.pid)
    replies = []

    def attack() -> None:
        chunks = (b" " * MiB for _ in range(200))
        replies.append(
            raw_post(_port(hub), "/api/v1/enroll", {"Content-Type": "application/json"}, chunks, True)
        )

    threads = [threading.Thread(target=attack) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in replies] == [413] * 4, replies
    assert all(b"AIEDGE_HUB_ENROLL_MAX_BODY_BYTES" in r.body for r in replies)
    assert max(r.sent for r in replies) < 40 * MiB
    assert httpx.get(f"{hub.url}/api/v1/health").status_code == 200
    growth = peak_rss_mb(hub.proc.pid) - before
    assert growth < 50, f"peak RSS grew by {growth:.0f} MiB"


def _read_until_closed(sock: socket.socket, limit: int = 64 * 1024) -> bytes:
    """The whole reply: headers and body may arrive in separate segments."""
    reply = b""
    while len(reply) < limit and (chunk := sock.recv(limit)):
        reply += chunk
    return reply


def test_slow_clients_are_timed_out_and_connections_are_capped(start_hub: StartHub, repo: Path) -> None:
    hub = start_hub(
        repo,
        env={
            "AIEDGE_HUB_HEADER_TIMEOUT": "1",
            "AIEDGE_HUB_BODY_TIMEOUT": "1",
            "AIEDGE_HUB_MAX_CONNECTIONS": "8",
        },
    )
    port = _port(hub)
    # headers that never finish: 408 and closed after the header timeout
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\n")
        reply = _read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 408") and b"AIEDGE_HUB_HEADER_TIMEOUT" in reply, reply
    # headers sent fast but without end: cut at 64 KiB (AIEDGE_HUB_MAX_HEADER_BYTES) with a 431
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024))
        assert sock.recv(1000).startswith(b"HTTP/1.1 431")
    before = peak_rss_mb(hub.proc.pid)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:  # 200 MiB of them
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):  # the hub closes the connection at the cap
            for _ in range(200):
                sock.sendall(b"a" * MiB)
    assert peak_rss_mb(hub.proc.pid) - before < 20
    # a body that stops halfway: 408 after the body timeout
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        reply = _read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 408") and b"AIEDGE_HUB_BODY_TIMEOUT" in reply, reply
    # past the connection limit: 503 at once; served again when connections close
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(8)]
    try:
        assert httpx.get(f"{hub.url}/api/v1/health").status_code == 503
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: httpx.get(f"{hub.url}/api/v1/health").status_code == 200, timeout=30)
