"""Captured data: a sample of answered requests, inputs and outputs, written as JSON lines into a
bounded folder at the site, for the agent to upload to the core's bucket.

The request path only offers (a :class:`~aiedge.serve.taps.Tap`); a background task writes what
was sampled every second, in a worker thread. What is kept is bounded three ways, and what is
turned away is counted by reason (``aiedge_capture_dropped_total{model,reason}``): ``queue`` (more
samples than the queue holds between writes), ``budget`` (the day's ``max_bytes_per_day``, UTC,
counted across restarts in ``budget.json``) and ``buffer`` (the folder already holds
``max_buffer_bytes``: the link is down or slower than the capture).

Files: records go to ``open-<pid>-<ns>.part``, closed as ``<YYYYmmddTHH>-<pid>-<ns>.jsonl`` once
it holds ``file_bytes``, is ``file_seconds`` old, or the hour changes (every record of a file is of
its hour); only closed files are uploaded. A file a crashed server left open is closed at the next
start (its whole lines). One record a line::

    {"time": "2026-12-01T12:00:00.123456Z", "model": "housing", "version": "1",
     "inputs": {"x": {"datatype": "FP32", "shape": [1, 8], "data": [...]}},
     "outputs": {"output_0": {"datatype": "FP32", "shape": [1], "data": [...]}}}

``data`` is the tensor flattened (row-major); BYTES are UTF-8 text (invalid bytes replaced).
Tensors named in ``drop`` are left out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aiedge.serve.runtimes.base import NUMPY_TO_V2, Array
from aiedge.serve.taps import BoundedQueue, Sampler, nbytes

log = logging.getLogger("aiedge.serve")

CLOSED = re.compile(r"^[0-9]{8}T[0-9]{2}-[0-9]+-[0-9]+\.jsonl$")
BUDGET_FILE = "budget.json"
QUEUE, BUDGET, BUFFER = "queue", "budget", "buffer"


@dataclass(frozen=True)
class CaptureSettings:
    folder: Path
    sample: float = 0.01
    max_bytes_per_day: int = 100 * 1024 * 1024
    max_buffer_bytes: int = 256 * 1024 * 1024
    drop: frozenset[str] = frozenset()
    file_bytes: int = 1024 * 1024
    file_seconds: float = 60.0
    queue: int = 1024
    queue_bytes: int = 8 * 1024 * 1024
    interval: float = 1.0


Sample = tuple[float, str, str, dict[str, Array], dict[str, Array]]


def _tensor(arr: Array) -> dict[str, Any]:
    flat = arr.reshape(-1)
    data: Any
    if flat.dtype.kind in "biuf":
        data = np.ascontiguousarray(flat if flat.dtype != np.float16 else flat.astype(np.float32))
    else:
        data = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat.tolist()]
    return {"datatype": NUMPY_TO_V2.get(arr.dtype, "BYTES"), "shape": list(arr.shape), "data": data}


def record(
    t: float,
    model: str,
    version: str,
    inputs: dict[str, Array],
    outputs: dict[str, Array],
    drop: frozenset[str],
) -> bytes:
    """One captured request as a JSON line."""
    stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {
        "time": stamp,
        "model": model,
        "version": version,
        "inputs": {k: _tensor(v) for k, v in inputs.items() if k not in drop},
        "outputs": {k: _tensor(v) for k, v in outputs.items() if k not in drop},
    }
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


class CaptureWriter:
    """The capture tap of one server and the folder it writes."""

    def __init__(self, settings: CaptureSettings) -> None:
        self.settings = settings
        self._sampler = Sampler(settings.sample)
        self._queue: BoundedQueue[Sample] = BoundedQueue(settings.queue, settings.queue_bytes)
        self._records: dict[str, int] = {}
        self._dropped: dict[tuple[str, str], int] = {}
        self._bytes = 0
        self._open: tuple[Path, str, float] | None = None  # (file, its hour, opened at)
        settings.folder.mkdir(parents=True, exist_ok=True)
        self._day, self._day_bytes = self._read_budget()
        self._close_leftovers()

    # -- the request path -----------------------------------------------------------------------
    def offer(self, model: str, version: str, inputs: dict[str, Array], outputs: dict[str, Array]) -> None:
        if not self._sampler.take():
            return
        if not self._queue.put((time.time(), model, version, inputs, outputs), nbytes(inputs, outputs)):
            self._drop(model, QUEUE)

    # -- the background task --------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.settings.interval)
                samples = self._queue.take(len(self._queue))
                try:
                    await asyncio.to_thread(self.write, samples)
                except OSError as e:  # a full or broken disk: the server keeps serving
                    log.warning("capture: cannot write to %s: %s", self.settings.folder, e)
        finally:  # at shutdown: what is queued is written, and the open file closed for upload
            await asyncio.to_thread(self.close)

    def write(self, samples: list[Sample]) -> None:
        """Append ``samples`` (budget and buffer allowing) and close the file when it is due."""
        lines: list[bytes] = []
        held = self._held()
        for t, model, version, inputs, outputs in samples:
            line = record(t, model, version, inputs, outputs, self.settings.drop)
            day = time.strftime("%Y-%m-%d", time.gmtime(t))
            if day != self._day:
                self._day, self._day_bytes = day, 0
            if self._day_bytes + len(line) > self.settings.max_bytes_per_day:
                self._drop(model, BUDGET)
                continue
            if held + len(line) > self.settings.max_buffer_bytes:
                self._drop(model, BUFFER)
                continue
            hour = time.strftime("%Y%m%dT%H", time.gmtime(t))
            if self._open is not None and self._open[1] != hour:
                self._flush(lines)
                lines = []
                self._close_file()
            if self._open is None:
                name = f"open-{os.getpid()}-{time.time_ns()}.part"
                self._open = (self.settings.folder / name, hour, time.monotonic())
            lines.append(line)
            held += len(line)
            self._day_bytes += len(line)
            self._bytes += len(line)
            self._records[model] = self._records.get(model, 0) + 1
        self._flush(lines)
        if lines:
            self._write_budget()
        if self._open is not None and (
            self._open[0].stat().st_size >= self.settings.file_bytes
            or time.monotonic() - self._open[2] >= self.settings.file_seconds
        ):
            self._close_file()

    def close(self) -> None:
        """Write what is queued and close the open file (at shutdown), so all of it is uploaded."""
        self.write(self._queue.take(len(self._queue)))
        if self._open is not None and self._open[0].exists():
            self._close_file()

    def _flush(self, lines: list[bytes]) -> None:
        if lines and self._open is not None:
            self.settings.folder.mkdir(parents=True, exist_ok=True)  # the agent tidies empty folders
            with self._open[0].open("ab") as f:
                f.write(b"".join(lines))

    def _close_file(self) -> None:
        assert self._open is not None
        path, hour, _ = self._open
        self._open = None
        if path.exists() and path.stat().st_size > 0:
            path.rename(path.with_name(f"{hour}-{os.getpid()}-{time.time_ns()}.jsonl"))

    def _close_leftovers(self) -> None:
        """Files a server that died left open: their whole lines are closed for upload."""
        for path in sorted(self.settings.folder.glob("open-*.part")):
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            whole = data[: data.rfind(b"\n") + 1]
            if whole:
                hour = time.strftime("%Y%m%dT%H", time.gmtime(path.stat().st_mtime))
                path.with_name(f"{hour}-{os.getpid()}-{time.time_ns()}.jsonl").write_bytes(whole)
            path.unlink()

    def _held(self) -> int:
        """Bytes in the folder now (the agent deletes what it uploaded)."""
        total = 0
        if not self.settings.folder.is_dir():
            return 0
        with os.scandir(self.settings.folder) as it:
            for e in it:
                if e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
        return total

    def _read_budget(self) -> tuple[str, int]:
        today = time.strftime("%Y-%m-%d", time.gmtime())
        try:
            doc = orjson.loads((self.settings.folder / BUDGET_FILE).read_bytes()[:4096])
            if isinstance(doc, dict) and doc.get("day") == today and type(doc.get("bytes")) is int:
                return today, max(0, int(doc["bytes"]))
        except (OSError, orjson.JSONDecodeError):
            pass
        return today, 0

    def _write_budget(self) -> None:
        self.settings.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.settings.folder / f".{BUDGET_FILE}.tmp"
        tmp.write_bytes(orjson.dumps({"day": self._day, "bytes": self._day_bytes}))
        tmp.replace(self.settings.folder / BUDGET_FILE)

    def _drop(self, model: str, reason: str) -> None:
        self._dropped[(model, reason)] = self._dropped.get((model, reason), 0) + 1

    # -- /metrics -------------------------------------------------------------------------------
    def describe(self) -> list[Metric]:
        return list(self._families(False))

    def collect(self) -> Iterator[Metric]:
        return self._families(True)

    def _families(self, with_samples: bool) -> Iterator[Metric]:
        records = CounterMetricFamily("aiedge_capture_records", "Requests captured", labels=["model"])
        dropped = CounterMetricFamily(
            "aiedge_capture_dropped", "Sampled requests not captured", labels=["model", "reason"]
        )
        written = CounterMetricFamily("aiedge_capture_bytes", "Bytes of captured records written")
        today = GaugeMetricFamily(
            "aiedge_capture_day_bytes", "Bytes captured today (UTC) of the day's budget"
        )
        if with_samples:
            for model, n in list(self._records.items()):
                records.add_metric([model], n)
            for (model, reason), n in list(self._dropped.items()):
                dropped.add_metric([model, reason], n)
            written.add_metric([], self._bytes)
            today.add_metric([], self._day_bytes)
        yield from (records, dropped, written, today)
