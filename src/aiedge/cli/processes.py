"""Child processes the CLI starts and stops (the demo's registry, hub and agents).

Each child runs in its own session, so a terminal's Ctrl-C reaches only us and we stop the
children in order (agents first, then the hub, then the registry), by PID: SIGTERM, then SIGKILL.
A child that dies on its own is reported once (:meth:`Supervisor.newly_dead`), with the command
that starts it again; the others keep running.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    _fh: IO[bytes]
    cmd: list[str] = field(default_factory=list)
    reported: bool = False  # its death was told already

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exit_description(self) -> str:
        code = self.popen.returncode
        if code is None:
            return "running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Supervisor:
    """Starts children, remembers them, and stops them all in reverse order."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        fh = log.open("ab")
        popen = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        child = Child(name, popen, log, fh, list(cmd))
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
            _stop(child.popen, timeout)
            child._fh.close()
        self.children.clear()


def _stop(popen: subprocess.Popen[bytes], timeout: float) -> None:
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(10)
