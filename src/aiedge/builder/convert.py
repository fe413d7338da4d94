"""Pickled models at build time: refused unless ``--allow-pickle``, and then unpickled once,
here, to be exported to ONNX and checked against the estimator on sample rows. The image carries
the export (``MLmodel`` + ``model.onnx``, the check's record in both and in the image labels) and
no pickle, so no site ever runs the pickle's code. A model that cannot be exported is refused:
sites do not unpickle."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiedge.builder.errors import ModelInvalid
from aiedge.builder.inspect import version_dir
from aiedge.errors import AiedgeError
from aiedge.extras import install_hint
from aiedge.serve import formats
from aiedge.serve.mlmodel import Resolved
from aiedge.serve.runtimes.base import LoadOptions

CONVERTED_LABEL = "io.aiedge.model.converted-from"
CONVERSION_LABEL = "io.aiedge.model.conversion"


@dataclass(frozen=True)
class Export:
    path: Path  # the exported model, to pack in place of the source
    records: dict[str, dict[str, Any]]  # version folder ("" when unversioned) -> the check's record

    def labels(self) -> dict[str, str]:
        record = self.records.get("") or self.records[max(self.records, key=int)]
        return {CONVERTED_LABEL: "sklearn", CONVERSION_LABEL: json.dumps(record, sort_keys=True)}

    def summary(self) -> str:
        worst = max(r["check"]["max_abs_diff"] for r in self.records.values())
        rows = next(iter(self.records.values()))["check"]["rows"]
        return (
            f"exported the scikit-learn model to ONNX, checked on {rows} rows (largest difference "
            f"{worst:.2g}); the image holds no pickle"
        )


def _pickle_of(path: Path) -> Resolved | None:
    try:
        resolved = formats.resolve(path)
    except AiedgeError:
        return None  # not a model: inspect says why
    return resolved if resolved.format == formats.SKLEARN else None  # pyfunc: builder/pyfunc.py


def export_pickles(path: Path, dest: Path, *, allow_pickle: bool) -> Export | None:
    """None when the model at ``path`` is no pickle; else its ONNX export in ``dest`` (every
    version folder exported, other versions copied as they are)."""
    from aiedge.serve.runtimes.sklearn import export_onnx

    versioned = version_dir(path) != path
    versions = sorted(c for c in path.iterdir() if c.is_dir()) if versioned else [path]
    pickles = {v: _pickle_of(v) for v in versions}
    if not any(pickles.values()):
        return None
    first = next(r for r in pickles.values() if r is not None)
    if not allow_pickle:
        raise ModelInvalid(
            f"{first.path}: a pickled scikit-learn model; loading a pickle runs any code it holds, so "
            "it is refused. Give --allow-pickle if you trust it: the build unpickles it once, exports "
            "it to ONNX and checks the export, and the image holds the ONNX model alone, so sites "
            "never unpickle"
        )
    records: dict[str, dict[str, Any]] = {}
    options = LoadOptions(allow_pickle=True)
    for version, resolved in pickles.items():
        target = dest / version.name if versioned else dest
        if resolved is None:
            shutil.copytree(version, target)
            continue
        try:
            records[version.name if versioned else ""] = export_onnx(
                resolved.path, target, resolved.columns, options
            )
        except ModuleNotFoundError as e:
            raise ModelInvalid(f"model {resolved.path} is a scikit-learn model: {install_hint(e)}") from None
        except AiedgeError as e:
            raise ModelInvalid(
                f"{path}: {e}; sites serve only the ONNX export of a scikit-learn model, never the pickle"
            ) from e
    return Export(dest, records)
