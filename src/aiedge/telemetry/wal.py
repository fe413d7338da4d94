"""The on-disk write-ahead buffer of samples between scraping and shipping.

Owns segment files (append-only, format in :mod:`aiedge.telemetry.wal_records`), one durable
cursor per named consumer (one per remote-write destination), and retention. It does not own
scraping or sending.

- Appends go to the active segment; it rolls to a new one at ``segment_bytes`` and on every
  open, after the last segment's torn tail (a crash mid-write) is cut off.
- ``read_batch(consumer)`` reads from that consumer's cursor; ``commit(consumer, batch.end)``
  moves the cursor after a successful send. Unsent data survives restarts; a consumer that
  crashes between send and commit sends the batch again (at-least-once).
- Retention: segments every consumer has passed are deleted (unless ``keep_consumed``: a site
  keeps its raw series for their retention, whoever has read them); beyond ``max_bytes`` or
  older than ``max_age_s`` (by the time of their last write) the oldest are dropped even if
  unsent, and the samples a consumer had not yet committed are counted as dropped (kept on disk).
- ``read_at(position)`` reads from any position without a cursor, for a consumer that keeps its
  own position (and commits it too, so that retention counts what it loses).
- fsync: ``interval`` (default) syncs at most every ``fsync_interval_s`` and when a segment is
  closed, so a power cut loses at most that interval while flash storage is not worn by an
  fsync per scrape; a process crash loses nothing (the data is in the page cache).

The methods block on file I/O and take a lock, so they can be called from worker threads;
async code calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiedge.telemetry import wal_records as rec
from aiedge.telemetry.errors import WalError
from aiedge.telemetry.samples import Labels, Sample

FsyncPolicy = Literal["always", "interval", "never"]
_CONSUMER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SEGMENT = re.compile(r"^(\d{10})\.seg$")


@dataclass(frozen=True, slots=True)
class WalSettings:
    max_bytes: int = 1 << 30
    """Drop the oldest segments when all segments together are larger than this."""
    max_age_s: float = 7 * 24 * 3600
    """Drop segments last written longer ago than this."""
    segment_bytes: int = 8 << 20
    """Roll to a new segment file past this size (the unit of retention)."""
    fsync: FsyncPolicy = "interval"
    """``always``: every append and commit; ``interval``: every ``fsync_interval_s``; ``never``."""
    fsync_interval_s: float = 2.0
    """The most a power cut can lose under the ``interval`` policy."""
    keep_consumed: bool = False
    """Keep segments every consumer has passed until ``max_age_s``/``max_bytes`` drop them."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Samples read from a consumer's cursor; commit ``end`` once they are delivered."""

    samples: list[Sample]
    start: Position
    end: Position


@dataclass(frozen=True, slots=True)
class WalStats:
    segments: int
    bytes: int
    appended_samples: int
    """Since this process opened the WAL."""
    dropped_samples: int
    """Samples retention removed before some consumer had committed them (kept across restarts)."""
    corrupt_segments: int
    """Segments whose reading stopped early at a damaged record (since open)."""


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    position: Position
    pending_bytes: int
    dropped_samples: int


class Wal:
    """A directory of segment files and consumer cursors; see the module docstring."""

    def __init__(
        self, root: Path, settings: WalSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = root
        self.settings = settings or WalSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._appended = 0
        self._corrupt = 0
        self._last_sync = time.monotonic()
        self._tables: dict[int, tuple[int, dict[int, Labels]]] = {}
        self._refs: dict[Labels, int] = {}
        try:
            (root / "cursors").mkdir(parents=True, exist_ok=True)
            self._sizes = self._scan_segments()
            self._cursors = self._load_cursors()
            self._dropped = int(self._read_json(root / "state.json").get("dropped_samples", 0))
            self._open_active()
        except OSError as e:
            raise WalError(f"cannot open the sample buffer at {root}: {e}") from e

    # -- writing -----------------------------------------------------------------------------

    def append(self, samples: Sequence[Sample]) -> None:
        """Append samples (one scrape, say) durably per the fsync policy."""
        if not samples:
            return
        with self._lock:
            new: list[tuple[int, Labels]] = []
            refs: list[int] = []
            for s in samples:
                ref = self._refs.get(s.labels)
                if ref is None:
                    ref = self._refs[s.labels] = len(self._refs)
                    new.append((ref, s.labels))
                refs.append(ref)
            data = rec.encode_series(new) if new else b""
            data += rec.encode_samples(refs, [s.timestamp_ms for s in samples], [s.value for s in samples])
            self._write(data, new)
            self._appended += len(samples)
            if self._sizes[self._active] >= self.settings.segment_bytes:
                self._roll()
                self._enforce_retention()

    def _write(self, data: bytes, new: list[tuple[int, Labels]]) -> None:
        before = self._sizes[self._active]
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view) :]
        except OSError as e:
            # Cut the partial record off so later appends stay readable; forget its new series.
            with contextlib.suppress(OSError):
                self._file.truncate(before)
            for _, labels in new:
                self._refs.pop(labels, None)
            raise WalError(f"cannot append to {self._path(self._active)}: {e}") from e
        self._sizes[self._active] = before + len(data)
        policy = self.settings.fsync
        if policy == "always" or (
            policy == "interval" and time.monotonic() - self._last_sync >= self.settings.fsync_interval_s
        ):
            self._sync()

    def sync(self) -> None:
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        os.fsync(self._file.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._sync()
                self._file.close()

    # -- reading -----------------------------------------------------------------------------

    def register(self, consumer: str) -> Position:
        """Make ``consumer`` known (its cursor starts at the oldest data); returns its position."""
        with self._lock:
            return self._cursor(consumer)

    def consumers(self) -> list[str]:
        with self._lock:
            return sorted(self._cursors)

    def remove_consumer(self, consumer: str) -> None:
        """Forget a destination that is gone, so its cursor no longer holds data back."""
        with self._lock:
            self._cursors.pop(consumer, None)
            (self.root / "cursors" / f"{consumer}.json").unlink(missing_ok=True)

    def read_batch(self, consumer: str, max_samples: int = 2000) -> Batch:
        """Up to about ``max_samples`` samples (whole records) after ``consumer``'s cursor."""
        with self._lock:
            return self._read(self._cursor(consumer), max_samples)

    def read_at(self, position: Position, max_samples: int = 2000) -> Batch:
        """Like :meth:`read_batch` from ``position`` (moved to the oldest data when retention has
        dropped its segment since)."""
        with self._lock:
            if position.segment not in self._sizes:
                later = [seg for seg in self._sizes if seg > position.segment]
                position = Position(min(later) if later else self._active, rec.HEADER_LEN)
            return self._read(position, max_samples)

    def position(self, consumer: str) -> Position:
        """``consumer``'s cursor (registering it, at the oldest data, when new)."""
        with self._lock:
            return self._cursor(consumer)

    def _read(self, start: Position, max_samples: int) -> Batch:
        pos = start
        out: list[Sample] = []
        while len(out) < max_samples:
            pos, complete = self._read_segment(pos, out, max_samples)
            if not complete or pos.segment >= self._active:
                break
            pos = Position(pos.segment + 1, rec.HEADER_LEN)
        return Batch(out, start, pos)

    def _read_segment(self, pos: Position, out: list[Sample], max_samples: int) -> tuple[Position, bool]:
        """Reads records of one segment into ``out``; ``complete`` when its end was reached."""
        table = self._table(pos)
        with self._path(pos.segment).open("rb") as f:
            scanner = rec.RecordScanner(f, pos.offset)
            while True:
                mark = scanner.offset
                item = scanner.next()
                if item is None:
                    if scanner.torn and pos.segment < self._active:
                        self._corrupt += 1
                    return Position(pos.segment, scanner.offset), True
                kind, payload, end = item
                if kind == rec.SERIES:
                    table.update(rec.decode_series(payload))
                elif kind == rec.SAMPLES:
                    if out and len(out) + rec.samples_count(payload) > max_samples:
                        return Position(pos.segment, mark), False
                    refs, stamps, values = rec.decode_samples(payload)
                    out.extend(Sample(table[r], t, v) for r, t, v in zip(refs, stamps, values, strict=True))
                if end > self._tables[pos.segment][0]:
                    self._tables[pos.segment] = (end, table)

    def _table(self, pos: Position) -> dict[int, Labels]:
        """The series defined in ``pos.segment`` up to at least ``pos.offset`` (scanned once).

        Refs are unique within a segment, so definitions from later in it do no harm.
        """
        scanned, table = self._tables.get(pos.segment, (rec.HEADER_LEN, {}))
        if scanned < pos.offset:
            with self._path(pos.segment).open("rb") as f:
                scanner = rec.RecordScanner(f, scanned, headers_only=True)
                while scanner.offset < pos.offset and (item := scanner.next()) is not None:
                    if item[0] == rec.SERIES:
                        table.update(rec.decode_series(item[1]))
        self._tables[pos.segment] = (max(scanned, pos.offset), table)
        return table

    def commit(self, consumer: str, position: Position) -> None:
        """Record that ``consumer`` delivered everything before ``position``."""
        with self._lock:
            self._cursor(consumer)
            self._set_cursor(consumer, position)
            self._enforce_retention()

    # -- stats -------------------------------------------------------------------------------

    def stats(self) -> WalStats:
        with self._lock:
            return WalStats(
                segments=len(self._sizes),
                bytes=sum(self._sizes.values()),
                appended_samples=self._appended,
                dropped_samples=self._dropped,
                corrupt_segments=self._corrupt,
            )

    def consumer_stats(self, consumer: str) -> ConsumerStats:
        with self._lock:
            pos = self._cursor(consumer)
            pending = sum(size for seg, size in self._sizes.items() if seg >= pos.segment)
            dropped = int(self._cursors[consumer].get("dropped_samples", 0))
            return ConsumerStats(pos, pending - pos.offset, dropped)

    # -- retention ---------------------------------------------------------------------------

    def enforce_retention(self) -> None:
        """Apply the age limit now (size and consumed segments are also handled on write)."""
        with self._lock:
            self._enforce_retention()

    def _enforce_retention(self) -> None:
        cutoff = self._clock() - self.settings.max_age_s
        while len(self._sizes) > 1:
            oldest = min(self._sizes)
            consumed = (
                not self.settings.keep_consumed
                and bool(self._cursors)
                and all(self._position(c).segment > oldest for c in self._cursors)
            )
            too_big = sum(self._sizes.values()) > self.settings.max_bytes
            if not (consumed or too_big or self._path(oldest).stat().st_mtime < cutoff):
                return
            self._drop(oldest)

    def _drop(self, segment: int) -> None:
        counts: dict[int, int] = {}
        lost = 0
        for consumer in list(self._cursors):
            pos = self._position(consumer)
            if pos.segment <= segment:
                offset = pos.offset if pos.segment == segment else rec.HEADER_LEN
                n = counts.get(offset)
                if n is None:
                    n = counts[offset] = self._count_samples(segment, offset)
                lost = max(lost, n)
                dropped = int(self._cursors[consumer].get("dropped_samples", 0)) + n
                self._cursors[consumer]["dropped_samples"] = dropped
                self._set_cursor(consumer, Position(segment + 1, rec.HEADER_LEN))
        if not self._cursors:
            lost = self._count_samples(segment, rec.HEADER_LEN)
        if lost:
            self._dropped += lost
            self._write_json(self.root / "state.json", {"dropped_samples": self._dropped})
        self._path(segment).unlink(missing_ok=True)
        del self._sizes[segment]
        self._tables.pop(segment, None)

    def _count_samples(self, segment: int, offset: int) -> int:
        n = 0
        with self._path(segment).open("rb") as f:
            scanner = rec.RecordScanner(f, offset, headers_only=True)
            while (item := scanner.next()) is not None:
                if item[0] == rec.SAMPLES:
                    n += rec.samples_count(item[1])
        return n

    # -- segments and cursors ----------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.root / f"{segment:010d}.seg"

    def _scan_segments(self) -> dict[int, int]:
        sizes: dict[int, int] = {}
        for p in self.root.iterdir():
            m = _SEGMENT.match(p.name)
            if m:
                sizes[int(m.group(1))] = p.stat().st_size
        return dict(sorted(sizes.items()))

    def _open_active(self) -> None:
        """Cut the last segment's torn tail, then append to it if empty or start a new one."""
        if self._sizes and self._sizes[max(self._sizes)] < rec.HEADER_LEN:
            # A crash right after creating it, before its magic was written.
            self._path(max(self._sizes)).unlink()
            del self._sizes[max(self._sizes)]
        if self._sizes:
            last = max(self._sizes)
            with self._path(last).open("r+b") as f:
                if f.read(rec.HEADER_LEN) != rec.MAGIC:
                    raise WalError(f"{self._path(last)} is not an aiedge WAL segment")
                scanner = rec.RecordScanner(f, rec.HEADER_LEN)  # checksums too: cut any torn tail
                while scanner.next() is not None:
                    pass
                if scanner.torn:
                    f.truncate(scanner.offset)
                    os.fsync(f.fileno())
                self._sizes[last] = scanner.offset
            if self._sizes[last] == rec.HEADER_LEN:
                self._active = last
                self._file = self._path(last).open("ab", buffering=0)
                return
        self._active = max(self._sizes, default=0)
        self._roll()

    def _roll(self) -> None:
        old = getattr(self, "_file", None)
        if old is not None and not old.closed:
            self._sync()
            old.close()
        self._active += 1
        path = self._path(self._active)
        self._file = path.open("ab", buffering=0)
        self._file.write(rec.MAGIC)
        self._sizes[self._active] = rec.HEADER_LEN
        self._refs = {}
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _load_cursors(self) -> dict[str, dict[str, int]]:
        cursors: dict[str, dict[str, int]] = {}
        for p in (self.root / "cursors").glob("*.json"):
            data = self._read_json(p)
            if _CONSUMER.match(p.stem) and isinstance(data.get("segment"), int):
                cursors[p.stem] = data
        return cursors

    def _cursor(self, consumer: str) -> Position:
        if consumer not in self._cursors:
            if not _CONSUMER.match(consumer):
                raise WalError(f"bad consumer name {consumer!r}: use letters, digits, '_', '.', '-'")
            self._cursors[consumer] = {"dropped_samples": 0}
            self._set_cursor(consumer, Position(min(self._sizes), rec.HEADER_LEN))
        return self._position(consumer)

    def _position(self, consumer: str) -> Position:
        """The cursor, moved to the next segment there is if its own is gone (deleted by hand)."""
        c = self._cursors[consumer]
        pos = Position(c["segment"], c["offset"])
        if pos.segment in self._sizes:
            return pos
        later = [seg for seg in self._sizes if seg > pos.segment]
        return Position(min(later) if later else self._active, rec.HEADER_LEN)

    def _set_cursor(self, consumer: str, pos: Position) -> None:
        c = self._cursors[consumer]
        c["segment"], c["offset"] = pos.segment, pos.offset
        self._write_json(self.root / "cursors" / f"{consumer}.json", c)

    def _write_json(self, path: Path, data: dict[str, int]) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump(data, f)
            if self.settings.fsync == "always":
                f.flush()
                os.fsync(f.fileno())
        tmp.replace(path)

    @staticmethod
    def _read_json(path: Path) -> dict[str, int]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}
