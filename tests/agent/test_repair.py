"""The agent re-verifies what it unpacked, as a real process against the fake hub and the real
registry: the unpacked files are checked against the digests kept at unpack time whenever a
model server is restarted and when the agent starts.

A corrupted unpacked model, its server killed, is unpacked again from the verified cached blobs
and serves the right answer (it used to stay down with ``Progressing: restarting``); a deleted
unpacked folder whose layer blob also rotted is fetched again (it used to loop on StartFailed);
an agent restarted over a corrupted model serves the right one."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, smoke_test
from tests.agent.running import agent_proc, healthy_on, serve_children, serving, state
from tests.support import Proc, wait_until

SITE = "site-repair"


@pytest.fixture
def hub(fake_hub: Callable[..., FakeHub]) -> FakeHub:
    return fake_hub(SITE)


def _kill_servers(agent: Proc) -> None:
    children = serve_children(agent.pid)
    assert children
    for pid in children:
        os.kill(pid, signal.SIGKILL)


def _flip(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(bytes(b ^ 0xFF for b in data[:64]) + data[64:])


@pytest.mark.timeout(300)
def test_changed_unpacked_files_are_restored_before_they_serve(
    tmp_path: Path, registry: str, images: dict[str, str], hub: FakeHub
) -> None:
    v1 = app("tiny-app", images["v1"], "tiny", smoke_test("tiny", 1.0))
    hub.set_desired(state(SITE, 1, v1))
    data = tmp_path / "data"
    env = {"AIEDGE_AGENT_BACKOFF_MAX": "2"}
    agent = agent_proc(hub.url, SITE, data, tmp_path / "agent.log", env=env)
    unpacked = data / "apps" / "tiny-app" / v1.digest.split(":")[1]
    model = unpacked / "models" / "tiny" / "model.onnx"
    try:
        hub.wait_report(healthy_on(v1.digest), timeout=90, what="v1 healthy")
        good = model.read_bytes()

        # a corrupted model file, its server killed: unpacked again from the cached blobs
        _flip(model)
        _kill_servers(agent)
        wait_until(lambda: serving(v1.port, answer(1.0)), timeout=90, what="serving again after corruption")
        assert model.read_bytes() == good
        assert "changed since they were unpacked (models/tiny/model.onnx)" in agent.log()

        # the folder deleted and the layer blob rotten too: the layer is fetched again
        shutil.rmtree(unpacked)
        blobs = data / "blobs" / "sha256"
        manifest = json.loads((blobs / v1.digest.split(":")[1]).read_bytes())
        _flip(blobs / manifest["layers"][0]["digest"].split(":")[1])
        _kill_servers(agent)
        wait_until(lambda: serving(v1.port, answer(1.0)), timeout=90, what="serving again after refetch")
        assert model.read_bytes() == good
        assert "was corrupt; removed, downloading it again" in agent.log()
        assert "StartFailed" not in agent.log()
    finally:
        assert agent.stop() == 0, agent.log()

    # corrupted while the agent was down (the hub too): it starts on the right files
    hub.stop()
    _flip(model)
    again = agent_proc(hub.url, SITE, data, tmp_path / "agent-2.log", env=env)
    try:
        wait_until(lambda: serving(v1.port, answer(1.0)), timeout=90, what="serving on start")
        assert model.read_bytes() == good
    finally:
        assert again.stop() == 0, again.log()
