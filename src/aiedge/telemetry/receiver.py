"""Decoding remote-write 1.0 bodies, and the starlette endpoint the hub mounts to receive them.

The hub mounts :func:`make_write_endpoint` at ``POST /api/v1/metrics/write`` with a sink that
stores the series; this module knows nothing of the hub or of storage. A body we cannot decode
is the sender's fault and answers 400 with the reason (senders drop such batches); it never
answers 500. A sink that raises :class:`TelemetryError` answers 503 so the sender retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import cramjam
from google.protobuf.message import DecodeError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from aiedge.telemetry.errors import BadWriteRequest, TelemetryError
from aiedge.telemetry.proto import remote_write_pb2 as pb
from aiedge.telemetry.remote_write import CONTENT_ENCODING
from aiedge.telemetry.samples import METRIC_NAME, Labels, Series

#: Bodies above these sizes are refused before decompressing (Prometheus sends ~100 KiB).
MAX_COMPRESSED_BYTES = 32 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 128 * 1024 * 1024

Sink = Callable[[list[Series]], Awaitable[None]]


def decode_write_request(body: bytes, max_decompressed: int = MAX_DECOMPRESSED_BYTES) -> list[Series]:
    """The series of a snappy-compressed ``WriteRequest``; :class:`BadWriteRequest` says what's wrong."""
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except Exception as e:
        raise BadWriteRequest(f"body is not snappy block format: {e}") from e
    if size > max_decompressed:
        raise BadWriteRequest(f"body decompresses to {size} bytes, over the limit of {max_decompressed}")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as e:
        raise BadWriteRequest(f"body is not snappy block format: {e}") from e
    req = pb.WriteRequest()
    try:
        req.ParseFromString(raw)
    except DecodeError as e:
        raise BadWriteRequest(f"body is not a protobuf WriteRequest: {e}") from e
    return [_series(i, ts) for i, ts in enumerate(req.timeseries)]


def _series(index: int, ts: pb.TimeSeries) -> Series:
    labels: Labels = tuple((lb.name, lb.value) for lb in ts.labels)
    names = [n for n, _ in labels]
    if METRIC_NAME not in names:
        raise BadWriteRequest(f"timeseries[{index}] has no {METRIC_NAME} label")
    if any(not n for n in names):
        raise BadWriteRequest(f"timeseries[{index}] has a label with an empty name")
    if names != sorted(set(names)):
        # The spec requires sorted unique names; sort rather than refuse, unless names repeat.
        if len(set(names)) != len(names):
            raise BadWriteRequest(f"timeseries[{index}] repeats a label name: {sorted(names)}")
        labels = tuple(sorted(labels))
    return Series(labels, [(s.timestamp, s.value) for s in ts.samples])


def make_write_endpoint(
    sink: Sink, max_body_bytes: int = MAX_COMPRESSED_BYTES
) -> Callable[[Request], Awaitable[Response]]:
    """A starlette endpoint: decode the body, hand its series to ``sink``, answer 204.

    400 with the reason for a body that is not remote-write 1.0; 413 for one over
    ``max_body_bytes``; 503 when the sink raises :class:`TelemetryError` (the sender retries).
    """

    async def write(request: Request) -> Response:
        encoding = request.headers.get("content-encoding", CONTENT_ENCODING)
        if encoding.lower() != CONTENT_ENCODING:
            return PlainTextResponse(f"unsupported Content-Encoding {encoding!r}: want snappy", 400)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return PlainTextResponse(f"body over {max_body_bytes} bytes", 413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return PlainTextResponse(f"body over {max_body_bytes} bytes", 413)
        try:
            series = decode_write_request(bytes(body))
        except BadWriteRequest as e:
            return PlainTextResponse(str(e), 400)
        try:
            await sink(series)
        except TelemetryError as e:
            return PlainTextResponse(f"cannot store samples now: {e}", 503)
        return Response(status_code=204)

    return write
