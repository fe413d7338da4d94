"""Errors of the runtimes: a model server that could not be started at all."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class StartError(AiedgeError):
    """The server's process or container could not be started (the binary, the image)."""
