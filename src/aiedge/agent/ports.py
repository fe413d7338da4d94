"""Ports: the site ports an app is reached on (its servers' private ports are free ones,
:func:`aiedge.processes.free_port`)."""

from __future__ import annotations

from aiedge.contracts import DesiredApp


def site_ports(app: DesiredApp, offset: int) -> tuple[int, int]:
    """(HTTP, gRPC) site ports: ``port + offset`` and ``(grpc_port or port + 1) + offset``."""
    return app.port + offset, (app.grpc_port or app.port + 1) + offset
