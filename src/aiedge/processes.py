"""Free loopback ports and child processes stopped by process group: the one helper that the CLI
(the demo's registry, hub and agents), the model-server runtimes, the tests and the benchmarks
share.

Every child runs in its own session (``start_new_session=True``), so a terminal's Ctrl-C reaches
only its parent, which then stops it and whatever it started by process group: SIGTERM, then
SIGKILL when it has not exited after a grace period. Children are stopped by PID, never by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (``ip_local_port_range``)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on now; free until someone binds it. Picked outside the
    kernel's ephemeral range: a port the kernel picks (bind to port 0) may be handed out again as
    the source port of any outgoing connection before the server meant for it binds it, and on a
    busy machine (a parallel test run) that happens."""
    low, high = ephemeral_ports()
    spans = [(r0, r1) for r0, r1 in ((20000, low - 1), (high + 1, 65535)) if r1 - r0 > 1000]
    for _ in range(64 if spans else 0):
        r0, r1 = random.choice(spans)
        port = random.randint(r0, r1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A free port whose next port is free too (a site's HTTP and gRPC ports sit side by side)."""
    for _ in range(100):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port + 1))
            except (OSError, OverflowError):
                continue
        return port
    return free_port()


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def stop_group(popen: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 15.0) -> int | None:
    """SIGTERM ``popen``'s process group, SIGKILL it after ``grace`` seconds; its exit code."""
    if popen.poll() is None:
        _signal_group(popen.pid, signal.SIGTERM)
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait(10)
    return popen.returncode


def kill_group(popen: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGKILL ``popen``'s process group at once: a crash, not a clean stop."""
    if popen.poll() is None:
        _signal_group(popen.pid, signal.SIGKILL)
        popen.wait(10)


async def astop_group(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """:func:`stop_group` for a child of the event loop; returns once it has exited."""
    if proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
    await proc.wait()


class Child:
    """A child process in its own session, its output appended to ``log``; stopped by PID."""

    def __init__(
        self,
        cmd: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        *,
        name: str = "",
    ) -> None:
        self.cmd = list(cmd)
        self.name = name or Path(self.cmd[0]).name
        self.log_path = log
        self.reported = False  # its death was told already (see the demo's supervisor)
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.cmd,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exit_description(self) -> str:
        code = self.popen.returncode
        if code is None:
            return "running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log()
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the process group: a crash, not a clean stop."""
        kill_group(self.popen)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, SIGKILL after ``timeout`` seconds; its exit code."""
        code = stop_group(self.popen, timeout)
        self._log.close()
        return code
