"""The seed's metric names (OpenVINO Model Server and MLServer, as listed in its ACM observability
allowlist), derived from aiedge's own series at scrape time so dashboards and alerts written for
the seed keep working. The request path pays nothing: :class:`SeedNamesCollector` reads the
``aiedge_serve_*`` samples only when ``/metrics`` is scraped.

=======================================  ==========================================================
seed name (unit)                         derived from
=======================================  ==========================================================
ovms_requests_success (count)            aiedge_serve_requests_total{outcome="success"}
ovms_requests_fail (count)               aiedge_serve_requests_total{outcome!="success"}
ovms_request_time_us (µs histogram)      aiedge_serve_request_duration_seconds, bounds x 1e6
ovms_inference_time_us (µs histogram)    aiedge_serve_inference_duration_seconds, bounds x 1e6
ovms_infer_req_active (requests)         aiedge_serve_in_flight
rest_server_requests_total (count)       aiedge_serve_requests_total of the REST protocols
rest_server_request_duration_seconds     aiedge_serve_request_duration_seconds of the REST protocols
rest_server_requests_in_progress         aiedge_serve_in_flight + aiedge_serve_queue_depth
=======================================  ==========================================================

OVMS labels: ``name`` (the model), ``version``, ``interface`` (``REST`` or ``gRPC``), ``api``
(``KServe`` for V2 REST and gRPC, ``TensorFlowServing``, ``MLflow``) and ``method``
(``ModelInfer``, ``Predict``, ``Invocations``). MLServer labels: ``method`` (``POST``), ``path``
(``/v2/models/NAME/infer``, ``/v1/models/NAME:predict``, ``/invocations``) and, on the request
counter, ``status_code``. Without a counterpart, so not exported: ``ovms_streams`` and
``ovms_infer_req_queue_size`` (OpenVINO stream and infer-request pool sizes),
``ovms_wait_for_infer_req_time_us`` and MLServer's ``parallel_request_queue`` (aiedge measures
no per-request queue wait; ``aiedge_serve_queue_depth`` is the queue's length).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

_REQUESTS = "aiedge_serve_requests_total"
_REQUEST_S = "aiedge_serve_request_duration_seconds"
_INFERENCE_S = "aiedge_serve_inference_duration_seconds"
_IN_FLIGHT = "aiedge_serve_in_flight"
_QUEUE = "aiedge_serve_queue_depth"
_SOURCES = [
    _REQUESTS,
    _IN_FLIGHT,
    _QUEUE,
    *(f"{h}_{s}" for h in (_REQUEST_S, _INFERENCE_S) for s in ("bucket", "sum", "count")),
]

NO_COUNTERPART = frozenset(
    {"ovms_streams", "ovms_infer_req_queue_size", "ovms_wait_for_infer_req_time_us", "parallel_request_queue"}
)
"""Families of the seed's allowlist that have no aiedge equivalent (histograms without suffix)."""

_API = {
    "v2": "KServe",
    "grpc": "KServe",
    "tfserving": "TensorFlowServing",
    "tfserving_grpc": "TensorFlowServing",
    "mlflow": "MLflow",
}
_METHOD = {
    "v2": "ModelInfer",
    "grpc": "ModelInfer",
    "tfserving": "Predict",
    "tfserving_grpc": "Predict",
    "mlflow": "Invocations",
}
_PATH = {"v2": "/v2/models/{}/infer", "tfserving": "/v1/models/{}:predict", "mlflow": "/invocations"}
_STATUS = {"success": "200", "bad_request": "400", "not_found": "404", "unavailable": "503", "error": "500"}

_DOCS = {
    # OVMS exposes these two counters without a _total suffix; prometheus_client would write
    # TYPE lines for NAME_total then, so they go out untyped (PromQL treats both alike)
    "ovms_requests_success": ("unknown", "Successful inference requests (aiedge_serve_requests_total)"),
    "ovms_requests_fail": ("unknown", "Failed inference requests (aiedge_serve_requests_total)"),
    "ovms_request_time_us": ("histogram", "Request time in microseconds (whole request)"),
    "ovms_inference_time_us": ("histogram", "Inference time in microseconds (the runtime's predict)"),
    "ovms_infer_req_active": ("gauge", "Requests running in the runtime (aiedge_serve_in_flight)"),
    "rest_server_requests": ("counter", "REST inference requests (aiedge_serve_requests_total)"),
    "rest_server_request_duration_seconds": ("histogram", "REST request duration in seconds"),
    "rest_server_requests_in_progress": ("gauge", "REST requests queued or running"),
}


def _metric(name: str) -> Metric:
    kind, doc = _DOCS[name]
    return Metric(name, doc, kind)


class SeedNamesCollector:
    """A prometheus_client collector over ``registry`` that re-exports its ``aiedge_serve_*``
    samples under the seed's names (see the module docstring). Register it in the same registry:
    it reads the source series through a restricted view, which never includes itself."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._source = registry.restricted_registry(_SOURCES)

    def describe(self) -> Iterable[Metric]:
        return [_metric(name) for name in _DOCS]

    def collect(self) -> Iterator[Metric]:
        by_name: dict[str, list[Sample]] = defaultdict(list)
        for family in self._source.collect():
            for sample in family.samples:
                by_name[sample.name].append(sample)
        yield from _requests(by_name[_REQUESTS])
        yield _histogram(
            "ovms_request_time_us", _REQUEST_S, by_name, 1e6, lambda lb: _ovms_labels(lb, with_api=False)
        )
        yield _histogram(
            "ovms_inference_time_us", _INFERENCE_S, by_name, 1e6, lambda lb: {"name": lb.get("model", "")}
        )
        yield _histogram("rest_server_request_duration_seconds", _REQUEST_S, by_name, 1.0, _rest_labels)
        yield from _gauges(by_name[_IN_FLIGHT], by_name[_QUEUE])


def _ovms_labels(labels: dict[str, str], *, with_api: bool = True) -> dict[str, str]:
    protocol = labels.get("protocol", "")
    out = {"name": labels.get("model", "")}
    if "version" in labels:
        out["version"] = labels["version"]
    out["interface"] = "gRPC" if protocol in ("grpc", "tfserving_grpc") else "REST"
    if with_api:
        out["api"] = _API.get(protocol, protocol)
        out["method"] = _METHOD.get(protocol, protocol)
    return out


def _rest_labels(labels: dict[str, str]) -> dict[str, str] | None:
    path = _PATH.get(labels.get("protocol", ""))
    if path is None:  # gRPC is not a REST request
        return None
    return {"method": "POST", "path": path.format(labels.get("model", ""))}


def _requests(samples: list[Sample]) -> Iterator[Metric]:
    ok, fail = _metric("ovms_requests_success"), _metric("ovms_requests_fail")
    rest = _metric("rest_server_requests")
    fails: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    rests: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for s in samples:
        labels = _ovms_labels(s.labels)
        if s.labels.get("outcome") == "success":
            ok.add_sample("ovms_requests_success", labels, s.value)
        else:
            fails[tuple(sorted(labels.items()))] += s.value
        rest_labels = _rest_labels(s.labels)
        if rest_labels is not None:
            rest_labels["status_code"] = _STATUS.get(s.labels.get("outcome", ""), "500")
            rests[tuple(sorted(rest_labels.items()))] += s.value
    for key, value in fails.items():
        fail.add_sample("ovms_requests_fail", dict(key), value)
    for key, value in rests.items():
        rest.add_sample("rest_server_requests_total", dict(key), value)
    return iter((ok, fail, rest))


def _histogram(
    name: str,
    source: str,
    by_name: dict[str, list[Sample]],
    scale: float,
    relabel: Callable[[dict[str, str]], dict[str, str] | None],
) -> Metric:
    """``source``'s buckets, sums and counts under ``name``, bounds and sums times ``scale``;
    series that relabel to the same labels are added up (the histogram of their union)."""
    out = _metric(name)
    merged: dict[tuple[tuple[str, str], ...], dict[tuple[int, float], float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for rank, suffix in enumerate(("bucket", "sum", "count")):
        for s in by_name[f"{source}_{suffix}"]:
            labels = relabel(s.labels)
            if labels is None:
                continue
            bound = float(s.labels["le"]) * scale if suffix == "bucket" else 0.0
            value = s.value * scale if suffix == "sum" else s.value
            merged[tuple(sorted(labels.items()))][(rank, bound)] += value
    for key, values in merged.items():
        for (rank, bound), value in sorted(values.items()):
            labels = dict(key)
            if rank == 0:
                labels["le"] = "+Inf" if math.isinf(bound) else repr(bound)
            out.add_sample(f"{name}_{('bucket', 'sum', 'count')[rank]}", labels, value)
    return out


def _gauges(in_flight: list[Sample], queued: list[Sample]) -> Iterator[Metric]:
    active, progress = _metric("ovms_infer_req_active"), _metric("rest_server_requests_in_progress")
    waiting = {s.labels.get("model", ""): s.value for s in queued}
    for s in in_flight:
        model = s.labels.get("model", "")
        active.add_sample("ovms_infer_req_active", {"name": model}, s.value)
        queued_too = s.value + waiting.get(model, 0)
        progress.add_sample("rest_server_requests_in_progress", {"model": model}, queued_too)
    yield active
    yield progress
