"""Telemetry throughput: the WAL, remote-write encode/decode, and a 24 h backfill to a real Prometheus.

Synthetic site: ``--series`` series (default 200) scraped every ``--interval`` s (15) for
``--hours`` h (24), i.e. one site's buffer after a day offline. Prints one table:

- WAL append and read (samples/s) and its bytes per sample on disk, next to a peer on the same
  data in the same run: a naive JSON-lines buffer (orjson, one line per sample);
- remote-write encode (protobuf + snappy) and ``decode_write_request``, wire bytes per sample;
- backfill: the Shipper sends the whole buffer to a real Prometheus (``prometheus`` on PATH,
  remote-write receiver on, out-of-order window 2 d) oldest first; time until caught up, and
  a count query checks every sample arrived.

    .venv/bin/python -m benchmarks.telemetry [--hours 24] [--series 200] [--interval 15]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from aiedge.telemetry.receiver import decode_write_request
from aiedge.telemetry.remote_write import encode_samples
from aiedge.telemetry.samples import Sample, make_labels
from aiedge.telemetry.shipper import Destination, Shipper, ShipperSettings, make_client
from aiedge.telemetry.wal import Wal, WalSettings
from benchmarks.common import free_port, start, stop, wait_ready

METRIC = "bench_inference_requests_total"


def scrapes(series: int, interval_s: int, hours: float) -> list[list[Sample]]:
    n = int(hours * 3600 / interval_s)
    end_ms = int(time.time() * 1000)
    labels = [
        make_labels(METRIC, {"site": "plant-1", "app": f"app-{k % 10}", "model": f"m{k}", "version": "v1"})
        for k in range(series)
    ]
    return [
        [
            Sample(lb, end_ms - (n - i) * interval_s * 1000, float(i * series + k))
            for k, lb in enumerate(labels)
        ]
        for i in range(n)
    ]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def bench_wal(root: Path, data: list[list[Sample]], total: int) -> tuple[Wal, list[tuple[str, str, str]]]:
    wal = Wal(root / "wal", WalSettings())
    wal.register("core")  # the backfill's cursor: holds the data while bench-read passes it
    t0 = time.perf_counter()
    for scrape in data:
        wal.append(scrape)
    wal.sync()
    t_append = time.perf_counter() - t0
    bytes_per = wal.stats().bytes / total
    t0 = time.perf_counter()
    n = 0
    while (batch := wal.read_batch("bench-read", 2000)).samples:
        n += len(batch.samples)
        wal.commit("bench-read", batch.end)
    t_read = time.perf_counter() - t0
    wal.remove_consumer("bench-read")
    assert n == total, (n, total)

    peer = root / "peer.jsonl"
    t0 = time.perf_counter()
    with peer.open("ab") as f:
        for scrape in data:
            f.write(b"".join(orjson.dumps([s.labels, s.timestamp_ms, s.value]) + b"\n" for s in scrape))
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    with peer.open("rb") as f:
        m = sum(1 for line in f if orjson.loads(line))
    t_peer_read = time.perf_counter() - t0
    assert m == total
    rows = [
        ("WAL append (aiedge)", rate(total, t_append), f"{bytes_per:.1f} B/sample on disk"),
        ("WAL read+commit (aiedge)", rate(total, t_read), "batches of 2000"),
        (
            "peer: JSON-lines append",
            rate(total, t_peer),
            f"{peer.stat().st_size / total:.1f} B/sample on disk",
        ),
        ("peer: JSON-lines read", rate(total, t_peer_read), ""),
    ]
    return wal, rows


def bench_codec(data: list[list[Sample]]) -> list[tuple[str, str, str]]:
    batches = [[s for scrape in data[i : i + 10] for s in scrape] for i in range(0, min(len(data), 1000), 10)]
    n = sum(len(b) for b in batches)
    t0 = time.perf_counter()
    bodies = [encode_samples(b) for b in batches]
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = sum(len(s.samples) for body in bodies for s in decode_write_request(body))
    t_dec = time.perf_counter() - t0
    assert got == n
    wire = sum(len(b) for b in bodies) / n
    return [
        ("remote-write encode", rate(n, t_enc), f"{wire:.1f} B/sample on the wire (snappy)"),
        ("decode_write_request", rate(n, t_dec), f"{len(batches[0])} samples/request"),
    ]


def bench_backfill(root: Path, wal: Wal, total: int, hours: float) -> list[tuple[str, str, str]]:
    exe = shutil.which("prometheus")
    if exe is None:
        return [("backfill to Prometheus", "skipped", "prometheus not on PATH (apt-get install prometheus)")]
    port = free_port()
    cfg = root / "prometheus.yml"
    cfg.write_text("storage:\n  tsdb:\n    out_of_order_time_window: 2d\n")
    proc = start(
        [
            exe,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--log.level=warn",
        ],
        root / "prometheus.log",
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", proc)
        dest = Destination("core", f"http://127.0.0.1:{port}/api/v1/write")

        async def ship_all() -> tuple[float, int]:
            async with make_client(dest) as client:
                shipper = Shipper(wal, dest, client, ShipperSettings(max_samples_per_send=2000))
                t0 = time.perf_counter()
                while await shipper.ship_once():
                    pass
                return time.perf_counter() - t0, shipper.stats.rejected_samples

        seconds, rejected = asyncio.run(ship_all())
        q = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/query",
            params={"query": f"sum(count_over_time({METRIC}[{int(hours * 3600) + 60}s]))"},
            timeout=120,
        ).json()
        stored = int(float(q["data"]["result"][0]["value"][1])) if q["data"]["result"] else 0
        return [
            (
                f"backfill {hours:g} h to Prometheus",
                rate(total, seconds),
                f"{seconds:.1f} s for {total:,} samples; stored {stored:,}; rejected {rejected:,}",
            )
        ]
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--hours", type=float, default=24.0)
    args = ap.parse_args()
    data = scrapes(args.series, args.interval, args.hours)
    total = sum(len(s) for s in data)
    shape = f"{args.series} series x {len(data)} scrapes ({args.hours:g} h at {args.interval} s)"
    print(f"{shape} = {total:,} samples")
    with tempfile.TemporaryDirectory(prefix="aiedge-bench-telemetry-") as tmp:
        root = Path(tmp)
        wal, rows = bench_wal(root, data, total)
        rows += bench_codec(data)
        rows += bench_backfill(root, wal, total, args.hours)
        wal.close()
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'samples/s':>12}  notes")
    for what, r, note in rows:
        print(f"{what:<{width}}  {r:>12}  {note}")


if __name__ == "__main__":
    main()
