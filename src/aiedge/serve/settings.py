"""Settings of one ``aiedge serve`` process (environment prefix ``AIEDGE_SERVE_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiedge.serve.capture import CaptureSettings
from aiedge.serve.drift.monitor import DriftSettings
from aiedge.serve.errors import BadSettings
from aiedge.serve.limits import Limits, MiB, setting
from aiedge.serve.runtimes.base import LoadOptions


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIEDGE_SERVE_")

    host: str = Field(default="127.0.0.1", description="address to listen on")
    http_port: int = Field(default=8080, ge=1, le=65535, description="REST port (V2, TF-Serving)")
    grpc_port: int = Field(
        default=8081, ge=0, le=65535, description="gRPC port (Open Inference Protocol); 0 turns gRPC off"
    )
    precision: str = Field(default="f32", description="OpenVINO inference precision: f32, bf16 or f16")
    shape: Literal["", "auto"] = Field(
        default="",
        description='"auto": OpenVINO models with fixed input shapes take others (OVMS --shape auto)',
    )
    device: Literal["cpu", "gpu", "npu", "auto"] = Field(
        default="cpu",
        description="device to serve on: OpenVINO's CPU, GPU, NPU or AUTO, ONNX Runtime's execution "
        "providers for it; one that is missing falls back to the CPU with a warning",
    )
    device_required: bool = Field(
        default=False, description="a device that is missing fails the model's load (no CPU fallback)"
    )
    onnx_runtime: str = Field(
        default="onnxruntime", description="runtime for .onnx models: onnxruntime or openvino"
    )
    threads: int = Field(default=1, description="intra-op threads per inference request")
    convert_tabular: bool = Field(
        default=True,
        description="serve scikit-learn models through a checked ONNX conversion (false: sklearn itself)",
    )
    allow_pickle: bool = Field(
        default=False,
        description="load pickled models (scikit-learn joblib/pkl, MLflow sklearn): unpickling runs any "
        "code in the file, so only for files you trust",
    )
    slots: int = Field(default=4, description="requests one model runs at once")
    queue: int = Field(default=128, description="requests that may wait per model before 503 + Retry-After")
    log_level: str = Field(default="info", description="log level of the server")
    max_batch: int = Field(
        default=0, ge=0, description="dynamic batching: most rows in one predict (0 or 1: off)"
    )
    batch_delay: float = Field(
        default=0.002, gt=0, le=1, description="dynamic batching: longest a request waits for others (s)"
    )
    workers: int = Field(default=1, ge=1, le=256, description="server processes sharing the ports")
    drift: bool = Field(
        default=True,
        description="keep per-feature drift scores of a sample of requests (off the request path)",
    )
    drift_sample: float = Field(
        default=0.1, gt=0, le=1, allow_inf_nan=False, description="share of requests the drift window sees"
    )
    drift_window: int = Field(default=1000, ge=10, le=1_000_000, description="rows in the live drift window")
    drift_min_rows: int = Field(
        default=100, ge=1, le=1_000_000, description="rows the window needs before a drift score is exported"
    )
    drift_learn_rows: int = Field(
        default=500,
        ge=10,
        le=100_000,
        description="live rows a profile is learned from when the model folder has none",
    )
    drift_queue: int = Field(
        default=1024, ge=1, le=100_000, description="sampled requests waiting to be folded; then dropped"
    )
    capture_dir: Path | None = Field(
        default=None, description="capture a sample of requests and answers as JSON lines into this folder"
    )
    capture_sample: float = Field(default=0.01, gt=0, le=1, allow_inf_nan=False, description="share captured")
    capture_max_bytes_per_day: int = Field(
        default=100 * MiB, gt=0, description="captured bytes a day (UTC) at most; then dropped"
    )
    capture_max_buffer_bytes: int = Field(
        default=256 * MiB, gt=0, description="bytes the capture folder may hold (not yet uploaded)"
    )
    capture_drop: str = Field(default="", description="comma-separated tensors left out of captured records")
    capture_file_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="seconds a capture file stays open before it is closed"
    )
    control_token: str | None = Field(
        default=None,
        description="the site agent's token for the control endpoint (shadow mirror); none: no endpoint",
    )
    # what one request may make the server hold (see serve/limits.py); every refusal names its setting
    max_body_bytes: int = Field(
        default=32 * MiB, gt=0, description="largest inference body (binary tensor data, gRPC message)"
    )
    max_json_bytes: int = Field(
        default=8 * MiB, gt=0, description="largest JSON or CSV body (or JSON part of a binary one)"
    )
    max_string_elements: int = Field(
        default=1024 * 1024, gt=0, description="BYTES elements in one request (each is a Python object)"
    )
    body_budget_bytes: int = Field(
        default=128 * MiB, gt=0, description="request body bytes all requests may hold at once; then 503"
    )
    body_timeout: float = Field(default=30.0, gt=0, description="seconds a client may take to send a body")
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds from connecting (or starting a request) to its headers"
    )
    max_header_bytes: int = Field(
        default=64 * 1024, gt=0, description="largest request line and headers of one request; then 431"
    )
    keep_alive_timeout: int = Field(default=5, gt=0, description="seconds an idle connection stays open")
    max_connections: int = Field(
        default=1024,
        gt=0,
        description="connections (and gRPC calls) at once; more get 503 / RESOURCE_EXHAUSTED",
    )

    def limits(self) -> Limits:
        return Limits(
            max_body_bytes=self.max_body_bytes,
            max_json_bytes=self.max_json_bytes,
            max_string_elements=self.max_string_elements,
            body_budget_bytes=self.body_budget_bytes,
            body_timeout=self.body_timeout,
        )

    def drift_settings(self) -> DriftSettings:
        return DriftSettings(
            sample=self.drift_sample,
            window_rows=self.drift_window,
            min_rows=self.drift_min_rows,
            learn_rows=self.drift_learn_rows,
            queue=self.drift_queue,
        )

    def capture_settings(self) -> CaptureSettings | None:
        if self.capture_dir is None:
            return None
        return CaptureSettings(
            folder=self.capture_dir,
            sample=self.capture_sample,
            max_bytes_per_day=self.capture_max_bytes_per_day,
            max_buffer_bytes=self.capture_max_buffer_bytes,
            drop=frozenset(t.strip() for t in self.capture_drop.split(",") if t.strip()),
            file_seconds=self.capture_file_seconds,
        )

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            precision=self.precision,
            threads=self.threads,
            convert_tabular=self.convert_tabular,
            onnx_runtime=self.onnx_runtime,
            allow_pickle=self.allow_pickle,
            shape_auto=self.shape == "auto",
            device=self.device,
            device_required=self.device_required,
        )


def load_settings(flags: dict[str, str] | None = None, **overrides: Any) -> ServeSettings:
    """The settings from the environment, ``overrides`` (the command line's) winning; a bad value is
    one ``BadSettings`` line naming its flag (``flags``: field -> flag) or environment variable."""
    try:
        return ServeSettings(**overrides)
    except ValidationError as e:
        err = e.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        where = (flags or {}).get(field) if field in overrides else None
        raise BadSettings(f"{where or setting(field)}: {err.get('input')!r}: {err['msg']}") from e
