"""``aiedge agent --otlp URL`` as a real process: a real ``aiedge serve`` child answers requests,
the agent scrapes it and ships OTLP/HTTP protobuf to a real receiver (a small server that
decodes with the official OpenTelemetry protos), through a collector outage (503) without loss:
histograms with the site/app/model attributes, request counters as monotonic Sums."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.agent.fakehub import FakeHub
from tests.agent.images import app, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, state
from tests.support import wait_until
from tests.telemetry.appserver import serve_app

SITE = "site-otlp"


class Collector:
    """An OTLP/HTTP metrics receiver: refuses with 503 while ``down``, then keeps what it decodes."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0
        self.metrics: list[tuple[dict[str, str], pb.Metric]] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/metrics", self._export, methods=["POST"])])

    async def _export(self, request: Request) -> Response:
        if request.headers.get("content-type") != "application/x-protobuf":
            return Response("want application/x-protobuf", status_code=415)
        if self.down:
            self.refused += 1
            return Response("collector starting", status_code=503)
        req = ExportMetricsServiceRequest.FromString(await request.body())
        with self._lock:
            for rm in req.resource_metrics:
                res = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
                for scope in rm.scope_metrics:
                    self.metrics.extend((res, m) for m in scope.metrics)
        body = ExportMetricsServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")

    def named(self, name: str) -> list[tuple[dict[str, str], pb.Metric]]:
        with self._lock:
            return [(r, m) for r, m in self.metrics if m.name == name]


def _attrs(point: pb.HistogramDataPoint | pb.NumberDataPoint) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


def test_agent_ships_otlp_through_a_collector_outage(
    tmp_path: Path, fake_hub: Callable[..., FakeHub], images: dict[str, str]
) -> None:
    hub = fake_hub(SITE)
    tiny = app("tiny-app", images["v1"], "tiny", smoke_test("tiny", 1.0))
    hub.set_desired(state(SITE, 1, tiny))
    collector = Collector()
    with serve_app(collector.app) as url:
        agent = agent_proc(hub.url, SITE, tmp_path / "data", tmp_path / "agent.log",
                           "--otlp", f"{url}/v1/metrics", "--scrape-interval", "0.5")  # fmt: skip
        try:
            hub.wait_report(healthy_on(tiny.digest), timeout=90, what="tiny healthy")
            for _ in range(5):
                predict(tiny.port)
            wait_until(lambda: collector.refused >= 3, timeout=60, what="the agent to try the collector")
            up_ns = time.time_ns()
            collector.down = False
            name = "aiedge_serve_request_duration_seconds"
            wait_until(lambda: collector.named(name), timeout=60, what="a histogram at the collector")
            resource, hist = collector.named(name)[0]
            assert resource == {"aiedge.site": SITE, "service.name": "aiedge-agent"}
            assert hist.histogram.aggregation_temporality == pb.AGGREGATION_TEMPORALITY_CUMULATIVE
            point = hist.histogram.data_points[0]
            assert len(point.bucket_counts) == len(point.explicit_bounds) + 1 > 2
            assert sum(point.bucket_counts) == point.count
            attrs = _attrs(point)
            assert {k: attrs[k] for k in ("site", "app", "model")} == {
                "site": SITE, "app": "tiny-app", "model": "tiny"
            }  # fmt: skip

            def served_five() -> bool:
                totals = [
                    p.as_double
                    for _, m in collector.named("aiedge_serve_requests_total")
                    for p in m.sum.data_points
                    if _attrs(p).get("outcome", "success") == "success"
                ]
                return bool(totals) and max(totals) >= 5

            wait_until(served_five, timeout=60, what="the five requests counted at the collector")
            (_, first), *_ = collector.named("aiedge_serve_requests_total")
            assert first.sum.is_monotonic
            # what was scraped while the collector refused arrived too (several scrapes' points)
            stamps = sorted(
                p.time_unix_nano for _, m in collector.named(name) for p in m.histogram.data_points
            )
            assert len(stamps) >= 3 and stamps[0] < up_ns
        finally:
            assert agent.stop() == 0, agent.log()[-2000:]
    assert "Traceback" not in (tmp_path / "agent.log").read_text()
