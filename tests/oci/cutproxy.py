"""A TCP proxy on loopback that cuts its connections once, after N bytes went upstream.

A fake *network*, not a fake server: the real registry sits behind it. Used to show that uploads
and downloads resume after a connection drops mid-transfer.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.linkproxy import receive, reset


class CutProxy:
    def __init__(self, upstream: str, *, cut_up_after: int | None = None, cut_down_after: int | None = None):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.cut_up_after = cut_up_after
        self.cut_down_after = cut_down_after
        self.up_bytes = 0
        self.down_bytes = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._conns += [client, server]
            pair = (client, server)
            threading.Thread(target=self._pump, args=(client, server, True, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, pair), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, up: bool, pair: tuple[socket.socket, ...]
    ) -> None:
        while data := receive(src, dst):
            with self._lock:
                limit = self.cut_up_after if up else self.cut_down_after
                total = (self.up_bytes if up else self.down_bytes) + len(data)
                if limit is not None and total > limit:
                    data = data[: max(0, limit - (self.up_bytes if up else self.down_bytes))]
                if up:
                    self.up_bytes += len(data)
                else:
                    self.down_bytes += len(data)
                cut = limit is not None and total > limit
                if cut:
                    self.cut_up_after = None if up else self.cut_up_after
                    self.cut_down_after = self.cut_down_after if up else None
                    self.cuts += 1
            try:
                if data:
                    dst.sendall(data)
            except OSError:
                return
            if cut:
                for s in pair:  # RST both ways: a dropped link, not a clean close
                    reset(s)
                return

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.close()
