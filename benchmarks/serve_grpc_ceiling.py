"""The ceiling of gRPC serving on this stack: a bare ``grpc.aio`` servicer of the Open Inference
Protocol (the same generated modules `aiedge serve` uses) whose ModelInfer returns a fixed answer.
No decoding, no model: what any Python gRPC server spends per call at the least.

    python benchmarks/serve_grpc_ceiling.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

from aiedge.serve.grpc.proto import open_inference_pb2 as pb
from aiedge.serve.grpc.proto import open_inference_pb2_grpc as pb_grpc

ANSWER = pb.ModelInferResponse(model_name="gbr", model_version="1")
ANSWER.outputs.add(name="variable", datatype="FP32", shape=[1, 1])
ANSWER.raw_output_contents.append(b"\0\0\x80?")


class Fixed(pb_grpc.GRPCInferenceServiceServicer):
    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        return ANSWER


async def main(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Fixed(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
