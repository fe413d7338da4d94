"""Settings of one ``aiedge serve`` process (environment prefix ``AIEDGE_SERVE_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiedge.serve.runtimes.base import LoadOptions


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIEDGE_SERVE_")

    host: str = Field(default="127.0.0.1", description="address to listen on")
    http_port: int = Field(default=8080, description="REST port (V2, TF-Serving)")
    grpc_port: int = Field(default=8081, description="gRPC port (Open Inference Protocol); 0 turns gRPC off")
    precision: str = Field(default="f32", description="OpenVINO inference precision: f32, bf16 or f16")
    onnx_runtime: str = Field(
        default="onnxruntime", description="runtime for .onnx models: onnxruntime or openvino"
    )
    threads: int = Field(default=1, description="intra-op threads per inference request")
    convert_tabular: bool = Field(
        default=True,
        description="serve scikit-learn models through a checked ONNX conversion (false: sklearn itself)",
    )
    slots: int = Field(default=4, description="requests one model runs at once")
    queue: int = Field(default=128, description="requests that may wait per model before 503 + Retry-After")
    log_level: str = Field(default="info", description="log level of the server")

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            precision=self.precision,
            threads=self.threads,
            convert_tabular=self.convert_tabular,
            onnx_runtime=self.onnx_runtime,
        )
