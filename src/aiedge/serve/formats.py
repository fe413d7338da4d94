"""Model format detection: what kind of model is at a path, decided from its files alone.

Formats: ``onnx``, ``openvino-ir``, ``tf-savedmodel``, ``lightgbm``, ``sklearn``. Descriptor
layouts resolve to the file they point at: MLflow (``MLmodel``) and MLServer
(``model-settings.json``); see ``serve/mlmodel.py``.
"""

from __future__ import annotations

from pathlib import Path

from aiedge.serve.errors import UnknownModelFormat
from aiedge.serve.mlmodel import Resolved, read_mlmodel, read_model_settings

ONNX = "onnx"
OPENVINO_IR = "openvino-ir"
TF_SAVEDMODEL = "tf-savedmodel"
LIGHTGBM = "lightgbm"
SKLEARN = "sklearn"

_LOOKED_FOR = (
    "saved_model.pb, *.onnx, *.xml with *.bin, *.bst, model.joblib/*.pkl, MLmodel, model-settings.json"
)


def detect_format(path: Path) -> str:
    """The format of one model version at ``path`` (a file or a directory)."""
    return resolve(path).format


def resolve(path: Path) -> Resolved:
    """The format and the exact file (or SavedModel dir) its runtime opens."""
    if not path.exists():
        raise UnknownModelFormat(f"{path}: no such file or directory")
    if path.is_file():
        return _file(path)
    if (path / "MLmodel").is_file():
        return read_mlmodel(path)
    if (path / "model-settings.json").is_file():
        return read_model_settings(path)[0]
    if (path / "saved_model.pb").is_file():
        return Resolved(TF_SAVEDMODEL, path)
    candidates: list[Resolved] = []
    for f in sorted(path.iterdir()):
        if f.is_file():
            try:
                candidates.append(_file(f))
            except UnknownModelFormat:
                continue
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        names = ", ".join(c.path.name for c in candidates)
        raise UnknownModelFormat(f"{path}: several models ({names}); keep one model per directory")
    found = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
    raise UnknownModelFormat(f"{path}: no model found (looked for {_LOOKED_FOR}); found: {found}")


def _file(path: Path) -> Resolved:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return Resolved(ONNX, path)
    if suffix == ".xml" and path.with_suffix(".bin").exists():
        return Resolved(OPENVINO_IR, path)
    if suffix in (".bst", ".lgb") or (suffix == ".txt" and _is_lightgbm_text(path)):
        return Resolved(LIGHTGBM, path)
    if suffix in (".joblib", ".pkl", ".pickle"):
        return Resolved(SKLEARN, path)
    raise UnknownModelFormat(
        f"{path}: not a model file aiedge knows "
        "(.onnx, .xml+.bin, .bst/.txt LightGBM, .joblib/.pkl scikit-learn)"
    )


def _is_lightgbm_text(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(5) == b"tree\n"


def is_format(path: Path, names: tuple[str, ...]) -> bool:
    """True when ``path`` holds a model in one of the formats ``names`` (never raises)."""
    try:
        return detect_format(path) in names
    except UnknownModelFormat:
        return False
