"""Shipping buffered samples to one remote-write destination, oldest first, forever.

Owns the per-destination loop: read a batch from the destination's WAL cursor, send it, commit
the cursor on 2xx. Connection errors, timeouts, 5xx and 429 are retried with capped exponential
backoff and jitter (the batch is kept); any other 4xx means the receiver will never take that
batch, so it is dropped, counted and logged. After an outage the loop simply works through
its cursor: everything buffered is backfilled in order, then it continues live.

What receivers need to accept a backfill (samples must arrive in time order per series; a
receiver answers 400 for samples it will not take, and those batches are dropped):

- Prometheus ``--web.enable-remote-write-receiver``: appends into its head block, which takes
  samples up to about an hour older than the newest sample of *any* series. A short outage of
  one site backfills fine (also across a Prometheus restart: its own WAL keeps the head). For
  outages longer than that, or several sites writing to one Prometheus, set
  ``storage: tsdb: out_of_order_time_window: 7d`` in its config file (2.39+) to the WAL's
  ``max_age_s``. A resent batch (crash between send and commit) is rejected with 400 once
  Prometheus already holds newer samples of its series; dropping it loses nothing.
- Thanos Receive: ``--tsdb.out-of-order.time-window=7d`` (0.32+). Mimir:
  ``-ingester.out-of-order-time-window=7d`` (per tenant ``out_of_order_time_window``).
  VictoriaMetrics takes any order and needs nothing.

The WAL, the HTTP client (with the destination's TLS settings: :func:`make_client`), the clock
and the random source are passed in; nothing here is global.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aiedge.telemetry import otlp
from aiedge.telemetry.errors import RejectedBatchError, RetryableSendError, SendError
from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_samples
from aiedge.telemetry.samples import Sample
from aiedge.telemetry.wal import Batch, Wal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Destination:
    """One remote-write receiver; ``name`` also names its cursor in the WAL."""

    name: str
    url: str
    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    ca_file: Path | None = None
    """Trust this CA bundle instead of the system's (a core with a private CA)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra headers, e.g. ``X-Scope-OrgID`` for Mimir or ``THANOS-TENANT`` for Thanos Receive."""
    timeout_s: float = 30.0
    protocol: str = "remote-write"
    """``remote-write`` (Prometheus remote-write 1.0) or ``otlp`` (OTLP/HTTP protobuf metrics)."""
    resource: dict[str, str] = field(default_factory=dict)
    """OTLP only: resource attributes of every export (e.g. the site)."""


@dataclass(frozen=True, slots=True)
class ShipperSettings:
    max_samples_per_send: int = 2000
    """Samples per request (Prometheus' own sender uses 2000)."""
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    idle_poll_s: float = 1.0
    """How often to look for new samples when caught up."""


@dataclass(slots=True)
class ShipperStats:
    sent_samples: int = 0
    sent_batches: int = 0
    rejected_samples: int = 0
    """Samples in batches the receiver refused with 4xx (dropped, never retried)."""
    retries: int = 0
    last_error: str | None = None


def make_client(
    destination: Destination,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for ``destination``: its CA file, auth and timeout (the caller closes it);
    ``wrap`` puts a transport around the client's own (one that counts the bytes)."""
    verify: ssl.SSLContext | bool = True
    if destination.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(destination.ca_file))
    auth = httpx.BasicAuth(*destination.basic_auth) if destination.basic_auth else None
    transport = wrap(httpx.AsyncHTTPTransport(verify=verify)) if wrap is not None else None
    return httpx.AsyncClient(verify=verify, auth=auth, timeout=destination.timeout_s, transport=transport)


def request_headers(destination: Destination) -> dict[str, str]:
    wire = otlp.OTLP_HEADERS if destination.protocol == "otlp" else REMOTE_WRITE_HEADERS
    headers = {**destination.headers, **wire, "User-Agent": "aiedge-agent"}
    if destination.bearer_token:
        headers["Authorization"] = f"Bearer {destination.bearer_token}"
    return headers


async def send(client: httpx.AsyncClient, destination: Destination, samples: list[Sample]) -> None:
    """POST one remote-write (or OTLP) request; raises :class:`RetryableSendError` or
    :class:`RejectedBatchError`."""
    if destination.protocol == "otlp":
        body = await asyncio.to_thread(otlp.encode_samples, samples, destination.resource)
    else:
        body = await asyncio.to_thread(encode_samples, samples)
    headers = request_headers(destination)
    try:
        try:
            resp = await client.post(
                destination.url, content=body, headers=headers, timeout=destination.timeout_s
            )
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            # a pooled keep-alive connection the receiver closed while idle: resend once, at once, on a
            # fresh connection (receivers take a repeated sample: same series, time and value)
            resp = await client.post(
                destination.url, content=body, headers=headers, timeout=destination.timeout_s
            )
    except httpx.HTTPError as e:
        raise RetryableSendError(destination.name, f"{type(e).__name__}: {e}") from e
    if resp.is_success:
        return
    reason = f"HTTP {resp.status_code}: {resp.text[:300].strip()}"
    if resp.status_code == 429 or resp.status_code >= 500:
        raise RetryableSendError(destination.name, reason, resp.status_code, _retry_after(resp))
    raise RejectedBatchError(destination.name, reason, resp.status_code)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


class Shipper:
    """The loop for one destination; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        wal: Wal,
        destination: Destination,
        client: httpx.AsyncClient,
        settings: ShipperSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.wal = wal
        self.destination = destination
        self.client = client
        self.settings = settings or ShipperSettings()
        self.stats = ShipperStats()
        self._rng = rng or random.Random()
        self._failures = 0

    async def run(self, stop: asyncio.Event, active: Callable[[], bool] = lambda: True) -> None:
        """Ship until ``stop``; idle (its cursor not even made) while ``active()`` is false."""
        registered = False
        while not stop.is_set():
            if not active():
                await _sleep_until(stop, self.settings.idle_poll_s)
                continue
            if not registered:
                await asyncio.to_thread(self.wal.register, self.destination.name)
                registered = True
            try:
                shipped = await self.ship_once()
            except RetryableSendError as e:
                delay = self._backoff(e.retry_after_s)
                log.warning("%s; retrying in %.1fs", e, delay)
                await _sleep_until(stop, delay)
                continue
            if not shipped:
                await _sleep_until(stop, self.settings.idle_poll_s)

    async def ship_once(self) -> int:
        """Send one batch from the cursor; returns how many samples left the buffer (0: caught up).

        Raises :class:`RetryableSendError` (the cursor stays); a rejected batch is dropped here.
        """
        batch: Batch = await asyncio.to_thread(
            self.wal.read_batch, self.destination.name, self.settings.max_samples_per_send
        )
        if not batch.samples:
            if batch.end != batch.start:  # passed empty or damaged segment ends
                await asyncio.to_thread(self.wal.commit, self.destination.name, batch.end)
            return 0
        try:
            await send(self.client, self.destination, batch.samples)
        except RejectedBatchError as e:
            self.stats.rejected_samples += len(batch.samples)
            self._record_error(e)
            log.error("%s; dropping %d samples", e, len(batch.samples))
        except RetryableSendError as e:
            self.stats.retries += 1
            self._failures += 1
            self._record_error(e)
            raise
        else:
            self.stats.sent_samples += len(batch.samples)
            self.stats.sent_batches += 1
            self._failures = 0
        await asyncio.to_thread(self.wal.commit, self.destination.name, batch.end)
        return len(batch.samples)

    def _record_error(self, e: SendError) -> None:
        self.stats.last_error = str(e)

    def _backoff(self, retry_after_s: float | None) -> float:
        """Capped exponential in the consecutive failures, with jitter in [50%, 100%]."""
        s = self.settings
        exp = min(s.max_backoff_s, s.min_backoff_s * 2.0 ** min(self._failures - 1, 30))
        delay = exp * (0.5 + self._rng.random() / 2)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, s.max_backoff_s))
        return delay


async def _sleep_until(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
