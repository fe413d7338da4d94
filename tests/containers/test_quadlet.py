"""Quadlet units: the agent's container and volume, and one pinned container per app; written by
`aiedge agent install --quadlet DIR`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aiedge.containers.quadlet import AgentUnit, write_units
from aiedge.contracts import DesiredApp
from tests.support import aiedge_cmd

IMAGE = "reg.example:5000/models/housing@sha256:" + "a" * 64


def test_units(tmp_path: Path) -> None:
    app = DesiredApp(name="housing", model="tensorflow-housing", image=IMAGE, port=8501, grpc_port=8502)
    agent = AgentUnit(
        image="reg.example:5000/aiedge/base@sha256:" + "b" * 64, hub="http://core:8000", site="s 1"
    )
    files = write_units(tmp_path, agent, [app], port_offset=10)
    assert [f.name for f in files] == [
        "aiedge-agent.container",
        "aiedge-agent.volume",
        "aiedge-app-housing.container",
    ]
    agent_text = (tmp_path / "aiedge-agent.container").read_text()
    assert 'Exec=agent --hub http://core:8000 --site "s 1" --data /var/lib/aiedge' in agent_text
    assert "Network=host" in agent_text and "Volume=aiedge-agent.volume:/var/lib/aiedge" in agent_text
    app_text = (tmp_path / "aiedge-app-housing.container").read_text()
    assert f"Image={IMAGE}" in app_text
    assert "PublishPort=127.0.0.1:8511:8080" in app_text and "PublishPort=127.0.0.1:8512:8081" in app_text
    assert "[Install]\nWantedBy=multi-user.target default.target" in app_text


def test_agent_install_command(tmp_path: Path) -> None:
    base = "reg.example:5000/aiedge/base@sha256:" + "b" * 64
    args = ["--quadlet", str(tmp_path), "--image", base, "--hub", "http://core:8000", "--site", "s1"]
    done = subprocess.run(
        aiedge_cmd("agent", "install", *args, "--runtime", "podman"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aiedge-agent.container", "aiedge-agent.volume"]
    assert "--runtime podman" in (tmp_path / "aiedge-agent.container").read_text()
    old = subprocess.run(aiedge_cmd("agent-install", *args), capture_output=True, timeout=60, check=False)
    assert old.returncode == 2  # the old spelling is gone
