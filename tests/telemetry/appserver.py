"""Serving a real ASGI app on a loopback port from a background thread, for fake receivers.

The fakes are servers (starlette apps under uvicorn), never patched methods of our own code.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from tests.support import free_port, wait_until


@contextmanager
def serve_app(app: Any, certfile: Path | None = None, keyfile: Path | None = None) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1; yields its base URL (https with a cert)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="none",
        loop="asyncio",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=20, what="uvicorn to start")
    try:
        yield f"{'https' if certfile else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
