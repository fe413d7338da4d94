"""Drift at the site: a sliding per-feature histogram of a sample of live requests, scored (PSI)
against the model's profile and exported as metrics.

The request path only offers (:class:`~aiedge.serve.taps.Tap`): one request in ``1 / sample`` is
queued, as the decoded arrays it already has, in a bounded queue that drops (and counts) when
full. :meth:`DriftMonitor.run` folds the queue into histograms every ``interval`` seconds, on the
event loop, a few requests at a time. Scores are computed only when ``/metrics`` is scraped.

The window is the last ``window_rows`` rows, kept as ten chunks of a tenth of that: when a chunk
is full, the oldest is forgotten. A model without a profile in its folder
(:data:`~.profile.PROFILE_FILE`) learns one from its first ``learn_rows`` sampled rows, then is
watched against it.

Metrics (model and version as served, kind ``input`` or ``output``, feature as the profile names it):
``aiedge_model_drift_score`` (gauge, PSI; absent until the window holds ``min_rows`` rows),
``aiedge_model_drift_window_rows``, ``aiedge_model_drift_reference_rows`` (with ``source``
``reference`` or ``learned``), ``aiedge_model_drift_sampled_total`` and
``aiedge_model_drift_dropped_total`` (samples the full queue turned away).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aiedge.serve.drift.profile import (
    LEARNED,
    MAX_BINS,
    MAX_FEATURES,
    MAX_PROFILE_BYTES,
    PROFILE_FILE,
    FeatureProfile,
    Floats,
    Profile,
    ProfileInvalid,
    bin_count,
    bin_index,
    columns,
    feature_profile,
    parse_profile,
    psi,
    shares,
)
from aiedge.serve.runtimes.base import Array
from aiedge.serve.taps import BoundedQueue, Sampler, nbytes

log = logging.getLogger("aiedge.serve")

Counts = npt.NDArray[np.int64]
Columns = list[tuple[str, str, str, Floats]]
CHUNKS = 10
MISSING = MAX_BINS  # the column of the missing bin in every histogram
_PER_SLICE = 256  # samples folded at once, before yielding to requests


@dataclass(frozen=True)
class DriftSettings:
    sample: float = 0.1
    window_rows: int = 1000
    min_rows: int = 100
    learn_rows: int = 500
    queue: int = 1024
    queue_bytes: int = 8 * 1024 * 1024
    rows_per_request: int = 64
    interval: float = 0.25


Sample = tuple[tuple[str, str], dict[str, Array], dict[str, Array]]


class _Watched:
    """One model version: its profile and the live window, features as rows of one matrix."""

    def __init__(self, profile: Profile, window_rows: int) -> None:
        self.profile = profile
        self.index = {(f.kind, f.feature): i for i, f in enumerate(profile.features)}
        self.edges = [np.asarray(f.edges, dtype=np.float64) for f in profile.features]
        self.cols = [np.r_[0 : len(f.edges) + 1, MISSING] for f in profile.features]
        self.reference = [f.shares() for f in profile.features]
        n = len(profile.features)
        self.chunk_rows = max(1, window_rows // CHUNKS)
        self.chunks: deque[tuple[Counts, int]] = deque(maxlen=CHUNKS - 1)
        self.current: Counts = np.zeros((n, MAX_BINS + 1), dtype=np.int64)
        self.current_rows = 0

    def fold(self, cols: Columns) -> None:
        """Count the rows into chunks of ``chunk_rows`` each (a fold may bring many chunks' worth),
        forgetting the oldest chunks beyond the window."""
        picked = [
            (i, values)
            for kind, _t, feature, values in cols
            if (i := self.index.get((kind, feature))) is not None
        ]
        n = max((len(v) for _, v in picked), default=0)
        start = 0
        while start < n:
            stop = min(n, start + self.chunk_rows - self.current_rows)
            for i, values in picked:
                part = values[start:stop]
                if len(part):
                    idx = bin_index(self.edges[i], part, MISSING)
                    self.current[i] += np.bincount(idx, minlength=MAX_BINS + 1)
            self.current_rows += stop - start
            start = stop
            if self.current_rows >= self.chunk_rows:
                self.chunks.append((self.current, self.current_rows))
                self.current = np.zeros_like(self.current)
                self.current_rows = 0

    @property
    def rows(self) -> int:
        return self.current_rows + sum(r for _, r in self.chunks)

    def scores(self) -> Iterator[tuple[FeatureProfile, float]]:
        window = self.current.copy()
        for c, _ in self.chunks:
            window += c
        for i, f in enumerate(self.profile.features):
            live = window[i, self.cols[i]].astype(np.float64)
            if live.sum() > 0:
                yield f, psi(self.reference[i], shares(live))


class _Learning:
    """Rows kept until there are enough to learn a profile from (bounded: ``learn_rows``)."""

    def __init__(self, learn_rows: int) -> None:
        self.learn_rows = learn_rows
        self.values: dict[tuple[str, str, str], list[Floats]] = {}
        self.rows = 0

    def add(self, cols: Columns) -> None:
        rows = 0
        for kind, tensor, feature, values in cols:
            key = (kind, tensor, feature)
            if key not in self.values and len(self.values) >= MAX_FEATURES:
                continue
            self.values.setdefault(key, []).append(values.copy())
            rows = max(rows, len(values))
        self.rows += rows

    def profile(self) -> Profile | None:
        if self.rows < self.learn_rows or not self.values:
            return None
        bins = bin_count(self.rows)
        features = tuple(
            feature_profile(kind, tensor, feature, feature, np.concatenate(parts), bins)
            for (kind, tensor, feature), parts in self.values.items()
        )
        return Profile(LEARNED, self.rows, features)


class DriftMonitor:
    """The drift tap of one server; ``profiles``: model name -> its image's profile, or None."""

    def __init__(self, settings: DriftSettings, profiles: dict[str, Profile | None]) -> None:
        self.settings = settings
        self.profiles = profiles
        self._sampler = Sampler(settings.sample)
        self._queue: BoundedQueue[Sample] = BoundedQueue(settings.queue, settings.queue_bytes)
        self._watched: dict[tuple[str, str], _Watched] = {}
        self._learning: dict[tuple[str, str], _Learning] = {}
        self._sampled: dict[tuple[str, str], int] = {}
        self._dropped: dict[str, int] = {}

    # -- the request path -----------------------------------------------------------------------
    def offer(self, model: str, version: str, inputs: dict[str, Array], outputs: dict[str, Array]) -> None:
        if not self._sampler.take():
            return
        before = self._queue.dropped
        if not self._queue.put(((model, version), inputs, outputs), nbytes(inputs, outputs)):
            self._dropped[model] = self._dropped.get(model, 0) + self._queue.dropped - before

    # -- the background task --------------------------------------------------------------------
    async def run(self) -> None:
        failed = False
        while True:
            await asyncio.sleep(self.settings.interval)
            while len(self._queue):
                try:
                    self.fold(self._queue.take(_PER_SLICE))
                except Exception:  # a sample nobody foresaw must not end drift for the server
                    if not failed:
                        log.exception("drift: a sample could not be folded (it is skipped)")
                    failed = True
                await asyncio.sleep(0)

    def fold_pending(self) -> None:
        """Fold everything queued now (for callers without the task)."""
        while len(self._queue):
            self.fold(self._queue.take(_PER_SLICE))

    def fold(self, samples: list[Sample]) -> None:
        """Fold samples, each model version's together: one pass per feature over all their rows
        (per request, the numpy calls would cost ten times the model's predict)."""
        groups: dict[tuple[str, str], list[Sample]] = {}
        for sample in samples:
            groups.setdefault(sample[0], []).append(sample)
        for key, group in groups.items():
            self._sampled[key] = self._sampled.get(key, 0) + len(group)
            limit = self.settings.rows_per_request
            inputs = _stack([s[1] for s in group], limit)
            outputs = _stack([s[2] for s in group], limit)
            cols = list(columns(inputs, outputs))
            if cols:
                self._fold(key, cols)

    def _fold(self, key: tuple[str, str], cols: Columns) -> None:
        watched = self._watched.get(key) or self._start(key)
        if watched is not None:
            watched.fold(cols)
            return
        learning = self._learning.setdefault(key, _Learning(self.settings.learn_rows))
        learning.add(cols)
        learned = learning.profile()
        if learned is not None:
            del self._learning[key]
            log.info(
                "drift: model %s version %s: profile learned from %d live rows (%d features)",
                key[0],
                key[1],
                learned.rows,
                len(learned.features),
            )
            self._watched[key] = _Watched(learned, self.settings.window_rows)

    def _start(self, key: tuple[str, str]) -> _Watched | None:
        profile = self.profiles.get(key[0])
        if profile is None:
            return None
        self._watched[key] = watched = _Watched(profile, self.settings.window_rows)
        return watched

    # -- /metrics -------------------------------------------------------------------------------
    def describe(self) -> list[Metric]:
        return list(self._families(with_samples=False))

    def collect(self) -> Iterator[Metric]:
        return self._families(with_samples=True)

    def _families(self, with_samples: bool) -> Iterator[Metric]:
        score = GaugeMetricFamily(
            "aiedge_model_drift_score",
            "Drift of a feature: PSI of the live window against the model's profile",
            labels=["model", "version", "kind", "feature"],
        )
        window = GaugeMetricFamily(
            "aiedge_model_drift_window_rows", "Rows in the live drift window", labels=["model", "version"]
        )
        reference = GaugeMetricFamily(
            "aiedge_model_drift_reference_rows",
            "Rows the drift profile was built from",
            labels=["model", "version", "source"],
        )
        sampled = CounterMetricFamily(
            "aiedge_model_drift_sampled", "Requests sampled for drift", labels=["model", "version"]
        )
        dropped = CounterMetricFamily(
            "aiedge_model_drift_dropped", "Samples dropped because the drift queue was full", labels=["model"]
        )
        if with_samples:
            for (model, version), w in list(self._watched.items()):
                rows = w.rows
                window.add_metric([model, version], rows)
                reference.add_metric([model, version, w.profile.source], w.profile.rows)
                if rows >= self.settings.min_rows:
                    for f, value in w.scores():
                        score.add_metric([model, version, f.kind, f.name], round(value, 6))
            for (model, version), n in list(self._sampled.items()):
                sampled.add_metric([model, version], n)
            for model, n in list(self._dropped.items()):
                dropped.add_metric([model], n)
        yield from (score, window, reference, sampled, dropped)


def _stack(tensors: list[dict[str, Array]], limit: int) -> dict[str, Array]:
    """Each tensor's rows of every request (its first ``limit`` rows each), in one array; rows of
    another shape than the first request's are left out (a variable-size input)."""
    parts: dict[str, list[Array]] = {}
    for t in tensors:
        for name, arr in t.items():
            rows = arr.reshape(1) if arr.ndim == 0 else arr[:limit]
            have = parts.setdefault(name, [rows])
            if have[0] is not rows and have[0].shape[1:] == rows.shape[1:]:
                have.append(rows)
    return {name: p[0] if len(p) == 1 else np.concatenate(p) for name, p in parts.items()}


def read_profile(folder: Path) -> Profile | None:
    """The profile in a model folder, or None (no file; a bad one is logged and ignored: the
    model still serves, and learns a profile from live requests)."""
    if not folder.is_dir():
        return None
    file = folder / PROFILE_FILE
    if file.is_symlink() or not file.is_file():
        return None
    try:
        with file.open("rb") as f:
            data = f.read(MAX_PROFILE_BYTES + 1)
        return parse_profile(data, str(file))
    except (OSError, ProfileInvalid) as e:
        log.warning("drift: %s; learning a profile from live requests instead", e)
        return None
