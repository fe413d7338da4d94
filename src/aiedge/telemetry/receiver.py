"""Decoding remote-write 1.0 bodies within limits, and the starlette endpoint the hub mounts to
receive them.

The hub mounts a :class:`Receiver` at ``POST /api/v1/metrics/write`` with a sink that stores the
series; this module knows nothing of the hub or of storage. A body we cannot decode, or one past
a limit of :class:`WriteLimits`, is the sender's fault and answers 400 (413 for the body's own
size) with the reason (senders drop such batches); it never answers 500. A sink that raises
:class:`BadWriteRequest` answers 400 too; one that raises another :class:`TelemetryError`
answers 503 so the sender retries.

What a body may cost is bounded before it costs it: the compressed size as it arrives, the
decompressed size from snappy's header before decompressing, and the series and sample counts
after the protobuf parse but before any Python object is made per sample (a remote-write sample
can be two bytes on the wire and ~100 bytes as Python objects). Decoding runs in worker threads,
at most ``decode_slots`` at a time, so a large body never holds the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cramjam
from google.protobuf.message import DecodeError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from aiedge.telemetry.errors import BadWriteRequest, TelemetryError
from aiedge.telemetry.proto import remote_write_pb2 as pb
from aiedge.telemetry.remote_write import CONTENT_ENCODING
from aiedge.telemetry.samples import METRIC_NAME, Labels, Series

MiB = 1024 * 1024

Sink = Callable[[list[Series]], Awaitable[None]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class WriteLimits:
    """What one remote-write request may be. The defaults leave room for ten times what Prometheus
    and the agent send (2,000 samples, ~100 KiB compressed, ~600 KiB decoded, a request)."""

    max_body_bytes: int = 4 * MiB
    """Compressed body bytes (413 past it)."""
    max_decoded_bytes: int = 4 * MiB
    """Bytes after snappy; the protobuf parse may hold ~20x this while it runs."""
    max_series: int = 20_000
    max_samples: int = 50_000
    decode_slots: int = 2
    """Bodies decoded at once (each in a worker thread); the others wait their turn."""
    setting_prefix: str = ""
    """Where the limits come from, named in refusals: ``AIEDGE_HUB_METRICS_`` names
    ``max_samples`` as ``AIEDGE_HUB_METRICS_MAX_SAMPLES`` (empty: not named)."""

    def named(self, field: str) -> str:
        return f" ({self.setting_prefix}{field.upper()})" if self.setting_prefix else ""


def decode_write_request(body: bytes, limits: WriteLimits | None = None) -> list[Series]:
    """The series of a snappy-compressed ``WriteRequest``; :class:`BadWriteRequest` says what's wrong."""
    limits = limits or WriteLimits()
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except Exception as e:
        raise BadWriteRequest(f"body is not snappy block format: {e}") from e
    if size > limits.max_decoded_bytes:
        raise BadWriteRequest(
            f"body decompresses to {size} bytes, over the limit of {limits.max_decoded_bytes}"
            + limits.named("max_decoded_bytes")
        )
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as e:
        raise BadWriteRequest(f"body is not snappy block format: {e}") from e
    req = pb.WriteRequest()
    try:
        req.ParseFromString(raw)
    except DecodeError as e:
        raise BadWriteRequest(f"body is not a protobuf WriteRequest: {e}") from e
    del raw
    if len(req.timeseries) > limits.max_series:
        raise BadWriteRequest(
            f"{len(req.timeseries)} series in one request, over the limit of {limits.max_series}"
            + limits.named("max_series")
        )
    samples = sum(len(ts.samples) for ts in req.timeseries)
    if samples > limits.max_samples:
        raise BadWriteRequest(
            f"{samples} samples in one request, over the limit of {limits.max_samples}"
            + limits.named("max_samples")
        )
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


class Receiver:
    """Remote-write requests in, series to a sink out; one per server, so that its decode slots
    are shared by every request."""

    def __init__(self, limits: WriteLimits | None = None) -> None:
        self.limits = limits or WriteLimits()
        self._slots = asyncio.Semaphore(self.limits.decode_slots)

    async def _body(self, request: Request) -> bytes | Response:
        limit = self.limits.max_body_bytes
        too_large = PlainTextResponse(f"body over {limit} bytes" + self.limits.named("max_body_bytes"), 413)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return too_large if declared.isdigit() else PlainTextResponse("bad Content-Length", 400)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return too_large
        except ClientDisconnect:
            return PlainTextResponse("the client disconnected before sending all of the body", 400)
        return bytes(body)

    async def handle(self, request: Request, sink: Sink) -> Response:
        """Decode the body, hand its series to ``sink``, answer 204 (or why not)."""
        encoding = request.headers.get("content-encoding", CONTENT_ENCODING)
        if encoding.lower() != CONTENT_ENCODING:
            return PlainTextResponse(f"unsupported Content-Encoding {encoding!r}: want snappy", 400)
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        try:
            async with self._slots:
                series = await asyncio.to_thread(decode_write_request, body, self.limits)
            del body
            await sink(series)
        except BadWriteRequest as e:
            return PlainTextResponse(str(e), 400)
        except TelemetryError as e:
            return PlainTextResponse(f"cannot store samples now: {e}", 503)
        return Response(status_code=204)


def make_write_endpoint(sink: Sink, limits: WriteLimits | None = None) -> Endpoint:
    """A starlette endpoint over one :class:`Receiver`: decode the body, hand its series to
    ``sink``, answer 204; 400 with the reason for a body that is not remote-write 1.0 or is past a
    limit, 413 for one over ``max_body_bytes``, 503 when the sink raises :class:`TelemetryError`."""
    receiver = Receiver(limits)

    async def write(request: Request) -> Response:
        return await receiver.handle(request, sink)

    return write
