"""Encoding buffered samples as an OTLP/HTTP metrics export (``ExportMetricsServiceRequest``,
binary protobuf), for a site that runs an OpenTelemetry collector (the seed's ``telemetry`` app).

Owns the mapping from Prometheus series to OTLP metrics and the request's headers; sending,
retrying and buffering are the shipper's (:mod:`aiedge.telemetry.shipper`), as for remote-write.

The mapping, the same as the collector's own Prometheus receiver makes:

- a ``NAME_bucket{le=...}`` family with its ``NAME_sum`` and ``NAME_count`` becomes one cumulative
  ``Histogram`` named ``NAME`` (explicit bounds from ``le``, per-bucket counts);
- a ``*_total`` series becomes a monotonic cumulative ``Sum``;
- every other series a ``Gauge``.

Labels become data point attributes (``site``, ``app``, ``model``, ``version`` included); the
resource says ``service.name: aiedge-agent``. Metric names are kept as scraped, so a collector that
re-exports to Prometheus gives the series their usual names. A histogram whose buckets a batch
cuts in two (batches hold whole scrapes, so only a scrape of over 2,000 samples can) is sent as
its plain series (``NAME_bucket``, ``NAME_count`` as Sums, ``NAME_sum`` a Gauge) rather than lost,
when the cut leaves a part without its ``+Inf`` bucket, sum, count or a finite bucket; a cut after
the first finite bucket gives two histograms of fewer buckets (the batch cannot tell).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2 as common
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1 import resource_pb2 as resource

from aiedge.telemetry.samples import METRIC_NAME, Labels, Sample, group_series

CONTENT_TYPE = "application/x-protobuf"
OTLP_HEADERS: dict[str, str] = {"Content-Type": CONTENT_TYPE}
SCOPE = "aiedge.agent"
SERVICE_NAME = "aiedge-agent"
_CUMULATIVE = pb.AGGREGATION_TEMPORALITY_CUMULATIVE

Attrs = tuple[tuple[str, str], ...]
_Series = tuple[str, Attrs, list[tuple[int, float]]]


@dataclass
class _Histogram:
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    sum: float | None = None
    count: float | None = None


def _split(labels: Labels) -> tuple[str, Attrs]:
    name = ""
    attrs = []
    for n, v in labels:
        if n == METRIC_NAME:
            name = v
        else:
            attrs.append((n, v))
    return name, tuple(attrs)


def _without_le(attrs: Attrs) -> tuple[Attrs, float | None]:
    le: float | None = None
    rest = []
    for n, v in attrs:
        if n == "le":
            try:
                le = float(v)
            except ValueError:
                return attrs, None
        else:
            rest.append((n, v))
    return tuple(rest), le


def _attributes(attrs: Attrs) -> list[common.KeyValue]:
    return [common.KeyValue(key=n, value=common.AnyValue(string_value=v)) for n, v in attrs]


class _Metrics:
    """Data points collected per metric, in first-seen order."""

    def __init__(self) -> None:
        self.metrics: dict[tuple[str, str], pb.Metric] = {}

    def metric(self, name: str, kind: str) -> pb.Metric:
        found = self.metrics.get((name, kind))
        if found is None:
            found = self.metrics[(name, kind)] = pb.Metric(name=name)
            if kind == "sum":
                found.sum.aggregation_temporality = _CUMULATIVE
                found.sum.is_monotonic = True
            elif kind == "histogram":
                found.histogram.aggregation_temporality = _CUMULATIVE
            else:
                found.gauge.SetInParent()
        return found

    def number(self, name: str, attrs: Attrs, points: Iterable[tuple[int, float]], counter: bool) -> None:
        metric = self.metric(name, "sum" if counter else "gauge")
        into = metric.sum.data_points if metric.HasField("sum") else metric.gauge.data_points
        for ts, value in points:
            into.add(time_unix_nano=ts * 1_000_000, as_double=value, attributes=_attributes(attrs))

    def histogram(self, name: str, attrs: Attrs, ts: int, h: _Histogram) -> None:
        bounds = sorted(le for le in h.buckets if not math.isinf(le))
        cumulative = [h.buckets[le] for le in bounds] + [h.buckets[math.inf]]
        counts, before = [], 0
        for c in cumulative:
            n = max(0, round(c))
            counts.append(max(0, n - before))
            before = max(before, n)
        total = round(h.count) if h.count is not None else before
        point = self.metric(name, "histogram").histogram.data_points.add(
            time_unix_nano=ts * 1_000_000,
            count=max(0, total),
            bucket_counts=counts,
            explicit_bounds=bounds,
            attributes=_attributes(attrs),
        )
        if h.sum is not None:
            point.sum = h.sum


def _complete(h: _Histogram) -> bool:
    if h.sum is None or h.count is None or math.inf not in h.buckets or len(h.buckets) < 2:
        return False
    return all(math.isfinite(v) for v in (*h.buckets.values(), h.sum, h.count))


def export_request(
    samples: Iterable[Sample], resource_attributes: dict[str, str] | None = None
) -> svc.ExportMetricsServiceRequest:
    """One ``ExportMetricsServiceRequest`` holding ``samples`` (one resource, one scope)."""
    series = [(*_split(s.labels), s.samples) for s in group_series(samples)]
    families = {
        name[: -len("_bucket")]
        for name, attrs, _ in series
        if name.endswith("_bucket") and any(n == "le" for n, _ in attrs)
    }
    histograms: dict[tuple[str, Attrs], dict[int, _Histogram]] = {}
    plain: list[_Series] = []
    parts: dict[tuple[str, Attrs], list[_Series]] = {}
    for name, attrs, points in series:
        base, _, suffix = name.rpartition("_")
        if base not in families or suffix not in ("bucket", "sum", "count"):
            plain.append((name, attrs, points))
            continue
        key_attrs, le = _without_le(attrs) if suffix == "bucket" else (attrs, None)
        if suffix == "bucket" and le is None:
            plain.append((name, attrs, points))
            continue
        parts.setdefault((base, key_attrs), []).append((name, attrs, points))
        by_ts = histograms.setdefault((base, key_attrs), {})
        for ts, value in points:
            h = by_ts.setdefault(ts, _Histogram())
            if suffix == "bucket":
                assert le is not None
                h.buckets[le] = value
            elif suffix == "sum":
                h.sum = value
            else:
                h.count = value
    out = _Metrics()
    for (base, attrs), by_ts in histograms.items():
        if all(_complete(h) for h in by_ts.values()):
            for ts in sorted(by_ts):
                out.histogram(base, attrs, ts, by_ts[ts])
        else:
            plain.extend(parts[(base, attrs)])
    for name, attrs, points in plain:
        family = name.rpartition("_")[0] in families
        out.number(
            name, attrs, points, name.endswith("_total") or (family and name.endswith(("_bucket", "_count")))
        )
    attrs_of_resource = {"service.name": SERVICE_NAME, **(resource_attributes or {})}
    req = svc.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add(
        resource=resource.Resource(attributes=_attributes(tuple(sorted(attrs_of_resource.items()))))
    )
    scope = rm.scope_metrics.add(scope=common.InstrumentationScope(name=SCOPE))
    scope.metrics.extend(out.metrics.values())
    return req


def encode_samples(samples: Iterable[Sample], resource_attributes: dict[str, str] | None = None) -> bytes:
    """An OTLP/HTTP body (binary protobuf, not compressed) for ``samples``."""
    return export_request(samples, resource_attributes).SerializeToString()
