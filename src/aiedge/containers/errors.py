"""Errors of the containers package."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class ContainerError(AiedgeError):
    """A container tool failed or is missing (debootstrap, podman), or an image cannot run."""


class ToolMissing(ContainerError):
    """A program this step needs is not installed; the message says which Debian package has it."""
