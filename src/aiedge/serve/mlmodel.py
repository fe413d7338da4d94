"""Reading model descriptors that point at the real model file: MLflow's ``MLmodel`` (flavours
sklearn, lightgbm, onnx, tensorflow; its signature) and MLServer's ``model-settings.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from aiedge.serve.errors import UnknownModelFormat


@dataclass(frozen=True)
class Resolved:
    format: str  # onnx, tf-savedmodel, lightgbm, sklearn
    path: Path
    columns: tuple[str, ...] = ()


def read_mlmodel(model_dir: Path) -> Resolved:
    file = model_dir / "MLmodel"
    try:
        doc: Any = YAML(typ="safe").load(file.read_text())
    except (OSError, YAMLError) as e:
        raise UnknownModelFormat(f"{file}: cannot read it: {e}") from e
    flavors = (doc or {}).get("flavors") or {}
    columns = _signature_columns(doc.get("signature") or {})
    if "onnx" in flavors:
        return Resolved("onnx", model_dir / flavors["onnx"].get("data", "model.onnx"), columns)
    if "lightgbm" in flavors:
        return Resolved("lightgbm", model_dir / flavors["lightgbm"].get("data", "model.lgb"), columns)
    if "sklearn" in flavors:
        return Resolved("sklearn", model_dir / flavors["sklearn"].get("pickled_model", "model.pkl"), columns)
    if "tensorflow" in flavors:
        return Resolved(
            "tf-savedmodel", model_dir / flavors["tensorflow"].get("saved_model_dir", "tfmodel"), columns
        )
    raise UnknownModelFormat(
        f"{file}: no flavour aiedge serves (has {', '.join(flavors) or 'none'}; "
        "serves sklearn, lightgbm, onnx, tensorflow)"
    )


def _signature_columns(signature: dict[str, Any]) -> tuple[str, ...]:
    raw = signature.get("inputs")
    try:
        specs = json.loads(raw) if isinstance(raw, str) else []
    except json.JSONDecodeError:
        return ()
    names = [s.get("name") for s in specs if isinstance(s, dict) and s.get("type") != "tensor"]
    return tuple(n for n in names if isinstance(n, str))


def read_model_settings(model_dir: Path) -> tuple[Resolved, str | None]:
    """(the model, its version from ``parameters.version``) of an MLServer model directory."""
    file = model_dir / "model-settings.json"
    try:
        doc = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UnknownModelFormat(f"{file}: cannot read it: {e}") from e
    params = doc.get("parameters") or {}
    uri = params.get("uri")
    impl = str(doc.get("implementation", ""))
    if not isinstance(uri, str):
        raise UnknownModelFormat(f"{file}: parameters.uri is missing; it names the model file")
    target = (model_dir / uri).resolve()
    if "lightgbm" in impl:
        fmt = "lightgbm"
    elif "sklearn" in impl:
        fmt = "sklearn"
    elif target.suffix == ".onnx":
        fmt = "onnx"
    else:
        raise UnknownModelFormat(
            f"{file}: implementation {impl!r} is not one aiedge serves (lightgbm, sklearn)"
        )
    version = params.get("version")
    return Resolved(fmt, target), version if isinstance(version, str) else None
