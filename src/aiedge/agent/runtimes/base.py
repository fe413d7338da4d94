"""The runtime interface: start one model server for one app version on private ports.

A runtime knows how to start and stop; readiness, smoke tests and traffic switching belong to
the reconciler, which treats every runtime the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from aiedge.contracts import DesiredApp


class Instance(Protocol):
    """One running model server."""

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
    async def start(
        self,
        app: DesiredApp,
        model_dir: Path,
        http_port: int,
        grpc_port: int,
        env: Mapping[str, str] | None = None,
    ) -> Instance:
        """Start the server; ``env`` (the app's decrypted secrets) is added to its environment,
        never to its command line, its log or a file."""
        ...
