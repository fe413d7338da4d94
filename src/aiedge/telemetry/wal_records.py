"""The WAL's on-disk record format: framing, checksums, and the two record kinds.

A segment file is ``MAGIC`` then records. A record is ``<u32 payload length><u32 crc32>`` then
the payload, whose first byte is its kind:

- ``SERIES``: ``<u32 count>`` then per series ``<u32 ref><u16 labels>`` and per label
  ``<u32 len>name<u32 len>value`` (UTF-8). Refs are local to one segment, so every segment
  can be read (and dropped) on its own; a series is defined once per segment, before its samples.
- ``SAMPLES``: ``<i64 base timestamp ms><u32 count>`` then per sample
  ``<u32 ref><i32 timestamp delta ms><f64 value>``.

So a sample costs 16 bytes, plus 21 bytes of framing per record (one record per append of up to
``RECORD_MAX_SAMPLES`` samples) and its series' labels once per segment. A record whose length
or checksum is wrong (a torn last write after a crash or power cut) ends the readable segment.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from aiedge.telemetry.samples import Labels

MAGIC = b"AIEWAL1\n"
HEADER_LEN = len(MAGIC)
SERIES = 1
SAMPLES = 2
RECORD_MAX_SAMPLES = 2000
MAX_PAYLOAD = 64 * 1024 * 1024

_FRAME = struct.Struct("<II")
_SAMPLES_HEAD = struct.Struct("<BqI")
_U32 = struct.Struct("<I")
_REF_LABELS = struct.Struct("<IH")
SAMPLE_DTYPE = np.dtype([("ref", "<u4"), ("dt", "<i4"), ("value", "<f8")])
BYTES_PER_SAMPLE = SAMPLE_DTYPE.itemsize
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


def frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def encode_series(defs: Sequence[tuple[int, Labels]]) -> bytes:
    parts = [bytes([SERIES]), _U32.pack(len(defs))]
    for ref, labels in defs:
        parts.append(_REF_LABELS.pack(ref, len(labels)))
        for name, value in labels:
            for text in (name, value):
                raw = text.encode()
                parts.append(_U32.pack(len(raw)))
                parts.append(raw)
    return frame(b"".join(parts))


def encode_samples(refs: Sequence[int], timestamps: Sequence[int], values: Sequence[float]) -> bytes:
    """One or more framed ``SAMPLES`` records (split where a delta leaves int32, or by size)."""
    out: list[bytes] = []
    ts = np.asarray(timestamps, dtype=np.int64)
    start, n = 0, len(ts)
    while start < n:
        base = int(ts[start])
        end = min(n, start + RECORD_MAX_SAMPLES)
        deltas = ts[start:end] - base
        bad = np.flatnonzero((deltas < _I32_MIN) | (deltas > _I32_MAX))
        if bad.size:
            end = start + int(bad[0])
        rows = np.empty(end - start, dtype=SAMPLE_DTYPE)
        rows["ref"] = refs[start:end]
        rows["dt"] = ts[start:end] - base
        rows["value"] = values[start:end]
        out.append(frame(_SAMPLES_HEAD.pack(SAMPLES, base, end - start) + rows.tobytes()))
        start = end
    return b"".join(out)


def decode_series(payload: bytes) -> list[tuple[int, Labels]]:
    (count,) = _U32.unpack_from(payload, 1)
    pos = 5
    out: list[tuple[int, Labels]] = []
    for _ in range(count):
        ref, nlabels = _REF_LABELS.unpack_from(payload, pos)
        pos += _REF_LABELS.size
        pairs: list[tuple[str, str]] = []
        for _ in range(nlabels):
            texts: list[str] = []
            for _ in range(2):
                (size,) = _U32.unpack_from(payload, pos)
                pos += 4
                texts.append(payload[pos : pos + size].decode())
                pos += size
            pairs.append((texts[0], texts[1]))
        out.append((ref, tuple(pairs)))
    return out


def samples_count(payload_head: bytes) -> int:
    """The sample count of a ``SAMPLES`` record from its first 13 payload bytes."""
    return int(_SAMPLES_HEAD.unpack_from(payload_head)[2])


def decode_samples(payload: bytes) -> tuple[list[int], list[int], list[float]]:
    """``(refs, timestamps_ms, values)`` of a ``SAMPLES`` payload."""
    _, base, count = _SAMPLES_HEAD.unpack_from(payload)
    rows = np.frombuffer(payload, dtype=SAMPLE_DTYPE, count=count, offset=_SAMPLES_HEAD.size)
    timestamps = rows["dt"].astype(np.int64) + base
    return rows["ref"].tolist(), timestamps.tolist(), rows["value"].tolist()


class RecordScanner:
    """Reads records from an open segment file, one at a time, from a byte offset.

    :meth:`next` returns ``(kind, payload, end_offset)`` or ``None`` at the end; ``torn`` then
    says whether the end was a damaged record rather than a clean end of file. With
    ``headers_only`` a ``SAMPLES`` payload holds only its first 13 bytes (to count, not read).
    """

    def __init__(self, f: BinaryIO, offset: int, headers_only: bool = False) -> None:
        self._f = f
        self.offset = offset
        self.torn = False
        self._headers_only = headers_only
        self._size = os.fstat(f.fileno()).st_size
        f.seek(offset)

    def next(self) -> tuple[int, bytes, int] | None:
        head = self._f.read(_FRAME.size)
        if len(head) < _FRAME.size:
            self.torn = bool(head)
            return None
        size, crc = _FRAME.unpack(head)
        end = self.offset + _FRAME.size + size
        if size == 0 or size > MAX_PAYLOAD or end > self._size:
            self.torn = True
            return None
        if self._headers_only:
            payload = self._f.read(min(size, _SAMPLES_HEAD.size))
            if payload[:1] == bytes([SAMPLES]) and len(payload) == _SAMPLES_HEAD.size:
                self._f.seek(end)
                self.offset = end
                return SAMPLES, payload, end
            payload += self._f.read(size - len(payload))
        else:
            payload = self._f.read(size)
        if len(payload) != size or zlib.crc32(payload) != crc:
            self.torn = True
            return None
        self.offset = end
        return payload[0], payload, end
