"""Metrics of a server run as several worker processes (``--workers N``): whichever worker a scrape
reaches answers for all of them.

Each worker writes its own ``aiedge_serve_*`` series to a file in a folder the workers share, at
every scrape and once a second; a scrape merges every worker's file: counters, histograms and the
queue gauges are summed, a model is ready only if it is ready in every worker (the lowest), and
its load time is the slowest worker's. ``process_*`` series stay the scraped worker's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

# the families merged, with their types (describe() must name them before any sample exists)
FAMILIES = {
    "aiedge_serve_requests": "counter",
    "aiedge_serve_request_duration_seconds": "histogram",
    "aiedge_serve_inference_duration_seconds": "histogram",
    "aiedge_serve_queue_depth": "gauge",
    "aiedge_serve_in_flight": "gauge",
    "aiedge_serve_rejected": "counter",
    "aiedge_serve_model_load_seconds": "gauge",
    "aiedge_serve_model_ready": "gauge",
}
_LOWEST = {"aiedge_serve_model_ready"}
_HIGHEST = {"aiedge_serve_model_load_seconds"}


class WorkersMetrics:
    """A collector over every worker's file in ``folder``; ``own`` is this worker's registry."""

    def __init__(self, own: CollectorRegistry, folder: Path, index: int) -> None:
        self._own, self._folder = own, folder
        self._file = folder / f"worker-{index}.prom"

    def write(self) -> None:
        tmp = self._file.with_suffix(".tmp")
        tmp.write_bytes(generate_latest(self._own))
        tmp.replace(self._file)  # readers see the old file or the new one, never half of one

    def describe(self) -> list[Metric]:
        return [Metric(name, "", kind) for name, kind in FAMILIES.items()]

    def collect(self) -> Iterator[Metric]:
        self.write()
        docs: dict[str, str] = {}
        merged: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for path in sorted(self._folder.glob("worker-*.prom")):
            try:
                text = path.read_text()
            except OSError:  # a worker between writes, or gone
                continue
            for family in text_string_to_metric_families(text):
                if family.name not in FAMILIES:
                    continue
                docs[family.name] = family.documentation
                values = merged.setdefault(family.name, {})
                for s in family.samples:
                    if s.name.endswith("_created"):
                        continue  # creation timestamps do not add up
                    key = (s.name, tuple(sorted(s.labels.items())))
                    old = values.get(key)
                    if old is None:
                        values[key] = s.value
                    elif family.name in _LOWEST:
                        values[key] = min(old, s.value)
                    elif family.name in _HIGHEST:
                        values[key] = max(old, s.value)
                    else:
                        values[key] = old + s.value
        for name, values in merged.items():
            metric = Metric(name, docs.get(name, ""), FAMILIES[name])
            for (sample, labels), value in values.items():
                metric.add_sample(sample, dict(labels), value)
            yield metric
