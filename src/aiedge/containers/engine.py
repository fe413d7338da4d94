"""Running podman the way it works on our sites: runc, cgroupfs, no default ulimits.

crun fails on rlimits and on hybrid cgroup hosts; the ``containers.conf`` written here (into the
caller's data folder, passed with ``CONTAINERS_CONF``) and ``--runtime runc`` avoid both. Storage
is the system's unless ``storage`` is given (tests use a private one under their tmp folder).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiedge.containers.errors import ContainerError, ToolMissing
from aiedge.oci.platform import Platform

CONTAINERS_CONF = (
    '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n'
)


@dataclass(frozen=True)
class Podman:
    """How to call podman: ``argv(...)`` and ``env`` for subprocesses, sync and async helpers."""

    conf: Path
    storage: Path | None = None  # private graph root (and run root beside it), or the system's
    binary: str = "podman"

    @classmethod
    def setup(cls, data: Path, *, storage: Path | None = None) -> Podman:
        """Write ``data/containers.conf`` and check that podman and runc are installed."""
        for tool, package in (("podman", "podman"), ("runc", "runc")):
            if shutil.which(tool) is None:
                raise ToolMissing(f"{tool} is not installed: apt-get install {package}")
        data.mkdir(parents=True, exist_ok=True)
        conf = data / "containers.conf"
        if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
            conf.write_text(CONTAINERS_CONF)
        return cls(conf.resolve(), storage.resolve() if storage else None)

    def argv(self, *args: str) -> list[str]:
        cmd = [self.binary, "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
        if self.storage is not None:
            cmd += ["--root", str(self.storage / "root"), "--runroot", str(self.storage / "run")]
        return [*cmd, *args]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def run(self, *args: str, what: str = "podman", timeout: float = 600) -> str:
        """Run podman and return its stdout; a failure raises with its last stderr lines."""
        try:
            done = subprocess.run(
                self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ContainerError(f"{what}: {e}") from e
        if done.returncode != 0:
            raise ContainerError(f"{what} failed (exit {done.returncode}): {_tail(done.stderr)}")
        return done.stdout

    async def arun(self, *args: str, what: str = "podman", limit: float = 600) -> str:
        """:meth:`run` for async callers: podman runs as a child process, the loop is not blocked."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(*args),
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise ContainerError(f"{what}: cannot start podman: {e}") from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ContainerError(f"{what}: podman did not finish in {limit:g}s") from None
        if proc.returncode != 0:
            raise ContainerError(
                f"{what} failed (exit {proc.returncode}): {_tail(err.decode(errors='replace'))}"
            )
        return out.decode()


def platform_args(platform: Platform | None) -> list[str]:
    """``--platform OS/ARCH``: which image of an index podman takes (default: the host's)."""
    return [] if platform is None else ["--platform", str(platform)]


def load_args(transport_ref: str, platform: Platform | None = None) -> list[str]:
    """``podman pull oci:LAYOUT:TAG``: reads an OCI layout folder, no registry involved."""
    return ["pull", "--quiet", *platform_args(platform), transport_ref]


def publish_args(http_port: int, grpc_port: int, *, host: str = "127.0.0.1") -> list[str]:
    """Publish the image's 8080 (HTTP) and 8081 (gRPC) on ``host``'s private ports."""
    return ["-p", f"{host}:{http_port}:8080", "-p", f"{host}:{grpc_port}:8081"]


def host_network_args(http_port: int, grpc_port: int) -> tuple[list[str], list[str]]:
    """(podman options, command args): share the host's network and move the server's ports,
    for hosts without a working container network; the server still listens on loopback only."""
    return ["--network", "host"], [
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--host",
        "127.0.0.1",
    ]


def _tail(text: str, lines: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
