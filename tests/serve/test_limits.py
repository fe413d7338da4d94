"""`aiedge serve` holds no unbounded input: bodies over a route's limit are refused from their
Content-Length before a byte is read, streamed (chunked) bodies are cut at the limit, tensors are
checked against the model's signature as declared before their data is decoded, BYTES elements
are capped, more than 64 dimensions is a 400 (REST) and INVALID_ARGUMENT (gRPC), slow clients
are timed out, and connections past the limit get 503. The server's peak RSS (VmHWM in /proc)
stays bounded through every attack, where it used to reach 1.49 GB."""

from __future__ import annotations

import json
import select
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from tests.serve.models import identity_model
from tests.support import Proc, aiedge_cmd, free_port, peak_rss_mb, raw_post, wait_http, wait_until

MiB = 1024 * 1024
INFER = "/v2/models/fp32/infer"
STRINGS = "/v2/models/bytes/infer"


@dataclass
class Server:
    proc: Proc
    port: int
    grpc_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        """The process's high-water mark of resident memory (VmHWM), in MiB."""
        return peak_rss_mb(self.proc.pid)


def _start(root: Path, env: dict[str, str]) -> Server:
    """A repository of one-input identity models: ``fp32``, ``uint8``, ``bytes`` (input ``in_D``)."""
    for datatype in ("FP32", "UINT8", "BYTES"):
        identity_model(root / f"models/{datatype.lower()}/1/model.onnx", (datatype,))
    port, grpc_port = free_port(), free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(root / "models"),
            "--http-port",
            str(port),
            "--grpc-port",
            str(grpc_port),
        ),
        root / "serve.log",
        env=env,
    )
    wait_http(f"http://127.0.0.1:{port}/v2/health/ready", timeout=60)
    return Server(proc, port, grpc_port)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default limits (the documented ones), short client timeouts."""
    s = _start(
        tmp_path_factory.mktemp("limits"),
        {"AIEDGE_SERVE_HEADER_TIMEOUT": "1", "AIEDGE_SERVE_BODY_TIMEOUT": "1"},
    )
    yield s
    s.proc.stop()


def _json_array(n: int) -> bytes:
    return (
        b'{"inputs": [{"name": "in_FP32", "datatype": "FP32", "shape": [%d, 2], "data": [' % (n // 2)
        + b"0," * (n - 1)
        + b"0]}]}"
    )


def _bytes_body(count: int, name: str = "in_BYTES", datatype: str = "BYTES") -> tuple[bytes, int]:
    """A binary-extension body with ``count`` empty BYTES elements; (body, JSON header length)."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [count // 2, 2],
                    "parameters": {"binary_data_size": 4 * count},
                }
            ]
        }
    ).encode()
    return header + struct.pack("<I", 0) * count, len(header)


def test_a_content_length_over_the_limit_is_refused_before_the_body(server: Server) -> None:
    for path, ctype, setting in [
        (INFER, "application/json", "AIEDGE_SERVE_MAX_JSON_BYTES"),
        ("/v1/models/fp32:predict", "application/json", "AIEDGE_SERVE_MAX_JSON_BYTES"),
        ("/invocations?model=fp32", "text/csv", "AIEDGE_SERVE_MAX_JSON_BYTES"),
    ]:
        # 200 MB declared, nothing sent: the answer comes from the header alone
        r = raw_post(server.port, path, {"Content-Type": ctype, "Content-Length": str(200_000_000)})
        assert r.status == 413, (path, r)
        error = json.loads(r.body)["error"]
        assert "200000000 bytes" in error and setting in error, error
    binary = raw_post(
        server.port,
        INFER,
        {"Inference-Header-Content-Length": "100", "Content-Length": str(64 * MiB)},
    )
    assert binary.status == 413 and b"AIEDGE_SERVE_MAX_BODY_BYTES" in binary.body
    control = raw_post(server.port, "/v2/repository/index", {"Content-Length": str(MiB)})
    assert control.status == 413


def test_a_streamed_body_is_cut_at_the_limit(server: Server) -> None:
    # 200 MB of JSON sent chunked, with no Content-Length: read up to the 8 MiB limit, no further
    chunks = (b" " * (256 * 1024) for _ in range(800))
    r = raw_post(server.port, INFER, {"Content-Type": "application/json"}, chunks, chunked=True)
    assert r.status == 413 and b"AIEDGE_SERVE_MAX_JSON_BYTES" in r.body, r
    assert r.sent < 40 * MiB, r.sent
    assert httpx.get(f"{server.url}/v2/health/live").status_code == 200


def test_the_declared_datatype_is_checked_before_the_data_is_decoded(server: Server) -> None:
    # 4 million BYTES elements (16 MiB) declared for an FP32 input: refused before one is read
    body, n = _bytes_body(4 * 1024 * 1024, name="in_FP32")
    r = httpx.post(f"{server.url}{INFER}", content=body, headers={"Inference-Header-Content-Length": str(n)})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "inputs[in_FP32].datatype: expected FP32, got BYTES"
    # the same for the BYTES input: past the cap on BYTES elements
    body, n = _bytes_body(4 * 1024 * 1024)
    r = httpx.post(
        f"{server.url}{STRINGS}", content=body, headers={"Inference-Header-Content-Length": str(n)}
    )
    assert r.status_code == 413 and "AIEDGE_SERVE_MAX_STRING_ELEMENTS" in r.json()["error"], r.text
    # a shape that does not fit the model's [-1, 2] is named before its 8 MiB of data is read
    head = b'{"inputs":[{"name":"in_FP32","datatype":"FP32","shape":[2,2,2],"parameters":'
    head += b'{"binary_data_size":8388608}}]}'
    r = httpx.post(
        f"{server.url}{INFER}",
        content=head + b"\0" * (8 * MiB),
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert r.status_code == 400 and "shape" in r.json()["error"], r.text


def test_more_than_64_dimensions_is_a_bad_request_on_rest_and_grpc(tmp_path: Path) -> None:
    # a model of unknown rank, so only the dimension limit stands between the request and numpy
    import onnx
    from onnx import TensorProto, helper

    model_dir = tmp_path / "anyrank/1"
    model_dir.mkdir(parents=True)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "anyrank",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(model_dir / "model.onnx"))
    port, grpc_port = free_port(), free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(tmp_path / "anyrank"),
            "--http-port",
            str(port),
            "--grpc-port",
            str(grpc_port),
        ),
        tmp_path / "serve.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v2/models/anyrank/ready", timeout=60)
        ok = httpx.post(
            f"{url}/v2/models/anyrank/infer",
            json={"inputs": [{"name": "x", "shape": [1] * 3, "datatype": "FP32", "data": [1.5]}]},
        )
        assert ok.status_code == 200, ok.text
        r = httpx.post(
            f"{url}/v2/models/anyrank/infer",
            json={"inputs": [{"name": "x", "shape": [1] * 65, "datatype": "FP32", "data": [0.0]}]},
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "inputs[x].shape: 65 dimensions; at most 64"
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            tensor = pb.ModelInferRequest.InferInputTensor(
                name="x", datatype="FP32", shape=[1] * 101, contents=pb.InferTensorContents(fp32_contents=[0])
            )
            with pytest.raises(grpc.RpcError) as e:
                stub.ModelInfer(pb.ModelInferRequest(model_name="anyrank", inputs=[tensor]), timeout=30)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert e.value.details() == "inputs[x].shape: 101 dimensions; at most 64"
    finally:
        proc.stop()


def test_grpc_messages_over_the_limit_and_too_many_bytes_elements(server: Server) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        big = pb.ModelInferRequest.InferInputTensor(name="in_UINT8", datatype="UINT8", shape=[20 * MiB, 2])
        request = pb.ModelInferRequest(
            model_name="uint8", inputs=[big], raw_input_contents=[b"\0" * (40 * MiB)]
        )
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(request, timeout=60)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # 2 million empty BYTES elements in 8 MiB: over the element cap, refused before decoding
        strings = pb.ModelInferRequest.InferInputTensor(name="in_BYTES", datatype="BYTES", shape=[MiB, 2])
        request = pb.ModelInferRequest(
            model_name="bytes", inputs=[strings], raw_input_contents=[b"\0" * (8 * MiB)]
        )
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(request, timeout=60)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "AIEDGE_SERVE_MAX_STRING_ELEMENTS" in (e.value.details() or "")


def test_peak_memory_stays_bounded_through_the_audit_attacks(server: Server) -> None:
    """The audit's payloads (a 200 MB JSON, a 30-million-element array, a 32 MB CSV, 16 million
    empty BYTES elements) took the server to 1.49 GB; now each is refused within its limit."""
    before = server.peak_rss_mb()
    attacks: list[tuple[dict[str, str], Iterable[bytes]]] = [
        ({"Content-Type": "application/json"}, (b" " * MiB for _ in range(200))),
        ({"Content-Type": "application/json"}, iter([_json_array(30_000_000)])),
        ({"Content-Type": "text/csv"}, (b"a,b\n" + b"1,2\n" * (8 * 1024 * 1024) for _ in range(1))),
    ]
    for headers, chunks in attacks:
        r = raw_post(
            server.port,
            INFER if "json" in headers["Content-Type"] else "/invocations?model=fp32",
            headers,
            chunks,
            chunked=True,
        )
        assert r.status == 413, r
    body, n = _bytes_body(16 * 1024 * 1024)
    r = raw_post(
        server.port,
        STRINGS,
        {"Inference-Header-Content-Length": str(n), "Content-Length": str(len(body))},
        iter([body]),
    )
    assert r.status == 413, r
    # within the limits: the largest JSON the server takes, all numbers, decoded for real
    ok = httpx.post(f"{server.url}{INFER}", content=_json_array(4 * 1024 * 1024 - 64), timeout=60)
    assert ok.status_code == 200, ok.text[:300]
    growth = server.peak_rss_mb() - before
    print(f"peak RSS {before:.0f} -> {server.peak_rss_mb():.0f} MiB")
    assert growth < 300, f"peak RSS grew by {growth:.0f} MiB"


def test_slow_clients_are_timed_out(server: Server) -> None:
    # headers that never finish: 408 and closed after the header timeout (1 s here)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"POST /v2/models/fp32/infer HTTP/1.1\r\nHost: x\r\n")
        reply = sock.recv(1000)
        assert reply.startswith(b"HTTP/1.1 408"), reply
    # a connection that sends nothing at all is closed too
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        assert sock.recv(1000).startswith(b"HTTP/1.1 408")
    # a body that stops halfway: 408 after the body timeout (1 s here)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"POST /v2/models/fp32/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        reply = sock.recv(1000)
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert b"AIEDGE_SERVE_BODY_TIMEOUT" in reply


def test_headers_over_the_limit_get_431(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        for i in range(200):  # 200 KiB of headers, the default limit is 64 KiB
            if select.select([sock], [], [], 0.01)[0]:
                break  # answered: stop sending, so the close is not a reset that loses the answer
            sock.sendall(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000))
        assert sock.recv(1000).startswith(b"HTTP/1.1 431")


def test_connections_past_the_limit_get_503(tmp_path: Path) -> None:
    s = _start(tmp_path, {"AIEDGE_SERVE_MAX_CONNECTIONS": "4"})
    try:
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=30) for _ in range(4)]
        try:
            r = httpx.get(f"{s.url}/v2/health/live")
            assert r.status_code == 503, r.text
        finally:
            for sock in idle:
                sock.close()
        wait_until(lambda: httpx.get(f"{s.url}/v2/health/live").status_code == 200, timeout=30)
    finally:
        s.proc.stop()


def test_the_limits_are_settings(tmp_path: Path) -> None:
    s = _start(tmp_path, {"AIEDGE_SERVE_MAX_JSON_BYTES": "1000"})
    try:
        small = httpx.post(
            f"{s.url}{INFER}",
            json={"inputs": [{"name": "in_FP32", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]},
        )
        assert small.status_code == 200, small.text
        r = httpx.post(f"{s.url}{INFER}", content=_json_array(1000))
        assert r.status_code == 413 and "(1000 bytes, AIEDGE_SERVE_MAX_JSON_BYTES)" in r.json()["error"]
    finally:
        s.proc.stop()
