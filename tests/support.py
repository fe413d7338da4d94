"""Helpers shared by the test suite: free ports, waiting for servers, starting and stopping
real processes by PID (the package's own :mod:`aiedge.processes`). No mocks live here: only ways
to run the real thing."""

from __future__ import annotations

import select
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from aiedge.processes import Child, free_port

__all__ = ["Proc", "free_port"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


def shared_dir() -> Path:
    """The seed data (`<repo>/../shared`); fails the test with a clear message when missing."""
    import pytest

    if not (SHARED / "seed-models").is_dir():
        pytest.fail(
            f"seed data not found at {SHARED}: the tests read the seed models and GitOps files from "
            "<repo root>/../shared (CI puts shared/ there). Put a copy of shared/ beside the repo.",
            pytrace=False,
        )
    return SHARED


def wait_until(
    check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last error {last!r}")


def wait_http(url: str, timeout: float = 30.0, status: int = 200) -> None:
    wait_until(lambda: httpx.get(url, timeout=2).status_code == status, timeout=timeout, what=url)


def aiedge_cmd(*args: str) -> list[str]:
    """The real CLI, run as a child process with this interpreter."""
    return [sys.executable, "-m", "aiedge", *args]


# a real child process, stopped by PID (SIGTERM, then SIGKILL) when the test ends
Proc = Child


def start_registry(root: Path, port: int | None = None) -> tuple[Proc, str]:
    """A real OCI registry (Debian's docker-registry, distribution v2) on a free loopback port."""
    exe = "/usr/bin/docker-registry"
    if not Path(exe).exists():
        import pytest

        pytest.fail(
            "docker-registry is not installed: the test command installs it (apt-get install "
            "docker-registry)",
            pytrace=False,
        )
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "config.yml"
    cfg.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = Proc([exe, "serve", str(cfg)], root / "registry.log")
    wait_http(f"http://127.0.0.1:{port}/v2/", timeout=20)
    return proc, f"127.0.0.1:{port}"


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's high-water mark of resident memory (VmHWM; ``field="VmRSS"``: its resident
    memory now), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc status")


@dataclass
class Reply:
    status: int | None  # None: the server closed (or reset) the connection without an answer
    body: bytes
    sent: int  # body bytes the client got to send


def raw_post(
    port: int, path: str, headers: dict[str, str], chunks: Iterable[bytes] = (), chunked: bool = False
) -> Reply:
    """A POST over a plain socket: headers as given, then ``chunks`` until the server answers or
    closes. (HTTP clients raise on a server that answers before the body is sent; this reads it.)"""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sent = 0
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered (or closed): stop sending
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
                if _complete(data):
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return Reply(None, data, sent)
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    return Reply(int(head_bytes.split()[1]), body, sent)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False
