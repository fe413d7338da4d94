"""Scraping Prometheus text exposition from one URL into labelled, timestamped samples.

Owns the HTTP GET, parsing (prometheus_client's text parser) and labelling: the target labels
(``site``, ``app``, ``model``, ``version``...) are added to every sample. As Prometheus does with
``honor_labels: false``, a scraped label that clashes with a target label is kept renamed to
``exported_<name>``. Samples without their own timestamp get the scrape's start time. What to
do with the samples (buffer them in the WAL) is the caller's business.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aiedge.telemetry.errors import ScrapeError
from aiedge.telemetry.samples import METRIC_NAME, Sample, make_labels

ACCEPT = "text/plain;version=0.0.4;q=1.0,*/*;q=0.1"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_exposition(text: str, target_labels: Mapping[str, str], timestamp_ms: int) -> list[Sample]:
    """Samples of a Prometheus text exposition page, target labels added, in page order."""
    out: list[Sample] = []
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = dict(s.labels)
                for name, value in target_labels.items():
                    if name in labels:
                        labels[f"exported_{name}"] = labels[name]
                    labels[name] = value
                ts = timestamp_ms if s.timestamp is None else round(float(s.timestamp) * 1000)
                out.append(Sample(make_labels(s.name, labels), ts, float(s.value)))
    except ValueError as e:
        raise ScrapeError(f"unparsable exposition text: {e}") from e
    return out


async def scrape(
    client: httpx.AsyncClient,
    url: str,
    target_labels: Mapping[str, str],
    timeout_s: float = 10.0,
    timestamp_ms: int | None = None,
) -> list[Sample]:
    """GET ``url`` and parse it; :class:`ScrapeError` when it cannot be reached, fails or is garbage."""
    ts = now_ms() if timestamp_ms is None else timestamp_ms
    try:
        resp = await client.get(url, headers={"Accept": ACCEPT}, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise ScrapeError(f"scrape {url}: {type(e).__name__}: {e}") from e
    if resp.status_code // 100 != 2:
        raise ScrapeError(f"scrape {url}: HTTP {resp.status_code}")
    try:
        return parse_exposition(resp.text, target_labels, ts)
    except ScrapeError as e:
        raise ScrapeError(f"scrape {url}: {e}") from e


async def scrape_with_up(
    client: httpx.AsyncClient,
    url: str,
    target_labels: Mapping[str, str],
    timeout_s: float = 10.0,
) -> tuple[list[Sample], ScrapeError | None]:
    """Like :func:`scrape`, never raising, plus Prometheus' ``up`` and ``scrape_duration_seconds``.

    A failed scrape yields only ``up 0`` (and the error), so the core sees the target is down.
    """
    ts = now_ms()
    started = time.monotonic()
    error: ScrapeError | None = None
    try:
        samples = await scrape(client, url, target_labels, timeout_s, ts)
    except ScrapeError as e:
        samples, error = [], e
    duration = time.monotonic() - started
    base = {k: v for k, v in target_labels.items() if k != METRIC_NAME}
    samples.append(Sample(make_labels("up", base), ts, 0.0 if error else 1.0))
    samples.append(Sample(make_labels("scrape_duration_seconds", base), ts, duration))
    return samples, error
