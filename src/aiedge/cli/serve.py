"""`aiedge serve`: serve one or more models over KServe V2, TF-Serving and MLflow REST."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import typer

from aiedge.cli.settings_options import Opt, settings_options
from aiedge.errors import AiedgeError
from aiedge.serve.loader import refuse_pickles
from aiedge.serve.server import build_registry, expand_sources, run
from aiedge.serve.settings import ServeSettings, load_settings

_OPTIONS = (
    Opt("http_port", short="-p", metavar="PORT"),
    Opt("grpc_port", metavar="PORT"),
    Opt("host"),
    Opt("precision", type=Literal["f32", "bf16", "f16"]),
    Opt("onnx_runtime", type=Literal["onnxruntime", "openvino"]),
    Opt("device", type=Literal["cpu", "gpu", "npu", "auto"]),
    Opt("device_required"),
    Opt(
        "shape",
        type=str,
        metavar="auto",
        help="auto: OpenVINO models with fixed input shapes take others, as OVMS --shape auto.",
    ),
    Opt("max_batch", metavar="ROWS"),
    Opt("batch_delay", metavar="SECONDS"),
    Opt("workers"),
    Opt("allow_pickle"),
)


@settings_options(ServeSettings, *_OPTIONS)
def serve_command(
    paths: list[Path] = typer.Argument(
        ..., help="Model dirs or files (version folders 1/, 2/ ... or one version), or a dir of model dirs."
    ),
    names: list[str] = typer.Option(
        [], "--name", "-n", help="Model name clients use, one per PATH (default: folder name)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Version of an unversioned model (default 1)."
    ),
    *,
    given: dict[str, Any],
) -> None:
    """Serve models: KServe V2 (/v2/...), TF-Serving v1 (/v1/models/NAME:predict), MLflow (/invocations).

    Every option is also an AIEDGE_SERVE_* variable (flags win); limits, queue and timeouts are
    settings too (see the README)."""
    http_port, grpc_port = given.get("http_port"), given.get("grpc_port")
    if http_port is not None and not 1 <= http_port <= 65535:
        raise AiedgeError(f"--http-port: {http_port} is not a port (1-65535)")
    if grpc_port is not None and not 0 <= grpc_port <= 65535:
        raise AiedgeError(f"--grpc-port: {grpc_port} is not a port (1-65535, or 0 for no gRPC)")
    settings = load_settings({o.field: o.long for o in _OPTIONS}, **given)
    sources = expand_sources(paths, names, version)
    registry = build_registry(sources)  # bad paths fail here, as one line, before the server starts
    named = {s.name for s in sources if not s.from_repository}  # a repository's pickles load as failed
    refuse_pickles([mv.path for n in named for mv in registry.models[n].values()], settings.load_options())
    run(sources, settings)
