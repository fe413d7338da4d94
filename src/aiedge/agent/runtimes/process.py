"""Model servers as local child processes (``aiedge serve``), one per app version.

Each child runs in its own session so a Ctrl-C at the terminal reaches only the agent, which
then stops its children itself, by process group: SIGTERM, then SIGKILL. On Linux the child also
gets SIGTERM when the agent dies (``PR_SET_PDEATHSIG``), so a crashed agent leaves no orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from aiedge.agent.errors import StartFailed
from aiedge.contracts import DesiredApp

_PR_SET_PDEATHSIG = 1


def _death_signal_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when the agent dies. libc is loaded
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


class ProcessInstance:
    def __init__(
        self, app: DesiredApp, proc: asyncio.subprocess.Process, log: Path, http_port: int, grpc_port: int
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
        return f"http://127.0.0.1:{self.http_port}"

    def alive(self) -> bool:
        return self._proc.returncode is None

    def exit_description(self) -> str:
        tail = _tail(self.log)
        code = self._proc.returncode
        head = "still running" if code is None else f"exited with code {code}"
        return f"{head}; log {self.log}" + (f": {tail}" if tail else "")

    async def stop(self, grace: float = 10.0) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
        await self._proc.wait()


class ProcessRuntime:
    """Starts ``serve_command MODEL_DIR --name MODEL --http-port P --grpc-port G --host 127.0.0.1``."""

    def __init__(self, serve_command: list[str], logs_dir: Path) -> None:
        self._serve_command = serve_command
        self._logs_dir = logs_dir
        self._preexec = _death_signal_hook()

    async def start(
        self,
        app: DesiredApp,
        model_dir: Path,
        http_port: int,
        grpc_port: int,
        env: Mapping[str, str] | None = None,
    ) -> ProcessInstance:
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        log = self._logs_dir / f"{app.name}.log"
        cmd = [
            *self._serve_command,
            str(model_dir),
            "--name",
            app.model,
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--host",
            "127.0.0.1",
        ]
        with log.open("ab") as fh:
            fh.write(f"--- agent: starting {app.digest} on port {http_port}\n".encode())
            fh.flush()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=fh,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=self._preexec,
                    env={**os.environ, **env} if env else None,
                )
            except OSError as e:
                raise StartFailed(f"cannot start {cmd[0]}: {e}") from e
        return ProcessInstance(app, proc, log, http_port, grpc_port)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())
