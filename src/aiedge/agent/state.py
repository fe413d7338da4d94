"""What the agent keeps on disk across restarts (``DATA/state.json``): the last desired state it
applied and its inventory (which digest each app runs, and from which model folder).

Written atomically (temp file, fsync, rename), so a crash leaves the old file or the new one.
The inventory is compared by digest, never by timestamp (OCM's AppliedManifestWork).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiedge.agent.errors import Stalled
from aiedge.contracts import DesiredApp, DesiredState


class Applied(BaseModel):
    """One app as it was last switched to (passed its smoke test and took traffic)."""

    model_config = ConfigDict(extra="forbid")

    app: DesiredApp
    model_dir: Path

    @property
    def digest(self) -> str:
        return self.app.digest


class AgentState(BaseModel):
    """The agent's persistent memory."""

    model_config = ConfigDict(extra="forbid")

    desired: DesiredState | None = None
    inventory: dict[str, Applied] = Field(default_factory=dict)
    previous: dict[str, Applied] = Field(
        default_factory=dict, description="app -> the version it served before (kept on disk for rollback)"
    )
    failed: dict[str, str] = Field(
        default_factory=dict, description="app -> digest that failed its smoke test (not retried)"
    )


def load_state(path: Path) -> AgentState:
    """The saved state, or an empty one when there is none yet; a corrupt file is an error."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return AgentState()
    try:
        return AgentState.model_validate_json(text)
    except ValidationError as e:
        raise Stalled(f"{path}: not a valid agent state ({e.error_count()} errors); move it away") from e


def save_state(path: Path, state: AgentState) -> None:
    """Atomic write: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(state.model_dump_json(indent=2).encode())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
