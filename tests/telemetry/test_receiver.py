"""The remote-write receiver: decoding errors name the problem; the endpoint answers 204/400/503."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from aiedge.telemetry.errors import BadWriteRequest, TelemetryError
from aiedge.telemetry.proto import remote_write_pb2 as pb
from aiedge.telemetry.receiver import WriteLimits, decode_write_request, make_write_endpoint
from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_samples
from aiedge.telemetry.samples import Sample, Series, make_labels
from tests.telemetry.appserver import serve_app
from tests.telemetry.helpers import empty_samples, snappy

GOOD = [
    Sample(make_labels("up", {"site": "s1"}), 1000, 1.0),
    Sample(make_labels("up", {"site": "s1"}), 2000, 0.0),
]


def request_of(*series: list[tuple[str, str]]) -> bytes:
    req = pb.WriteRequest()
    for labels in series:
        ts = req.timeseries.add()
        ts.labels.extend(pb.Label(name=n, value=v) for n, v in labels)
        ts.samples.add(value=1.0, timestamp=5)
    return snappy(req.SerializeToString())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not snappy at all \xff\xff\xff\xff", "snappy"),
        (snappy(b"\xff\xff\xff garbage"), "protobuf"),
        (request_of([("site", "s1")]), "timeseries[0] has no __name__"),
        (
            request_of([("__name__", "up")], [("__name__", "x"), ("", "v")]),
            "timeseries[1] has a label with an empty",
        ),
        (request_of([("__name__", "up"), ("a", "1"), ("a", "2")]), "repeats a label name"),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, reason: str) -> None:
    with pytest.raises(BadWriteRequest, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_write_request(body)


def test_decompression_bomb_is_refused_before_decompressing() -> None:
    body = snappy(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(BadWriteRequest, match="over the limit"):
        decode_write_request(body, WriteLimits(max_decoded_bytes=1024 * 1024))


def test_series_and_samples_are_counted_before_they_become_objects() -> None:
    limits = WriteLimits(max_series=3, max_samples=1000, setting_prefix="AIEDGE_HUB_METRICS_")
    with pytest.raises(
        BadWriteRequest, match=r"1001 samples .* limit of 1000 \(AIEDGE_HUB_METRICS_MAX_SAMPLES\)"
    ):
        decode_write_request(empty_samples(1001), limits)
    with pytest.raises(BadWriteRequest, match=r"4 series .* limit of 3 \(AIEDGE_HUB_METRICS_MAX_SERIES\)"):
        decode_write_request(empty_samples(1, extra_series=3), limits)
    (series,) = decode_write_request(empty_samples(1000), limits)
    assert len(series.samples) == 1000


def test_unsorted_labels_are_sorted() -> None:
    (series,) = decode_write_request(request_of([("site", "s1"), ("__name__", "up")]))
    assert series.labels == (("__name__", "up"), ("site", "s1"))


def test_endpoint_over_http() -> None:
    received: list[list[Series]] = []
    broken = asyncio.Event()

    async def sink(series: list[Series]) -> None:
        if broken.is_set():
            raise TelemetryError("database is locked")
        received.append(series)

    app = Starlette(routes=[Route("/api/v1/metrics/write", make_write_endpoint(sink), methods=["POST"])])
    with serve_app(app) as base:
        url = f"{base}/api/v1/metrics/write"
        ok = httpx.post(url, content=encode_samples(GOOD), headers=REMOTE_WRITE_HEADERS)
        assert ok.status_code == 204, ok.text
        assert received == [[Series(make_labels("up", {"site": "s1"}), [(1000, 1.0), (2000, 0.0)])]]

        bad = httpx.post(url, content=b"\x00garbage", headers=REMOTE_WRITE_HEADERS)
        assert bad.status_code == 400 and "snappy" in bad.text

        gzip = httpx.post(
            url, content=encode_samples(GOOD), headers={**REMOTE_WRITE_HEADERS, "Content-Encoding": "gzip"}
        )
        assert gzip.status_code == 400 and "Content-Encoding" in gzip.text

        broken.set()
        busy = httpx.post(url, content=encode_samples(GOOD), headers=REMOTE_WRITE_HEADERS)
        assert busy.status_code == 503 and "database is locked" in busy.text
    assert len(received) == 1


def test_endpoint_refuses_oversized_bodies() -> None:
    async def sink(series: list[Series]) -> None:
        raise AssertionError("must not be called")

    app = Starlette(
        routes=[Route("/w", make_write_endpoint(sink, WriteLimits(max_body_bytes=1000)), methods=["POST"])]
    )
    with serve_app(app) as base:
        resp = httpx.post(f"{base}/w", content=b"x" * 5000, headers=REMOTE_WRITE_HEADERS)
        assert resp.status_code == 413
