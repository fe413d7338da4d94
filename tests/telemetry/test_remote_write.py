"""Remote-write encoding: protobuf + snappy body, spec headers, per-series order; decode round trip."""

from __future__ import annotations

import math

import cramjam

from aiedge.telemetry.proto import remote_write_pb2 as pb
from aiedge.telemetry.receiver import decode_write_request
from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_samples, encode_series
from aiedge.telemetry.samples import Sample, Series, group_series, make_labels

A = make_labels("up", {"site": "farm-3", "app": "iris"})
B = make_labels("latency_seconds_bucket", {"site": "farm-3", "le": "+Inf", "model": "iris"})


def test_headers_are_the_specs() -> None:
    assert REMOTE_WRITE_HEADERS == {
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }


def test_body_is_snappy_block_protobuf_with_spec_field_numbers() -> None:
    body = encode_series([Series(A, [(1000, 1.0)])])
    raw = bytes(cramjam.snappy.decompress_raw(body))
    req = pb.WriteRequest.FromString(raw)
    assert [(lb.name, lb.value) for lb in req.timeseries[0].labels] == list(A)
    assert (req.timeseries[0].samples[0].timestamp, req.timeseries[0].samples[0].value) == (1000, 1.0)
    # Field 1 of WriteRequest, wire type 2 (length-delimited): tag byte 0x0a.
    assert raw[0] == 0x0A
    # Labels sorted by name, __name__ first among ours.
    assert [n for n, _ in A] == sorted(n for n, _ in A)


def test_samples_grouped_per_series_oldest_first() -> None:
    samples = [Sample(A, 3000, 3.0), Sample(B, 1000, 7.0), Sample(A, 1000, 1.0), Sample(A, 2000, 2.0)]
    assert group_series(samples) == [
        Series(A, [(1000, 1.0), (2000, 2.0), (3000, 3.0)]),
        Series(B, [(1000, 7.0)]),
    ]
    decoded = decode_write_request(encode_samples(samples))
    assert decoded == [Series(A, [(1000, 1.0), (2000, 2.0), (3000, 3.0)]), Series(B, [(1000, 7.0)])]


def test_round_trip_keeps_special_values_and_unicode() -> None:
    labels = make_labels("temperature_celsius", {"site": "usine-é", "sensor": 'quote"back\\slash'})
    stale = float("nan")
    series = [Series(labels, [(-5, -0.0), (0, float("inf")), (1, stale), (2**62, 1e308)])]
    (got,) = decode_write_request(encode_series(series))
    assert got.labels == labels
    assert [t for t, _ in got.samples] == [-5, 0, 1, 2**62]
    values = [v for _, v in got.samples]
    assert values[0] == 0.0 and math.copysign(1, values[0]) == -1
    assert values[1] == math.inf and math.isnan(values[2]) and values[3] == 1e308


def test_empty_request_round_trips() -> None:
    assert decode_write_request(encode_series([])) == []
