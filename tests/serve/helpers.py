"""Helpers for the serve tests."""

from __future__ import annotations

from collections.abc import Callable

# the `serve` fixture: start `aiedge serve PATH --name NAME [ARGS]`, get its base URL
Server = Callable[..., str]
GRPC_ADDRESSES: dict[str, str] = {}  # base URL -> its server's gRPC address (the fixture fills it)


def grpc_address(url: str) -> str:
    """The gRPC address (host:port) of a server the ``serve`` fixture started at ``url``."""
    return GRPC_ADDRESSES[url]
