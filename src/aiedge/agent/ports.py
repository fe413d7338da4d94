"""Ports: the site ports an app is reached on, and free private ports for its servers."""

from __future__ import annotations

import socket

from aiedge.contracts import DesiredApp


def site_ports(app: DesiredApp, offset: int) -> tuple[int, int]:
    """(HTTP, gRPC) site ports: ``port + offset`` and ``(grpc_port or port + 1) + offset``."""
    return app.port + offset, (app.grpc_port or app.port + 1) + offset


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
