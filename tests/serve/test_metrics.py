"""`aiedge serve`'s Prometheus metrics and its bounded queue: requests are counted by model,
version, protocol and outcome; latency histograms and load time are exposed; unknown model
names don't create series; a full queue answers 503 with Retry-After instead of waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiedge.demo.model import write_demo_model
from tests.serve.helpers import Server
from tests.serve.models import slow_model


def _samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_requests_are_counted_by_model_protocol_and_outcome(serve: Server, tmp_path: Path) -> None:
    url = serve(write_demo_model(tmp_path / "m"), "demo")
    body = {"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]}
    for _ in range(3):
        assert httpx.post(f"{url}/v1/models/demo/versions/1:predict", json=body).status_code == 200
    assert httpx.post(f"{url}/v1/models/demo:predict", json={"instances": "x"}).status_code == 400
    assert (
        httpx.post(
            f"{url}/v2/models/demo/infer",
            json={"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [0] * 8}]},
        ).status_code
        == 200
    )
    assert httpx.post(f"{url}/v2/models/nope-{'x' * 5}/infer", json={}).status_code == 404
    s = _samples(url)

    def count(**labels: str) -> float:
        return s.get(("aiedge_serve_requests_total", frozenset(labels.items())), 0.0)

    assert count(model="demo", version="1", protocol="tfserving", outcome="success") == 3
    assert count(model="demo", version="1", protocol="tfserving", outcome="bad_request") == 1
    assert count(model="demo", version="1", protocol="v2", outcome="success") == 1
    assert count(model="_unknown", version="", protocol="v2", outcome="not_found") == 1
    assert not any("nope" in str(k) for k in s)
    inference = s[
        (
            "aiedge_serve_inference_duration_seconds_count",
            frozenset({"model": "demo", "version": "1"}.items()),
        )
    ]
    assert inference == 4
    assert s[("aiedge_serve_model_ready", frozenset({"model": "demo", "version": "1"}.items()))] == 1
    assert s[("aiedge_serve_model_load_seconds", frozenset({"model": "demo", "version": "1"}.items()))] > 0


def test_a_full_queue_answers_503_with_retry_after(
    serve: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one slot, no queue: of many concurrent requests on a slow model, some must be refused at once
    monkeypatch.setenv("AIEDGE_SERVE_SLOTS", "1")
    monkeypatch.setenv("AIEDGE_SERVE_QUEUE", "0")
    url = serve(slow_model(tmp_path / "slow"), "slow")
    body = {"inputs": [{"name": "x", "shape": [64, 1024], "datatype": "FP32", "data": [0.5] * (64 * 1024)}]}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *[client.post(f"{url}/v2/models/slow/infer", json=body) for _ in range(12)]
            )

    responses = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert 200 in codes and 503 in codes, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1" and "busy" in refused.json()["error"]
    rejected = _samples(url)[("aiedge_serve_rejected_total", frozenset({"model": "slow"}.items()))]
    assert rejected == codes.count(503)


def test_sigterm_finishes_in_flight_requests(tmp_path: Path) -> None:
    """Graceful shutdown: a request running when SIGTERM arrives still gets its answer."""
    import os
    import signal
    import threading

    from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until

    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            # slow enough (tenths of a second) that the request is surely seen in flight
            str(slow_model(tmp_path / "slow", depth=128)),
            "--name",
            "slow",
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
        ),
        tmp_path / "serve.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/models/slow/ready", timeout=60)
        body = {
            "inputs": [{"name": "x", "shape": [64, 1024], "datatype": "FP32", "data": [0.5] * (64 * 1024)}]
        }
        results: list[httpx.Response | Exception] = []

        def call() -> None:
            try:
                results.append(httpx.post(f"{url}/v2/models/slow/infer", json=body, timeout=60))
            except httpx.HTTPError as e:
                results.append(e)

        # wait until a request is inside the runtime (failing if none ever is: then nothing is left
        # to drain and the test would prove nothing), then ask the server to stop; on a starved
        # machine one request may come and go between two scrapes: then send the next (at most 5)
        in_flight = ("aiedge_serve_in_flight", frozenset({"model": "slow"}.items()))
        for _ in range(5):
            results.clear()
            client = threading.Thread(target=call)
            client.start()
            wait_until(
                lambda c=client: _samples(url).get(in_flight, 0) > 0 or not c.is_alive(),
                timeout=120,
                interval=0.01,
                what="a request in flight",
            )
            if client.is_alive():
                break
            assert len(results) == 1 and isinstance(results[0], httpx.Response), results
        else:
            raise AssertionError("5 requests came and went without one seen in flight")
        os.kill(proc.pid, signal.SIGTERM)
        client.join(60)
        assert len(results) == 1 and isinstance(results[0], httpx.Response), results
        assert results[0].status_code == 200
        assert proc.popen.wait(30) == 0
    finally:
        proc.stop()
