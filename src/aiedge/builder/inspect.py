"""Checking a model before it is packed: its format and signature, read by loading it once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aiedge.builder.errors import ModelInvalid
from aiedge.builder.layouts import model_versions
from aiedge.errors import AiedgeError
from aiedge.serve.formats import detect_format
from aiedge.serve.loader import load_model
from aiedge.serve.runtimes.base import LoadOptions, ModelSignature


@dataclass(frozen=True)
class ModelInfo:
    format: str
    signature: ModelSignature
    version_dir: Path  # the version loaded: the path itself, or its highest numbered folder

    def signature_json(self) -> str:
        sig = {
            "inputs": [t.to_json() for t in self.signature.inputs],
            "outputs": [t.to_json() for t in self.signature.outputs],
        }
        return json.dumps(sig, sort_keys=True, separators=(",", ":"))


def version_dir(path: Path) -> Path:
    """``path``, or its highest version folder when it holds only numbered folders (``1/``, ``2/``)."""
    if not path.is_dir():
        return path
    children = [c for c in path.iterdir() if not c.name.startswith(".")]
    if children and all(c.is_dir() and c.name.isdigit() for c in children):
        return max(children, key=lambda c: int(c.name))
    return path


def inspect_model(path: Path, *, allow_code: bool = False) -> ModelInfo:
    """Detect the format and load every version once; raises ModelInvalid with the reason. The
    signature is the latest version's (the one clients get without asking for a version).
    ``allow_code``: load models that run their own code (MLflow pyfunc, in its environment)."""
    if not path.exists():
        raise ModelInvalid(f"{path}: no such file or directory")
    versions = model_versions(path)
    infos = [
        _load(path, target, version if len(versions) > 1 else None, allow_code)
        for version, target in versions.items()
    ]
    return infos[-1]


def _load(path: Path, target: Path, version: str | None, allow_code: bool) -> ModelInfo:
    where = f"{path} (version {version})" if version is not None else str(path)
    try:
        fmt = detect_format(target)
        model = load_model(target, options=LoadOptions(allow_pickle=allow_code))
    except AiedgeError as e:
        raise ModelInvalid(f"{where}: not a model aiedge can serve: {e}") from e
    except Exception as e:  # runtimes raise their own types for corrupt files
        raise ModelInvalid(f"{where}: the model does not load: {type(e).__name__}: {e}") from e
    try:
        return ModelInfo(fmt, model.signature, target)
    finally:
        model.close()
