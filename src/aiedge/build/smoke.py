"""The build's smoke test: serve the packed model in a real ``aiedge serve`` child process on a
free loopback port, replay the test request, compare, and stop the child by its PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from aiedge.build.errors import BuildError
from aiedge.contracts import SmokeTest
from aiedge.smoke.runner import SmokeResult, run_smoke_test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


async def smoke_test_model(
    model_dir: Path,
    name: str,
    smoke: SmokeTest,
    log: Path,
    *,
    ready_timeout: float = 120.0,
    exact: bool = False,
) -> SmokeResult:
    """Start ``aiedge serve model_dir --name name``, wait until the model is ready, replay ``smoke``."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "aiedge", "serve", str(model_dir), "--name", name,
        "--http-port", str(port), "--grpc-port", "0", "--host", "127.0.0.1",
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            await _wait_ready(client, f"{base}/v2/models/{name}/ready", proc, log, ready_timeout)
            return await run_smoke_test(client, base, smoke, exact=exact)
    finally:
        await _stop(proc)


async def _wait_ready(
    client: httpx.AsyncClient, url: str, proc: asyncio.subprocess.Process, log: Path, ready_within: float
) -> None:
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise BuildError(
                f"aiedge serve exited with {proc.returncode} before the model was ready: {_tail(log)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(url)).status_code == 200:
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.2)
    raise BuildError(f"the model was not ready after {ready_within:.0f}s (log: {log}): {_tail(log)}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
