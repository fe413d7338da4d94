"""The agent's saved state: round trip, atomic replacement, a corrupt file is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.agent.errors import Stalled
from aiedge.agent.state import AgentState, Applied, load_state, save_state
from aiedge.contracts import DesiredApp, DesiredState

IMAGE = "127.0.0.1:5000/m/tiny@sha256:" + "a" * 64


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "state.json") == AgentState()


def test_round_trip_and_no_temp_file_left(tmp_path: Path) -> None:
    app = DesiredApp(name="a", model="tiny", image=IMAGE, port=9000)
    state = AgentState(
        desired=DesiredState(site="s", revision="main@sha1:" + "0" * 40, apps=[app]),
        inventory={"a": Applied(app=app, model_dir=tmp_path / "m")},
        failed={"b": "sha256:" + "b" * 64},
    )
    path = tmp_path / "d" / "state.json"
    save_state(path, state)
    assert load_state(path) == state
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]
    assert load_state(path).inventory["a"].digest == app.digest


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"desired": 3}')
    with pytest.raises(Stalled, match=r"state\.json: not a valid agent state"):
        load_state(path)
