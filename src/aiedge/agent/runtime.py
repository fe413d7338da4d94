"""What the reconciler needs of a runtime (:mod:`aiedge.runtimes`: local processes, podman):
start one model server for one app version on private ports, and the instance it gets back.

A runtime knows how to start and stop; readiness, smoke tests and traffic switching belong to
the reconciler, which treats every runtime the same way.
"""

from __future__ import annotations

from typing import Protocol

from aiedge.contracts import DesiredApp
from aiedge.runtimes.launch import Launch


class Instance(Protocol):
    """One running model server (a :class:`~aiedge.smoke.server.ModelServer`) of one app."""

    app: DesiredApp
    http_port: int
    grpc_port: int

    @property
    def base_url(self) -> str: ...

    def alive(self) -> bool: ...

    def exit_description(self) -> str:
        """Why it is not running (exit code, last log lines), for status messages."""
        ...

    async def stop(self) -> None: ...


class Runtime(Protocol):
    async def start(self, launch: Launch[DesiredApp]) -> Instance:
        """Start the server (``launch.env``: the app's decrypted secrets, for its environment)."""
        ...
