"""The reconciler in-process (``aiedge.agent.reconcile``), with the real local-process runtime, a
real registry and real ``aiedge serve`` children: a first pass serves the app on its site port; a
version whose answer is wrong is stopped and the first keeps serving; a model server that dies is
brought back on the next pass; an app no longer desired is stopped; shutdown stops the rest."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx

from aiedge.agent.cache import ImageCache
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.registries import RegistryPool
from aiedge.agent.settings import AgentSettings
from aiedge.agent.state import AgentState
from aiedge.contracts import AppReason
from aiedge.runtimes.process import ProcessInstance, ProcessRuntime
from tests.agent.images import answer, app, predict_body, smoke_test
from tests.agent.running import state


async def _predict(http: httpx.AsyncClient, port: int) -> float:
    r = await http.post(f"http://127.0.0.1:{port}/v1/models/tiny/versions/1:predict", json=predict_body())
    assert r.status_code == 200, r.text
    return float(r.json()["predictions"][0][0])


def test_deploy_gate_repair_and_removal(tmp_path: Path, images: dict[str, str]) -> None:
    asyncio.run(_scenario(tmp_path, images))


async def _scenario(tmp: Path, images: dict[str, str]) -> None:
    settings = AgentSettings(data=tmp / "agent", ready_timeout=300, backoff_min=0.1, backoff_max=0.2)
    v1 = app("tiny", images["v1"], "tiny", smoke_test("tiny", 1.0))
    wrong = v1.model_copy(update={"image": images["v2"], "smoke_test": smoke_test("tiny", 1.0)})
    saved: list[AgentState] = []
    async with (
        RegistryPool(insecure=True) as registries,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        cache = ImageCache(settings.blobs_dir, settings.apps_dir, registries)
        runtime = ProcessRuntime(settings.serve_command, settings.logs_dir)
        reconciler = Reconciler(settings, cache, runtime, http, AgentState(), saved.append)
        try:
            assert await reconciler.reconcile(state("s", 1, v1)) == []
            slot = reconciler.slots["tiny"]
            assert slot.reason is AppReason.READY and await _predict(http, v1.port) == answer(1.0)
            assert saved[-1].inventory["tiny"].app == v1  # what was applied is saved

            # v2 answers 20.5 where its test expects 10.5: refused, stopped, v1 keeps serving
            errors = await reconciler.reconcile(state("s", 2, wrong))
            assert len(errors) == 1 and "SmokeTestFailed" in errors[0]
            assert slot.reason is AppReason.SMOKE_TEST_FAILED
            assert await _predict(http, v1.port) == answer(1.0)
            first = slot.active
            assert isinstance(first, ProcessInstance) and first.app == v1 and slot.previous is None

            # the serving process dies: the next pass (back on v1) starts it again
            os.killpg(first.pid, signal.SIGKILL)
            for _ in range(600):  # bounded: until the kernel has reaped it
                if not first.alive():
                    break
                await asyncio.sleep(0.05)
            assert not first.alive()
            assert await reconciler.reconcile(state("s", 3, v1)) == []
            again = slot.active
            assert again is not None and again is not first and again.alive()
            assert await _predict(http, v1.port) == answer(1.0)

            # no longer desired: stopped, and its site port closed
            assert await reconciler.reconcile(state("s", 4)) == []
            assert "tiny" not in reconciler.slots and not again.alive()
        finally:
            await reconciler.shutdown()
