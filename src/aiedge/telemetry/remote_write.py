"""Encoding a Prometheus remote-write 1.0 request: protobuf ``WriteRequest``, snappy block format.

Owns the body and the headers a sender puts on the wire; sending, retrying and auth live in
:mod:`aiedge.telemetry.shipper`, decoding in :mod:`aiedge.telemetry.receiver`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cramjam

from aiedge.telemetry.proto import remote_write_pb2 as pb
from aiedge.telemetry.samples import Sample, Series, group_series

CONTENT_TYPE = "application/x-protobuf"
CONTENT_ENCODING = "snappy"
PROTOCOL_VERSION = "0.1.0"

#: The headers the remote-write 1.0 spec requires on every request.
REMOTE_WRITE_HEADERS: dict[str, str] = {
    "Content-Encoding": CONTENT_ENCODING,
    "Content-Type": CONTENT_TYPE,
    "X-Prometheus-Remote-Write-Version": PROTOCOL_VERSION,
}


def write_request(series: Sequence[Series]) -> pb.WriteRequest:
    """The protobuf message for ``series``; each series' samples must already be oldest first."""
    req = pb.WriteRequest()
    for s in series:
        ts = req.timeseries.add()
        ts.labels.extend(pb.Label(name=n, value=v) for n, v in s.labels)
        ts.samples.extend(pb.Sample(value=v, timestamp=t) for t, v in s.samples)
    return req


def encode_series(series: Sequence[Series]) -> bytes:
    """A remote-write body: the serialized ``WriteRequest``, compressed with snappy's block format."""
    raw = write_request(series).SerializeToString()
    return bytes(cramjam.snappy.compress_raw(raw))


def encode_samples(samples: Iterable[Sample]) -> bytes:
    """A remote-write body for loose samples: grouped per series, each series oldest first."""
    return encode_series(group_series(samples))
