"""Captured data end to end: an App asks for request/response capture; a real agent serving it
uploads the records to a real S3-compatible server (moto_server on loopback), partitioned by site,
app, digest and hour, as JSON lines. The S3 server is stopped while traffic goes on and started
again: every record the site's buffer could hold arrives afterwards, the rest (past the App's
maxBufferBytes) is dropped at the site and counted, nothing else is lost."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aiedge.demo.gitops import APP_NAME
from aiedge.demo.model import DEMO_MODEL_NAME
from tests.e2e.health import serving, set_app_spec, start_hub, start_site
from tests.e2e.helpers import build_demo, demo_source
from tests.support import Proc, free_port, wait_http, wait_until

AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "captures"
KEY = re.compile(
    rf"^edge/site=site-a/app={APP_NAME}/digest=[0-9a-f]{{64}}/hour=\d{{4}}-\d\d-\d\dT\d\d/\d{{8}}T\d\d-\d+-\d+\.jsonl$"
)


def start_s3(tmp_path: Path, port: int) -> Proc:
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(exe).exists():
        pytest.fail("moto_server is not installed (pip install 'moto[server]>=5,<6')", pytrace=False)
    proc = Proc([exe, "-H", "127.0.0.1", "-p", str(port)], tmp_path / f"logs/moto-{port}.log")
    wait_http(f"http://127.0.0.1:{port}/moto-api/", timeout=30)
    return proc


def s3(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in AWS.items() if "KEY" in k},
                        region_name=AWS["AWS_DEFAULT_REGION"])  # fmt: skip


def received(endpoint: str) -> dict[int, dict[str, Any]]:
    """Every captured record in the bucket, by the row index the test put in its first number."""
    client = s3(endpoint)
    out: dict[int, dict[str, Any]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            assert KEY.match(obj["Key"]), obj["Key"]
            body = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            for line in body.splitlines():
                rec = orjson.loads(line)
                index = int(rec["inputs"]["x"]["data"][0])
                if index == 1:
                    continue  # the agent's smoke test (its row is 1, 2, ... 8) is a real request too
                assert index not in out, f"record {index} arrived twice"
                out[index] = rec
    return out


def send(site: str, indices: range) -> None:
    with httpx.Client(timeout=30) as client:
        for i in indices:
            r = client.post(
                f"{site}/v1/models/{DEMO_MODEL_NAME}/versions/1:predict",
                json={"instances": [[float(i), 2, 3, 4, 5, 6, 7, 8]]},
            )
            assert r.status_code == 200, r.text


def dropped(site: str, reason: str) -> float:
    for line in httpx.get(f"{site}/metrics", timeout=10).text.splitlines():
        if line.startswith("aiedge_capture_dropped_total{") and f'reason="{reason}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_captured_records_arrive_after_an_s3_outage(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "e2e-capture")
    # one record is about 330 bytes: the buffer holds about 30 of them
    set_app_spec(src.gitops, capture={"sample": 1.0, "maxBytesPerDay": "10MiB", "maxBufferBytes": 10_000})
    digest = build_demo(src, "v1")
    s3_port = free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    moto = start_s3(tmp_path, s3_port)
    s3(endpoint).create_bucket(Bucket=BUCKET)
    hub, hub_url = start_hub(tmp_path, src.gitops)
    env = {**AWS, "AIEDGE_AGENT_CAPTURE_INTERVAL": "0.5", "AIEDGE_SERVE_CAPTURE_FILE_SECONDS": "1"}
    agent, site = start_site(
        tmp_path, hub_url, "site-a", env=env,
        extra=("--capture-to", f"s3://{BUCKET}/edge", "--capture-endpoint", endpoint),
    )  # fmt: skip
    procs = [agent, hub, moto]
    try:
        wait_until(lambda: serving(hub_url, "site-a", digest), timeout=120, what="site-a serving")
        send(site, range(1000, 1020))
        wait_until(lambda: set(received(endpoint)) == set(range(1000, 1020)), timeout=60, what="20 records")
        first = received(endpoint)[1000]
        assert first["model"] == DEMO_MODEL_NAME and first["inputs"]["x"]["shape"] == [1, 8]
        assert first["inputs"]["x"]["data"] == [1000.0, 2, 3, 4, 5, 6, 7, 8]
        assert first["outputs"]["predictions"] == {"datatype": "FP32", "shape": [1], "data": [506.0]}
        assert dropped(site, "buffer") == 0

        moto.stop()  # the core's object store goes away; traffic goes on
        send(site, range(2000, 2100))
        capture = tmp_path / "site-a" / "capture" / APP_NAME / digest.removeprefix("sha256:")

        def kept() -> int:
            return sum(len(f.read_bytes().splitlines()) for f in capture.glob("*.jsonl"))

        # the server writes what it sampled every second: wait until all 100 are written or dropped
        wait_until(
            lambda: not list(capture.glob("*.part")) and kept() + dropped(site, "buffer") == 100,
            timeout=30,
            what="the 100 records kept or dropped, the open file closed",
        )
        waiting, lost = kept(), dropped(site, "buffer")
        assert lost > 0 and waiting > 0  # the buffer's cap was reached: past it, dropped and counted
        assert sum(f.stat().st_size for f in capture.iterdir()) <= 10_000

        moto = start_s3(tmp_path, s3_port)  # back, empty (moto keeps its state in memory)
        procs.append(moto)
        s3(endpoint).create_bucket(Bucket=BUCKET)
        wait_until(lambda: len(received(endpoint)) == waiting, timeout=60, what="the buffered records")
        got = sorted(received(endpoint))
        # the oldest kept, in order: only what the cap turned away is missing
        assert got == list(range(2000, 2000 + waiting)), got
        wait_until(lambda: not list(capture.glob("*.jsonl")), timeout=30, what="uploaded files removed")
    finally:
        for p in procs:
            p.stop()
