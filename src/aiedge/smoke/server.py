"""What the smoke-test runner needs of a running model server, however it was started (a local
``aiedge serve`` process or a podman container, see :mod:`aiedge.runtimes`): where it listens,
whether it still lives, why not, and how to stop it."""

from __future__ import annotations

from typing import Protocol


class ModelServer(Protocol):
    """One running model server."""

    @property
    def base_url(self) -> str: ...

    def alive(self) -> bool: ...

    def exit_description(self) -> str:
        """Why it is not running (exit code, last log lines), for error messages."""
        ...

    async def stop(self) -> None: ...
