"""Errors of smoke tests: unreadable test data (named by file:line)."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class SmokeTestError(AiedgeError):
    """Test data that cannot be read or used; the message names the file and line."""


class NotReady(AiedgeError):
    """A model server that exited before it was ready, or was not ready in time; the message says
    which, with the last lines of its log."""
