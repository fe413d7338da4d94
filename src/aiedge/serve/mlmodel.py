"""Reading model descriptors that point at the real model file: MLflow's ``MLmodel`` (flavours
sklearn, lightgbm, onnx, tensorflow, and python_function alone: the folder itself; its
signature) and MLServer's ``model-settings.json``; and
writing the MLmodel of a scikit-learn model exported to ONNX (``aiedge build``), which reads back
as format ``sklearn-onnx``. Paths a descriptor names must stay inside its folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from aiedge.serve.errors import UnknownModelFormat

SKLEARN_ONNX = "sklearn-onnx"  # a scikit-learn estimator exported to ONNX: served without unpickling
PYFUNC = "mlflow-pyfunc"  # MLflow's python_function flavour alone: code, run in its own environment
MLMODEL_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Resolved:
    format: str  # onnx, tf-savedmodel, lightgbm, sklearn, sklearn-onnx, mlflow-pyfunc
    path: Path
    columns: tuple[str, ...] = ()


def _inside(model_dir: Path, name: Any, file: Path, field: str) -> Path:
    """``model_dir/name``, refused when ``name`` leads out of the model's folder (``../``, an
    absolute path, a link to elsewhere)."""
    if not isinstance(name, str) or not name:
        raise UnknownModelFormat(f"{file}: {field} must name a file in {model_dir}")
    target = (model_dir / name).resolve()
    if not target.is_relative_to(model_dir.resolve()):
        raise UnknownModelFormat(f"{file}: {field} {name!r} leads out of the model folder {model_dir}")
    return target


def read_mlmodel(model_dir: Path) -> Resolved:
    file = model_dir / "MLmodel"
    try:
        if file.stat().st_size > MLMODEL_MAX_BYTES:
            raise UnknownModelFormat(f"{file}: larger than {MLMODEL_MAX_BYTES} bytes; not an MLmodel")
        doc: Any = YAML(typ="safe").load(file.read_text())
    except (OSError, YAMLError) as e:
        raise UnknownModelFormat(f"{file}: cannot read it: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors") or {}, dict):
        raise UnknownModelFormat(f"{file}: not an MLmodel (no flavors mapping)")
    flavors = doc.get("flavors") or {}
    columns = _signature_columns(doc.get("signature") or {})

    def flavour(name: str, key: str, default: str) -> Path:
        section = flavors[name] if isinstance(flavors[name], dict) else {}
        return _inside(model_dir, section.get(key, default), file, f"flavors.{name}.{key}")

    if "onnx" in flavors:
        metadata = doc.get("metadata")
        aiedge = metadata.get("aiedge") if isinstance(metadata, dict) else None
        exported = isinstance(aiedge, dict) and aiedge.get("converted_from") == "sklearn"
        return Resolved(SKLEARN_ONNX if exported else "onnx", flavour("onnx", "data", "model.onnx"), columns)
    if "lightgbm" in flavors:
        return Resolved("lightgbm", flavour("lightgbm", "data", "model.lgb"), columns)
    if "sklearn" in flavors:
        return Resolved("sklearn", flavour("sklearn", "pickled_model", "model.pkl"), columns)
    if "tensorflow" in flavors:
        return Resolved("tf-savedmodel", flavour("tensorflow", "saved_model_dir", "tfmodel"), columns)
    if "python_function" in flavors:
        return Resolved(PYFUNC, model_dir, columns)
    raise UnknownModelFormat(
        f"{file}: no flavour aiedge serves (has {', '.join(map(str, flavors)) or 'none'}; "
        "serves sklearn, lightgbm, onnx, tensorflow)"
    )


def _signature_columns(signature: Any) -> tuple[str, ...]:
    raw = signature.get("inputs") if isinstance(signature, dict) else None
    try:
        specs = json.loads(raw) if isinstance(raw, str) else []
    except json.JSONDecodeError:
        return ()
    if not isinstance(specs, list):
        return ()
    names = [s.get("name") for s in specs if isinstance(s, dict) and s.get("type") != "tensor"]
    return tuple(n for n in names if isinstance(n, str))


def write_converted(dest: Path, onnx_bytes: bytes, record: dict[str, Any], columns: tuple[str, ...]) -> None:
    """An MLflow model directory with the ``onnx`` flavour: ``model.onnx`` and an ``MLmodel``
    whose ``metadata.aiedge`` says where it came from and how it was checked."""
    dest.mkdir(parents=True)
    (dest / "model.onnx").write_bytes(onnx_bytes)
    doc: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": {"onnx": {"data": "model.onnx", "providers": ["CPUExecutionProvider"]}},
        "metadata": {"aiedge": record},
    }
    if columns:
        inputs = [{"type": "double", "name": c, "required": True} for c in columns]
        doc["signature"] = {"inputs": json.dumps(inputs)}
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with (dest / "MLmodel").open("w") as f:
        yaml.dump(doc, f)


def read_model_settings(model_dir: Path) -> tuple[Resolved, str | None]:
    """(the model, its version from ``parameters.version``) of an MLServer model directory."""
    file = model_dir / "model-settings.json"
    try:
        doc = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UnknownModelFormat(f"{file}: cannot read it: {e}") from e
    if not isinstance(doc, dict):
        raise UnknownModelFormat(f"{file}: not a model-settings document (a JSON object)")
    params = doc.get("parameters") or {}
    uri = params.get("uri") if isinstance(params, dict) else None
    impl = str(doc.get("implementation", ""))
    if not isinstance(uri, str):
        raise UnknownModelFormat(f"{file}: parameters.uri is missing; it names the model file")
    target = _inside(model_dir, uri, file, "parameters.uri")
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
    version = params.get("version") if isinstance(params, dict) else None
    return Resolved(fmt, target), version if isinstance(version, str) else None
