"""Model servers as local child processes (``aiedge serve``), one per app version.

Each child runs in its own session so a Ctrl-C at the terminal reaches only its parent (the
agent, a build), which then stops it by process group: SIGTERM, then SIGKILL
(:mod:`aiedge.processes`). On Linux the child also gets SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), so a crashed agent leaves no orphans.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic

from aiedge.processes import LOOPBACK, astop_group
from aiedge.runtimes.errors import StartError
from aiedge.runtimes.launch import A, Launch

_PR_SET_PDEATHSIG = 1


def death_signal_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies. libc is loaded
    here, in the parent, so the hook itself only makes one system call after ``fork``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def serve_command() -> list[str]:
    """``aiedge serve`` of this installation, run with this interpreter."""
    return [sys.executable, "-m", "aiedge", "serve"]


class ProcessInstance(Generic[A]):
    def __init__(
        self, app: A, proc: asyncio.subprocess.Process, log: Path, http_port: int, grpc_port: int
    ) -> None:
        self.app = app
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.log = log
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def alive(self) -> bool:
        return self._proc.returncode is None

    def exit_description(self) -> str:
        tail = log_tail(self.log)
        code = self._proc.returncode
        head = "still running" if code is None else f"exited with code {code}"
        return f"{head}; log {self.log}" + (f": {tail}" if tail else "")

    async def stop(self, grace: float = 10.0) -> None:
        await astop_group(self._proc, grace)


class ProcessRuntime:
    """Starts ``serve_command MODEL_DIR --name MODEL --http-port P --grpc-port G --host 127.0.0.1``
    (``G`` 0: no gRPC), its output appended to ``LOGS/APP.log``."""

    def __init__(self, serve_command: list[str], logs_dir: Path) -> None:
        self._serve_command = serve_command
        self._logs_dir = logs_dir
        self._preexec = death_signal_hook()

    async def start(self, launch: Launch[A]) -> ProcessInstance[A]:
        app, http_port, grpc_port, env = launch.app, launch.http_port, launch.grpc_port, launch.env
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        log = self._logs_dir / f"{app.name}.log"
        cmd = [
            *self._serve_command,
            str(launch.model_dir),
            "--name",
            app.model,
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--host",
            LOOPBACK,
        ]
        note = f"starting {app.digest or app.model} on port {http_port}"
        proc = await spawn(cmd, log, note, {**os.environ, **env} if env else None, self._preexec)
        return ProcessInstance(app, proc, log, http_port, grpc_port)


async def spawn(
    cmd: list[str],
    log: Path,
    note: str,
    env: Mapping[str, str] | None,
    preexec: Callable[[], None] | None,
) -> asyncio.subprocess.Process:
    """Start ``cmd`` in a session of its own, its output appended to ``log`` after a line saying
    what starts (``note``); ``env`` None: ours."""
    with log.open("ab") as fh:
        fh.write(f"--- aiedge: {note}\n".encode())
        fh.flush()
        try:
            return await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fh,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,
                env=env,
            )
        except OSError as e:
            raise StartError(f"cannot start {cmd[0]}: {e}") from e


def log_tail(log: Path, lines: int = 3) -> str:
    """The last ``lines`` non-empty lines of a log (from its last 4 KiB), joined by ``|``."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())
