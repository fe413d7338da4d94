"""Helpers of the telemetry tests (and of the hub's, which send the same bodies to a real hub):
remote-write bodies built byte by byte, for the shapes an encoder would never write."""

from __future__ import annotations

import cramjam

from aiedge.telemetry.proto import remote_write_pb2 as pb


def snappy(raw: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(raw))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def empty_samples(n: int, extra_series: int = 0, name: str = "bomb") -> bytes:
    """A snappy WriteRequest of one series ``name`` holding ``n`` empty samples, plus
    ``extra_series`` series of one name label each. An empty sample is two bytes on the wire: the
    audit's amplification (1.5 MiB of snappy held 16.7 million of them)."""
    req = pb.WriteRequest()
    for i in range(extra_series):
        req.timeseries.add().labels.add(name="__name__", value=f"s{i}")
    ts = pb.TimeSeries()
    ts.labels.add(name="__name__", value=name)
    inner = ts.SerializeToString() + b"\x12\x00" * n
    return snappy(req.SerializeToString() + b"\x0a" + _varint(len(inner)) + inner)
