"""The demo's supervisor: the children it starts and stops (its registry, hub and agents).

Children are stopped in order (agents first, then the hub, then the registry), each by process
group (:class:`aiedge.processes.Child`). A child that dies on its own is reported once
(:meth:`Supervisor.newly_dead`), with the command that starts it again; the others keep running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiedge.processes import Child


@dataclass
class Supervisor:
    """Starts children, remembers them, and stops them all in reverse order."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(cmd, self.log_dir / f"{name}.log", env, name=name)
        self.children.append(child)
        return child

    def dead(self) -> list[Child]:
        return [c for c in self.children if not c.alive()]

    def newly_dead(self) -> list[Child]:
        """Children that died since the last call (each is returned once)."""
        found = [c for c in self.dead() if not c.reported]
        for c in found:
            c.reported = True
        return found

    def stop_all(self, timeout: float = 20.0) -> None:
        for child in reversed(self.children):
            child.stop(timeout)
        self.children.clear()
