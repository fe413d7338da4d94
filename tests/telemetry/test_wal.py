"""The on-disk sample buffer: append/read/commit, restarts, torn and damaged records, retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.telemetry.errors import WalError
from aiedge.telemetry.samples import Sample, make_labels
from aiedge.telemetry.wal import Wal, WalSettings
from aiedge.telemetry.wal_records import BYTES_PER_SAMPLE, HEADER_LEN

T0 = 1_700_000_000_000


def scrape(i: int, series: int = 3) -> list[Sample]:
    """One synthetic scrape: ``series`` series at time T0 + i*15s."""
    return [
        Sample(
            make_labels("requests_total", {"site": "plant-1", "app": f"app-{k}"}), T0 + i * 15_000, i + k / 10
        )
        for k in range(series)
    ]


def read_all(wal: Wal, consumer: str, max_samples: int = 1000) -> list[Sample]:
    out: list[Sample] = []
    while True:
        batch = wal.read_batch(consumer, max_samples)
        if not batch.samples:
            wal.commit(consumer, batch.end)
            return out
        out.extend(batch.samples)
        wal.commit(consumer, batch.end)


def test_append_read_commit(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wanted = [s for i in range(10) for s in scrape(i)]
    wal.append(wanted[:15])
    wal.append(wanted[15:])
    batch = wal.read_batch("core", max_samples=15)
    assert batch.samples == wanted[:15]
    # Not committed: the same batch again.
    assert wal.read_batch("core", max_samples=15).samples == wanted[:15]
    wal.commit("core", batch.end)
    assert wal.read_batch("core", max_samples=1000).samples == wanted[15:]
    assert wal.stats().appended_samples == 30
    wal.close()


def test_batches_are_whole_records_and_bounded(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    for i in range(20):
        wal.append(scrape(i, series=10))
    batch = wal.read_batch("core", max_samples=35)
    assert len(batch.samples) == 30  # three appends of 10; a fourth would pass 35
    assert [s.timestamp_ms for s in batch.samples[::10]] == [T0, T0 + 15_000, T0 + 30_000]
    wal.close()


def test_consumers_have_their_own_cursors(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.append(scrape(0))
    assert read_all(wal, "core") == scrape(0)
    wal.append(scrape(1))
    assert read_all(wal, "core") == scrape(1)
    assert read_all(wal, "backup") == scrape(0) + scrape(1)
    assert wal.consumers() == ["backup", "core"]
    with pytest.raises(WalError, match="bad consumer name"):
        wal.read_batch("../etc")
    wal.close()


def test_survives_restart(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.append(scrape(0))
    wal.append(scrape(1))
    wal.commit("core", wal.read_batch("core", max_samples=3).end)
    wal.close()

    wal = Wal(tmp_path)
    assert read_all(wal, "core") == scrape(1)
    wal.append(scrape(2))
    assert read_all(wal, "core") == scrape(2)
    wal.close()


def test_process_crash_without_close_loses_nothing(tmp_path: Path) -> None:
    wal = Wal(tmp_path, WalSettings(fsync="never"))
    wal.append(scrape(0))
    # No close(): what was written is in the page cache, which a crashed process keeps.
    again = Wal(tmp_path)
    assert read_all(again, "core") == scrape(0)
    again.close()
    wal.close()


def test_torn_last_record_is_cut_and_appends_continue(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.append(scrape(0))
    wal.append(scrape(1))
    wal.close()
    (segment,) = sorted(tmp_path.glob("*.seg"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # power cut in the middle of the last write

    wal = Wal(tmp_path)
    assert segment.stat().st_size < len(data) - 7  # the partial record is gone
    wal.append(scrape(2))
    assert read_all(wal, "core") == scrape(0) + scrape(2)
    wal.close()


def test_damaged_record_in_a_closed_segment_skips_its_rest(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.append(scrape(0))
    wal.append(scrape(1))
    wal.close()
    (segment,) = sorted(tmp_path.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # bit rot inside the last record: checksum mismatch
    segment.write_bytes(bytes(data))

    wal = Wal(tmp_path)
    wal.append(scrape(2))
    assert read_all(wal, "core") == scrape(0) + scrape(2)
    wal.close()


def test_retention_by_size_drops_oldest_and_counts(tmp_path: Path) -> None:
    settings = WalSettings(segment_bytes=2048, max_bytes=8192)
    wal = Wal(tmp_path, settings)
    wal.register("core")  # a destination that is down the whole time
    for i in range(200):
        wal.append(scrape(i))
    stats = wal.stats()
    assert stats.bytes <= settings.max_bytes + settings.segment_bytes
    assert stats.dropped_samples > 0
    kept = read_all(wal, "core")
    assert len(kept) + stats.dropped_samples == 600
    assert kept == [s for i in range(200) for s in scrape(i)][-len(kept) :]  # the newest are kept
    assert wal.consumer_stats("core").dropped_samples == stats.dropped_samples
    wal.close()

    # The count survives a restart.
    wal = Wal(tmp_path, settings)
    assert wal.stats().dropped_samples == stats.dropped_samples
    assert wal.consumer_stats("core").dropped_samples == stats.dropped_samples
    wal.close()


def test_retention_by_age(tmp_path: Path) -> None:
    now = [1_000_000_000.0]
    settings = WalSettings(segment_bytes=1024, max_age_s=3600)
    wal = Wal(tmp_path, settings, clock=lambda: now[0])
    wal.register("core")
    for i in range(50):
        wal.append(scrape(i))
    segments = wal.stats().segments
    assert segments > 3
    now[0] = 4_000_000_000.0  # far past every segment's last write
    wal.enforce_retention()
    assert wal.stats().segments == 1  # the active segment stays
    assert wal.stats().dropped_samples > 0
    wal.close()


def test_delivered_segments_are_deleted(tmp_path: Path) -> None:
    wal = Wal(tmp_path, WalSettings(segment_bytes=1024))
    for i in range(50):
        wal.append(scrape(i))
    assert wal.stats().segments > 3
    assert len(read_all(wal, "core")) == 150
    wal.append(scrape(50))
    read_all(wal, "core")
    assert wal.stats().segments == 1
    assert wal.stats().dropped_samples == 0
    wal.close()


def test_compact_and_exact_encoding(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    odd = [
        Sample(make_labels("température", {"site": "usine-é", "path": 'a"b\\c'}), T0, float("inf")),
        Sample(make_labels("temp", {}), T0 - 40 * 86_400_000, -0.0),  # delta beyond int32 ms
        Sample(make_labels("temp", {}), T0 + 1, 1e-300),
    ]
    wal.append(odd)
    assert read_all(wal, "core") == odd
    many = [s for i in range(1000) for s in scrape(i, series=200)]
    before = wal.stats().bytes
    for i in range(1000):
        wal.append(many[i * 200 : (i + 1) * 200])
    per_sample = (wal.stats().bytes - before) / len(many)
    assert BYTES_PER_SAMPLE <= per_sample < BYTES_PER_SAMPLE + 1
    assert HEADER_LEN == 8
    wal.close()


def test_crash_right_after_creating_a_segment(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.append(scrape(0))
    wal.close()
    (tmp_path / "0000000002.seg").write_bytes(b"AIE")  # created, magic half written
    wal = Wal(tmp_path)
    wal.append(scrape(1))
    assert read_all(wal, "core") == scrape(0) + scrape(1)
    wal.close()


def test_not_a_segment_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "0000000001.seg").write_bytes(b"something else entirely")
    with pytest.raises(WalError, match="not an aiedge WAL segment"):
        Wal(tmp_path)
