"""`aiedge serve`: serve one or more models over KServe V2, TF-Serving and MLflow REST."""

from __future__ import annotations

from pathlib import Path

import typer

from aiedge.errors import AiedgeError
from aiedge.serve.loader import ONNX_RUNTIMES, refuse_pickles
from aiedge.serve.server import build_registry, expand_sources, run
from aiedge.serve.settings import ServeSettings


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
    http_port: int = typer.Option(8080, "--http-port", help="REST port."),
    grpc_port: int = typer.Option(8081, "--grpc-port", help="gRPC port (Open Inference Protocol); 0: none."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    precision: str = typer.Option("f32", "--precision", help="OpenVINO precision: f32, bf16, f16."),
    onnx_runtime: str = typer.Option(
        "onnxruntime", "--onnx-runtime", help="Runtime for .onnx models: onnxruntime or openvino."
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        envvar="AIEDGE_SERVE_ALLOW_PICKLE",
        help="Load pickled models (scikit-learn .joblib/.pkl): that runs any code in the file; "
        "only for files you trust.",
    ),
) -> None:
    """Serve models: KServe V2 (/v2/...), TF-Serving v1 (/v1/models/NAME:predict), MLflow (/invocations)."""
    if precision not in ("f32", "bf16", "f16"):
        raise typer.BadParameter("choose f32, bf16 or f16", param_hint="--precision")
    if onnx_runtime not in ONNX_RUNTIMES:
        raise typer.BadParameter(f"choose {' or '.join(ONNX_RUNTIMES)}", param_hint="--onnx-runtime")
    settings = ServeSettings(
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        precision=precision,
        onnx_runtime=onnx_runtime,
        allow_pickle=allow_pickle,
    )
    sources = expand_sources(paths, names, version)
    registry = build_registry(sources)  # bad paths fail here, as one line, before the server starts
    given = {s.name for s in sources if not s.from_repository}  # a repository's pickles load as failed
    refuse_pickles(
        [mv.path for name in given for mv in registry.models[name].values()], settings.load_options()
    )
    try:
        run(sources, settings)
    except OSError as e:
        raise AiedgeError(f"cannot listen on {host}:{http_port}: {e.strerror or e}") from e
