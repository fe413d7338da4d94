"""run_smoke_test() against a real `aiedge serve` of the seed housing model: pass, diff, HTTP error,
and an unreachable server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from aiedge.contracts import SmokeTest
from aiedge.smoke.runner import SmokeResult, run_smoke_test
from tests.support import Proc, aiedge_cmd, free_port, wait_http

REQ = {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}
PATH = "/v1/models/h/versions/1:predict"


def _run(base: str, smoke: SmokeTest) -> SmokeResult:
    async def go() -> SmokeResult:
        async with httpx.AsyncClient(timeout=30) as client:
            return await run_smoke_test(client, base, smoke)

    return asyncio.run(go())


def test_runner_against_a_real_server(shared: Path, tmp_path: Path) -> None:
    port = free_port()
    model = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    proc = Proc(aiedge_cmd("serve", str(model), "--name", "h", "--http-port", str(port), "--grpc-port", "0"),
                tmp_path / "serve.log")  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/v2/models/h/ready", timeout=60)
        ok = _run(base, SmokeTest(path=PATH, request=REQ, response={"predictions": [-28.7639923]}, rtol=1e-4))
        assert ok.ok and ok.summary() == "the answer matches the expected response"
        bad = _run(base, SmokeTest(path=PATH, request=REQ, response={"predictions": [1.0]}))
        assert not bad.ok and bad.diffs[0].startswith("$.predictions[0]: expected 1.0, got -28.76")
        assert "differs from the expected response in 1 place" in bad.summary()
        err = _run(base, SmokeTest(path="/v2/models/nope/infer", request=REQ, response={}))
        assert not err.ok and err.status_code == 404 and "HTTP 404" in (err.error or "")
    finally:
        proc.stop()
    down = _run(base, SmokeTest(path=PATH, request=REQ, response={}))
    assert not down.ok and down.error and down.error.startswith(f"POST {base}{PATH}")
