"""Free ports as every test, the demo and the runtimes pick them: outside the kernel's range of
ports for outgoing connections (so no connection's source port can take one before its server
binds it), bindable, and never one that something listens on."""

from __future__ import annotations

import socket

from aiedge.processes import ephemeral_ports, free_port


def test_free_ports_are_outside_the_ephemeral_range_and_bindable() -> None:
    low, high = ephemeral_ports()
    assert 1024 < low <= high <= 65535
    held: list[socket.socket] = []
    try:
        for _ in range(200):
            port = free_port()
            assert not low <= port <= high, (port, low, high)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", port))  # free: it binds
            s.listen()
            held.append(s)  # and, listened on now, it is never picked again
        ports = [s.getsockname()[1] for s in held]
        assert len(set(ports)) == len(ports)
    finally:
        for s in held:
            s.close()
