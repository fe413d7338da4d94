"""Which folder of a source is the model ``build`` packs: the layouts ``aiedge serve`` takes.

- a model file, or a folder that is one model (SavedModel, ``*.onnx``, IR, MLflow, MLServer...);
- a folder of version folders (``1/``, ``2/``: OpenVINO Model Server, Triton, the seed's
  ``onnx-mnist``), packed whole so the image serves every version;
- a model repository: a folder of such model folders (``models/mnist/1/model.onnx``), from which
  the model named ``--name`` is taken (or the only one there).

Every version is loaded once (``inspect``), so a broken old version is refused at build, not at a
site. This module reads folders only; it loads nothing.
"""

from __future__ import annotations

from pathlib import Path

from aiedge.builder.errors import ModelInvalid
from aiedge.serve.errors import UnknownModelFormat
from aiedge.serve.repository import discover_versions
from aiedge.serve.server import expand_sources


def select_model(path: Path, name: str) -> Path:
    """The model folder (or file) of ``path`` that serves as ``name``: ``path`` itself unless it is
    a model repository, then its subfolder ``name`` or its only model."""
    if not path.is_dir():
        return path
    try:
        sources = expand_sources([path], [])
    except UnknownModelFormat as e:
        raise ModelInvalid(f"{path}: {e}") from e
    found = [s for s in sources if s.from_repository]
    if not found:
        return path
    for source in found:
        if source.name == name:
            return source.path
    if len(found) == 1:
        return found[0].path
    names = ", ".join(s.name for s in found)
    raise ModelInvalid(
        f"{path} is a model repository with {len(found)} models ({names}) and none is named {name!r}: "
        "give --name one of them, or the model's own folder"
    )


def model_versions(path: Path) -> dict[str, Path]:
    """Version name -> folder (or file) of the model at ``path``, in ascending order."""
    try:
        return discover_versions(path)
    except UnknownModelFormat as e:
        raise ModelInvalid(str(e)) from e
