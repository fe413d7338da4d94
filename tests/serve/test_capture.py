"""Captured data at the site (the writer `aiedge serve` runs): records as JSON lines with the
tensors dropped that the App names, files closed by size, age and hour, the day's byte budget
kept across a restart, the buffer's cap, and every refusal counted by reason."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson

from aiedge.serve.capture import BUDGET_FILE, CLOSED, CaptureSettings, CaptureWriter


def offer(writer: CaptureWriter, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        x = np.array([[i, 2.5, 3]], dtype=np.float32)
        writer.offer("m", "1", {"x": x, "secret": np.array([b"ssn-123"], dtype=object)}, {"y": x.sum(axis=1)})


def lines(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    return [
        orjson.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_bytes().splitlines()
    ]


def counted(writer: CaptureWriter, reason: str) -> float:
    for fam in writer.collect():
        for s in fam.samples:
            if s.name == "aiedge_capture_dropped_total" and s.labels["reason"] == reason:
                return s.value
    return 0.0


def test_records_budget_and_cap(tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    settings = CaptureSettings(folder, sample=1.0, max_bytes_per_day=2000, drop=frozenset({"secret"}),
                               file_seconds=3600)  # fmt: skip
    w = CaptureWriter(settings)
    offer(w, 5)
    w.close()
    files = list(folder.glob("*.jsonl"))
    assert len(files) == 1 and CLOSED.match(files[0].name)
    assert files[0].name.startswith(time.strftime("%Y%m%dT%H", time.gmtime()))
    recs = lines(folder)
    assert [r["inputs"]["x"]["data"][0] for r in recs] == [0, 1, 2, 3, 4]
    assert recs[0]["inputs"] == {"x": {"datatype": "FP32", "shape": [1, 3], "data": [0.0, 2.5, 3.0]}}
    assert recs[0]["outputs"] == {"y": {"datatype": "FP32", "shape": [1], "data": [5.5]}}
    assert "secret" not in recs[0]["inputs"] and recs[0]["model"] == "m" and recs[0]["time"].endswith("Z")
    size = len(files[0].read_bytes()) // 5

    # the day's budget: what fits in 2000 bytes, then counted as dropped; a restart keeps the count
    again = CaptureWriter(settings)
    offer(again, 40, start=100)
    again.close()
    assert len(lines(folder)) == 2000 // size
    assert counted(again, "budget") == 40 - (2000 // size - 5)
    assert orjson.loads((folder / BUDGET_FILE).read_bytes())["bytes"] <= 2000

    # the buffer's cap: the folder holds at most max_buffer_bytes, the rest is dropped
    capped = CaptureWriter(CaptureSettings(tmp_path / "capped", sample=1.0, max_buffer_bytes=5 * size))
    offer(capped, 20)
    capped.close()
    held = sum(f.stat().st_size for f in (tmp_path / "capped").iterdir())
    assert held <= 5 * size + 100 and counted(capped, "buffer") >= 14


def test_sample_queue_and_bytes_tensors(tmp_path: Path) -> None:
    w = CaptureWriter(CaptureSettings(tmp_path, sample=0.25, queue=3))
    offer(w, 40)  # a quarter sampled (10), the queue takes 3 before a write
    assert counted(w, "queue") == 7
    w.close()
    recs = lines(tmp_path)
    assert len(recs) == 3 and recs[0]["inputs"]["secret"] == {
        "datatype": "BYTES",
        "shape": [1],
        "data": ["ssn-123"],
    }


def test_a_file_left_open_by_a_crash_is_closed_at_the_next_start(tmp_path: Path) -> None:
    (tmp_path / "open-1-2.part").write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "cut')
    CaptureWriter(CaptureSettings(tmp_path, sample=1.0))
    assert [f.name for f in tmp_path.glob("*.part")] == []
    assert lines(tmp_path) == [{"a": 1}, {"a": 2}]
