"""`aiedge serve`: serve one or more models over KServe V2, TF-Serving and MLflow REST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from aiedge.errors import AiedgeError
from aiedge.serve.loader import ONNX_RUNTIMES, refuse_pickles
from aiedge.serve.server import build_registry, expand_sources, run
from aiedge.serve.settings import load_settings


def serve_command(
    paths: list[Path] = typer.Argument(
        ..., help="Model dirs or files (version folders 1/, 2/ ... or one version), or a dir of model dirs."
    ),
    names: list[str] = typer.Option(
        [], "--name", help="Model name clients use, one per PATH (default: folder name)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Version of an unversioned model (default 1)."
    ),
    http_port: int | None = typer.Option(None, "--http-port", help="REST port (default 8080)."),
    grpc_port: int | None = typer.Option(
        None, "--grpc-port", help="gRPC port, Open Inference Protocol (default 8081); 0: none."
    ),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    precision: str | None = typer.Option(
        None, "--precision", help="OpenVINO precision: f32 (default), bf16, f16."
    ),
    onnx_runtime: str | None = typer.Option(
        None, "--onnx-runtime", help="Runtime for .onnx models: onnxruntime (default) or openvino."
    ),
    max_batch: int | None = typer.Option(
        None, "--max-batch", help="Dynamic batching: most rows per predict (default 0: off)."
    ),
    batch_delay: float | None = typer.Option(
        None, "--batch-delay", help="Dynamic batching: longest wait for a batch to fill, s (default 0.002)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Server processes sharing the ports, one per core (default 1)."
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Load pickled models (scikit-learn .joblib/.pkl): that runs any code in the file; "
        "only for files you trust.",
    ),
) -> None:
    """Serve models: KServe V2 (/v2/...), TF-Serving v1 (/v1/models/NAME:predict), MLflow (/invocations).

    Flags win over AIEDGE_SERVE_* variables (limits, queue, timeouts: see the README)."""
    if precision not in (None, "f32", "bf16", "f16"):
        raise typer.BadParameter("choose f32, bf16 or f16", param_hint="--precision")
    if onnx_runtime is not None and onnx_runtime not in ONNX_RUNTIMES:
        raise typer.BadParameter(f"choose {' or '.join(ONNX_RUNTIMES)}", param_hint="--onnx-runtime")
    if http_port is not None and not 1 <= http_port <= 65535:
        raise AiedgeError(f"--http-port: {http_port} is not a port (1-65535)")
    if grpc_port is not None and not 0 <= grpc_port <= 65535:
        raise AiedgeError(f"--grpc-port: {grpc_port} is not a port (1-65535, or 0 for no gRPC)")
    given: dict[str, Any] = {
        "host": host,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "precision": precision,
        "onnx_runtime": onnx_runtime,
        "allow_pickle": allow_pickle or None,
        "max_batch": max_batch,
        "batch_delay": batch_delay,
        "workers": workers,
    }
    flags = {k: "--" + k.replace("_", "-") for k in given}
    settings = load_settings(flags, **{k: v for k, v in given.items() if v is not None})
    sources = expand_sources(paths, names, version)
    registry = build_registry(sources)  # bad paths fail here, as one line, before the server starts
    named = {s.name for s in sources if not s.from_repository}  # a repository's pickles load as failed
    refuse_pickles([mv.path for n in named for mv in registry.models[n].values()], settings.load_options())
    run(sources, settings)
