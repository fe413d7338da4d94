"""Helpers for the serve tests."""

from __future__ import annotations

from collections.abc import Callable

# the `serve` fixture: start `aiedge serve PATH --name NAME [ARGS]`, get its base URL
Server = Callable[..., str]
