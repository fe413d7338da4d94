"""Errors of smoke tests: unreadable test data (named by file:line)."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class SmokeTestError(AiedgeError):
    """Test data that cannot be read or used; the message names the file and line."""
