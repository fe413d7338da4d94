"""HTTP/1.1 as `aiedge serve` speaks it, over raw sockets: small requests are answered eagerly
(``serve/eager.py``: no ASGI task, one write), everything else the way uvicorn answers it, and
the two mix on one connection without reordering or losing an answer."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from aiedge.demo.model import write_demo_model
from tests.serve.helpers import Server
from tests.serve.models import slow_model
from tests.support import wait_until

ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
DEMO = json.dumps({"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": ROW}]}).encode()
SLOW = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 1024], "datatype": "FP32", "data": [0.5] * 1024}]}
).encode()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _post(path: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


def _chunked(path: str, body: bytes) -> bytes:
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:]))
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )


def _read_responses(sock: socket.socket, n: int) -> list[tuple[int, dict[str, str], bytes]]:
    """``n`` responses with a Content-Length, in the order they arrive."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            assert data, f"connection closed after {len(out)} of {n} responses"
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(buf) < length:
            data = sock.recv(65536)
            assert data, "connection closed inside a body"
            buf += data
        out.append((int(lines[0].split()[1]), headers, buf[:length]))
        buf = buf[length:]
    return out


def test_pipelined_requests_are_answered_in_order(serve: Server, tmp_path: Path) -> None:
    """A slow predict (on a thread, so its eager answer goes on as a task) with fast requests,
    a chunked body and an unknown route pipelined behind it: every answer, in request order."""
    url = serve(slow_model(tmp_path / "slow", depth=16, rows=1), "slow")
    infer = "/v2/models/slow/infer"
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=60) as sock:
        sock.sendall(_post(infer, SLOW))  # the first predicts are timed on threads
        (first,) = _read_responses(sock, 1)
        assert first[0] == 200, first
        requests = [
            _post(infer, SLOW),
            b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
            _chunked(infer, SLOW),
            b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
            _post(infer, SLOW),
            b"GET /v2/models/slow/ready HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
        sock.sendall(b"".join(requests))
        answers = _read_responses(sock, len(requests))
    assert [a[0] for a in answers] == [200, 200, 200, 404, 200, 200], answers
    assert json.loads(answers[1][2]) == {"live": True}
    assert json.loads(answers[5][2])["ready"] is True
    for answer in (answers[0], answers[2], answers[4]):
        out = json.loads(answer[2])["outputs"][0]
        assert out["shape"] == [1, 1024] and len(out["data"]) == 1024
    assert answers[0][2] == answers[2][2] == answers[4][2]  # the same input, the same answer
    for _, headers, _ in answers:  # what uvicorn sends on every answer, eager or not
        assert headers["server"] == "uvicorn" and "date" in headers


def test_eager_answers_keep_http_semantics(serve: Server, tmp_path: Path) -> None:
    url = serve(write_demo_model(tmp_path / "m"), "demo")
    port, infer = _port(url), "/v2/models/demo/infer"
    expected = httpx.post(f"{url}{infer}", content=DEMO).json()
    # HTTP/1.0: answered, then closed (no keep-alive asked for)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(_post(infer, DEMO).replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        ((status, headers, body),) = _read_responses(sock, 1)
        assert status == 200 and json.loads(body) == expected
        assert headers.get("connection") == "close"
        assert sock.recv(100) == b""
    # Connection: close from a 1.1 client: the same
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(_post(infer, DEMO, "Connection: close"))
        ((status, _, body),) = _read_responses(sock, 1)
        assert status == 200 and json.loads(body) == expected
        assert sock.recv(100) == b""
    # Expect: 100-continue: the interim answer first, then the real one
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head, body = _post(infer, DEMO, "Expect: 100-continue").split(b"\r\n\r\n", 1)
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        ((status, _, answer),) = _read_responses(sock, 1)
        assert status == 200 and json.loads(answer) == expected
    # a body in several packets, and a malformed one, on one keep-alive connection
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        request = _post(infer, DEMO)
        for i in range(0, len(request), 40):
            sock.sendall(request[i : i + 40])
            time.sleep(0.01)
        sock.sendall(_post(infer, b'{"inputs": [}'))
        (ok, bad) = _read_responses(sock, 2)
        assert ok[0] == 200 and json.loads(ok[2]) == expected
        assert bad[0] == 400 and "malformed JSON" in json.loads(bad[2])["error"]


def test_a_client_gone_before_its_answer_does_not_harm_the_server(serve: Server, tmp_path: Path) -> None:
    url = serve(slow_model(tmp_path / "slow", depth=64, rows=1), "slow")
    infer = "/v2/models/slow/infer"
    for _ in range(5):  # the first go to threads; closed while their predict runs
        with socket.create_connection(("127.0.0.1", _port(url)), timeout=60) as sock:
            sock.sendall(_post(infer, SLOW) + _post(infer, SLOW))
    # the server goes on answering, and all of those requests were counted once they finished
    assert httpx.post(f"{url}{infer}", content=SLOW, timeout=60).status_code == 200

    def counted() -> bool:
        text = httpx.get(f"{url}/metrics").text
        name = "aiedge_serve_inference_duration_seconds_count"
        line = next((ln for ln in text.splitlines() if ln.startswith(name)), "")
        return bool(line) and float(line.split()[-1]) >= 6

    wait_until(counted, timeout=60)
    log = next(tmp_path.glob("serve-slow-*.log")).read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-2000:]
