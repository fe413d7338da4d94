"""Model format detection: what kind of model is at a path, decided from its files alone."""

from __future__ import annotations

from pathlib import Path

from aiedge.serve.errors import UnknownModelFormat

ONNX = "onnx"
OPENVINO_IR = "openvino-ir"
TF_SAVEDMODEL = "tf-savedmodel"


def detect_format(path: Path) -> str:
    """The format of one model version at ``path`` (a file or a directory)."""
    if not path.exists():
        raise UnknownModelFormat(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix == ".onnx":
            return ONNX
        if path.suffix == ".xml" and path.with_suffix(".bin").exists():
            return OPENVINO_IR
        raise UnknownModelFormat(
            f"{path}: not a model file aiedge knows (expected .onnx, or .xml with its .bin)"
        )
    if (path / "saved_model.pb").is_file():
        return TF_SAVEDMODEL
    onnx_files = sorted(path.glob("*.onnx"))
    if len(onnx_files) == 1:
        return ONNX
    if len(onnx_files) > 1:
        names = ", ".join(f.name for f in onnx_files)
        raise UnknownModelFormat(f"{path}: several .onnx files ({names}); keep one model per directory")
    if [x for x in path.glob("*.xml") if x.with_suffix(".bin").exists()]:
        return OPENVINO_IR
    found = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
    raise UnknownModelFormat(
        f"{path}: no model found (looked for saved_model.pb, *.onnx, *.xml with *.bin); found: {found}"
    )


def model_file(path: Path, fmt: str) -> Path:
    """The file a runtime opens for a model directory of format ``fmt`` (the dir itself for SavedModel)."""
    if path.is_file() or fmt == TF_SAVEDMODEL:
        return path
    if fmt == ONNX:
        return sorted(path.glob("*.onnx"))[0]
    return sorted(x for x in path.glob("*.xml") if x.with_suffix(".bin").exists())[0]
