"""The OTLP/HTTP metrics encoding, decoded with the official OpenTelemetry protos: a Prometheus
histogram family becomes one cumulative Histogram (bounds from ``le``, per-bucket counts), a
``*_total`` series a monotonic Sum, the rest Gauges; labels become attributes; a histogram a
batch cut in two is sent as its plain series, not lost; the shipper posts it with OTLP's headers
to a real receiver."""

from __future__ import annotations

import asyncio

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.telemetry.otlp import encode_samples
from aiedge.telemetry.samples import Sample, make_labels
from aiedge.telemetry.shipper import Destination, make_client, send
from tests.telemetry.appserver import serve_app

SITE = {"site": "site-a", "app": "housing", "model": "housing-demo"}


def _s(name: str, ts: int, value: float, **labels: str) -> Sample:
    return Sample(make_labels(name, {**SITE, **labels}), ts, value)


def _histogram(ts: int, counts: tuple[float, float, float], total: float) -> list[Sample]:
    name = "aiedge_serve_request_duration_seconds"
    return [
        _s(f"{name}_bucket", ts, counts[0], le="0.005"),
        _s(f"{name}_bucket", ts, counts[1], le="0.1"),
        _s(f"{name}_bucket", ts, counts[2], le="+Inf"),
        _s(f"{name}_sum", ts, total),
        _s(f"{name}_count", ts, counts[2]),
    ]


def _decode(body: bytes) -> dict[str, pb.Metric]:
    req = ExportMetricsServiceRequest()
    req.ParseFromString(body)
    (rm,) = req.resource_metrics
    (scope,) = rm.scope_metrics
    assert scope.scope.name == "aiedge.agent"
    return {m.name: m for m in scope.metrics}


def _attrs(point: pb.NumberDataPoint | pb.HistogramDataPoint) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


def test_histograms_counters_and_gauges() -> None:
    samples = [
        *_histogram(1_000, (3, 7, 9), 0.42),
        *_histogram(2_000, (4, 9, 12), 0.61),
        _s("aiedge_serve_requests_total", 1_000, 9, outcome="success"),
        _s("aiedge_serve_requests_total", 2_000, 12, outcome="success"),
        _s("aiedge_serve_queue_depth", 2_000, 1.5),
    ]
    body = encode_samples(samples, {"aiedge.site": "site-a"})
    req = ExportMetricsServiceRequest.FromString(body)
    resource = {kv.key: kv.value.string_value for kv in req.resource_metrics[0].resource.attributes}
    assert resource == {"aiedge.site": "site-a", "service.name": "aiedge-agent"}
    metrics = _decode(body)
    assert set(metrics) == {
        "aiedge_serve_request_duration_seconds",
        "aiedge_serve_requests_total",
        "aiedge_serve_queue_depth",
    }
    hist = metrics["aiedge_serve_request_duration_seconds"].histogram
    assert hist.aggregation_temporality == pb.AGGREGATION_TEMPORALITY_CUMULATIVE
    first, second = hist.data_points
    assert list(first.explicit_bounds) == [0.005, 0.1]
    assert list(first.bucket_counts) == [3, 4, 2] and first.count == 9 and first.sum == 0.42
    assert list(second.bucket_counts) == [4, 5, 3] and second.count == 12
    assert second.time_unix_nano == 2_000 * 1_000_000
    assert _attrs(first) == SITE  # no le
    total = metrics["aiedge_serve_requests_total"].sum
    assert total.is_monotonic and total.aggregation_temporality == pb.AGGREGATION_TEMPORALITY_CUMULATIVE
    assert [p.as_double for p in total.data_points] == [9, 12]
    assert _attrs(total.data_points[0]) == {**SITE, "outcome": "success"}
    gauge = metrics["aiedge_serve_queue_depth"].gauge
    assert [p.as_double for p in gauge.data_points] == [1.5]


def test_a_histogram_cut_by_a_batch_goes_as_its_series() -> None:
    whole = _histogram(1_000, (3, 7, 9), 0.42)
    metrics = _decode(encode_samples(whole[:2]))  # +Inf, sum and count are in the next batch
    assert "aiedge_serve_request_duration_seconds" not in metrics
    assert metrics["aiedge_serve_request_duration_seconds_bucket"].sum.is_monotonic
    assert len(metrics["aiedge_serve_request_duration_seconds_bucket"].sum.data_points) == 2
    alone = _decode(encode_samples(whole[2:3]))  # +Inf alone is no histogram either
    assert alone["aiedge_serve_request_duration_seconds_bucket"].sum.is_monotonic


def test_a_bucket_count_that_is_not_finite_is_not_a_histogram() -> None:
    samples = _histogram(1_000, (3, float("nan"), 9), 0.42)
    metrics = _decode(encode_samples(samples))
    assert "aiedge_serve_request_duration_seconds" not in metrics
    points = metrics["aiedge_serve_request_duration_seconds_bucket"].sum.data_points
    assert len(points) == 3


def test_the_shipper_posts_otlp_protobuf() -> None:
    got: list[tuple[str, bytes]] = []

    async def receive(request: Request) -> Response:
        got.append((request.headers["content-type"], await request.body()))
        return Response(
            ExportMetricsServiceRequest().SerializeToString(), media_type="application/x-protobuf"
        )

    with serve_app(Starlette(routes=[Route("/v1/metrics", receive, methods=["POST"])])) as url:
        dest = Destination("otlp-x", f"{url}/v1/metrics", protocol="otlp", resource={"aiedge.site": "s"})

        async def go() -> None:
            async with make_client(dest) as client:
                await send(client, dest, _histogram(5_000, (1, 2, 3), 0.1))

        asyncio.run(go())
    ((content_type, body),) = got
    assert content_type == "application/x-protobuf"
    assert list(_decode(body)) == ["aiedge_serve_request_duration_seconds"]
