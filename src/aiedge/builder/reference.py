"""``aiedge build --reference-data FILE``: the model's drift profile from reference rows.

Reads rows of the model's one input from a CSV (a first line that is not all numbers names the
columns), an NPY array (``[N, F]`` or the input's own shape, no pickles) or JSON (a list of rows,
or an object whose ``data``, ``instances`` or ``inputs`` is one; a row is a list of numbers or an
object of column name -> number; ``null`` is missing). Runs the model on them once to get its
outputs, and profiles both (:mod:`aiedge.serve.drift.profile`). The profile goes into the image
as :data:`~aiedge.serve.drift.profile.PROFILE_FILE` beside the model, described by the image
label :data:`~aiedge.serve.drift.profile.PROFILE_LABEL`.

Bounded: the file at most 256 MiB, at most 100,000 rows and 10,000 columns; every cell must be a
finite number or missing.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aiedge.builder.errors import BuildError
from aiedge.errors import AiedgeError
from aiedge.serve.drift.profile import PROFILE_FILE, PROFILE_LABEL, Profile, ProfileInvalid, build_profile
from aiedge.serve.loader import load_model
from aiedge.serve.runtimes.base import V2_TO_NUMPY, Array, LoadedModel, TensorSpec

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 10_000
_PREDICT_ROWS = 1024  # rows per predict call
_ROW_KEYS = ("data", "instances", "inputs")


class ReferenceDataInvalid(BuildError):
    """The ``--reference-data`` file cannot be read as rows of the model's input."""


def read_rows(path: Path) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[str] | None]:
    """The file's rows as a float64 array (NaN for missing) and its column names, when it has any."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ReferenceDataInvalid(f"--reference-data {path}: {e.strerror or e}") from e
    if not path.is_file():
        raise ReferenceDataInvalid(f"--reference-data {path}: not a file")
    if size > MAX_FILE_BYTES:
        raise ReferenceDataInvalid(f"--reference-data {path}: {size} bytes is more than {MAX_FILE_BYTES}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy(path), None
    text = path.read_bytes()
    if suffix == ".csv":
        return _csv(path, text)
    if suffix in (".json", ".jsonl"):
        return _json(path, text)
    raise ReferenceDataInvalid(f"--reference-data {path}: want a .csv, .npy or .json file")


def _npy(path: Path) -> np.ndarray[Any, np.dtype[np.float64]]:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as e:
        raise ReferenceDataInvalid(f"--reference-data {path}: not an NPY array without objects: {e}") from e
    except OSError as e:
        raise ReferenceDataInvalid(f"--reference-data {path}: {e}") from e
    if arr.dtype.kind not in "biuf":
        raise ReferenceDataInvalid(f"--reference-data {path}: dtype {arr.dtype} is not numeric")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise ReferenceDataInvalid(f"--reference-data {path}: want rows, got shape {list(arr.shape)}")
    out = np.asarray(arr[:MAX_ROWS], dtype=np.float64).reshape(min(arr.shape[0], MAX_ROWS), -1)
    if out.shape[1] > MAX_COLUMNS:
        raise ReferenceDataInvalid(f"--reference-data {path}: {out.shape[1]} columns, at most {MAX_COLUMNS}")
    return out


def _cell(value: str, where: str) -> float:
    text = value.strip()
    if text == "" or text.lower() in ("na", "nan", "null", "none"):
        return math.nan
    try:
        number = float(text)
    except ValueError:
        raise ReferenceDataInvalid(f"{where}: {text[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise ReferenceDataInvalid(f"{where}: {text[:40]!r} is not a finite number")
    return number


def _csv(path: Path, data: bytes) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[str] | None]:
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
        lines = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error) as e:
        raise ReferenceDataInvalid(f"--reference-data {path}: not a CSV file: {e}") from e
    if not lines:
        raise ReferenceDataInvalid(f"--reference-data {path}: no rows")
    names: list[str] | None = None
    first = lines[0]
    if not all(_numeric(c) for c in first):
        names, lines = [c.strip() for c in first], lines[1:]
    rows: list[list[float]] = []
    width = len(names) if names else len(first)
    for n, line in enumerate(lines[:MAX_ROWS], start=2 if names else 1):
        if len(line) != width:
            raise ReferenceDataInvalid(f"{path}:{n}: {len(line)} columns, the first line has {width}")
        rows.append([_cell(c, f"{path}:{n}:{i + 1}") for i, c in enumerate(line)])
    return _matrix(path, rows), names


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell.strip().lower() in ("", "na", "nan", "null", "none")
    return True


def _json(path: Path, data: bytes) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[str] | None]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ReferenceDataInvalid(f"--reference-data {path}: malformed JSON: {e}") from e
    if isinstance(doc, dict):
        key = next((k for k in _ROW_KEYS if k in doc), None)
        if key is None:
            raise ReferenceDataInvalid(
                f"--reference-data {path}: want a list of rows, or an object with one of "
                f"{', '.join(_ROW_KEYS)}"
            )
        doc = doc[key]
    if not isinstance(doc, list) or not doc:
        raise ReferenceDataInvalid(f"--reference-data {path}: want a non-empty list of rows")
    doc = doc[:MAX_ROWS]
    names: list[str] | None = None
    if isinstance(doc[0], dict):
        names = [str(k) for k in doc[0]]
    rows: list[list[float]] = []
    for i, row in enumerate(doc):
        where = f"{path}: row {i}"
        if names is not None:
            if not isinstance(row, dict) or set(row) != set(names):
                raise ReferenceDataInvalid(f"{where}: want an object with the first row's keys")
            row = [row[k] for k in names]
        elif isinstance(row, int | float) and not isinstance(row, bool):
            row = [row]
        if not isinstance(row, list):
            raise ReferenceDataInvalid(f"{where}: want a list of numbers")
        row = _flatten(row, where)
        rows.append(row)
    return _matrix(path, rows), names


def _flatten(row: list[Any], where: str) -> list[float]:
    out: list[float] = []
    stack = [row]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif item is None:
            out.append(math.nan)
        elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
            out.append(float(item))
        else:
            raise ReferenceDataInvalid(f"{where}: {json.dumps(item)[:40]} is not a finite number or null")
        if len(out) > MAX_COLUMNS:
            raise ReferenceDataInvalid(f"{where}: more than {MAX_COLUMNS} numbers")
    return out


def _matrix(path: Path, rows: list[list[float]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    if not rows:
        raise ReferenceDataInvalid(f"--reference-data {path}: no rows")
    width = len(rows[0])
    if width > MAX_COLUMNS:
        raise ReferenceDataInvalid(f"--reference-data {path}: {width} columns, at most {MAX_COLUMNS}")
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ReferenceDataInvalid(
                f"--reference-data {path}: row {i} has {len(r)} numbers, row 0 {width}"
            )
    return np.array(rows, dtype=np.float64)


def _as_input(rows: np.ndarray[Any, np.dtype[np.float64]], spec: TensorSpec, path: Path) -> Array:
    """The rows shaped and typed as the model's input ``spec`` (``[N, ...]``)."""
    dtype = V2_TO_NUMPY.get(spec.datatype)
    if dtype is None or dtype.kind not in "biuf":
        raise ReferenceDataInvalid(
            f"--reference-data: the model's input {spec.name} is {spec.datatype}, not numeric"
        )
    inner = list(spec.shape[1:])
    per_row = rows.shape[1]
    if all(d > 0 for d in inner) and math.prod(inner) != per_row:
        raise ReferenceDataInvalid(
            f"--reference-data {path}: {per_row} numbers per row; the model's input {spec.name} "
            f"{list(spec.shape)} takes {math.prod(inner)}"
        )
    shape = [rows.shape[0], *(d if d > 0 else per_row for d in inner)] if inner else [rows.shape[0]]
    if math.prod(shape) != rows.size:
        raise ReferenceDataInvalid(
            f"--reference-data {path}: rows of {per_row} do not fit the model's input {spec.name} "
            f"{list(spec.shape)}"
        )
    if dtype.kind in "biu" and np.isnan(rows).any():
        raise ReferenceDataInvalid(
            f"--reference-data {path}: missing values in an integer input ({spec.name})"
        )
    return rows.reshape(shape).astype(dtype)


def _predict(model: LoadedModel, spec: TensorSpec, arr: Array) -> dict[str, Array]:
    """The model's outputs for every row; in chunks, or row by row when its batch is fixed."""
    step = 1 if spec.shape and spec.shape[0] == 1 else _PREDICT_ROWS
    parts: list[dict[str, Array]] = []
    for start in range(0, arr.shape[0], step):
        parts.append(model.predict({spec.name: arr[start : start + step]}))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def reference_profile(model_dir: Path, data: Path) -> Profile:
    """The drift profile of ``model_dir`` (one version) over the rows of ``data``."""
    rows, names = read_rows(data)
    try:
        model = load_model(model_dir, precision="f32")
    except AiedgeError as e:
        raise BuildError(f"--reference-data: {model_dir}: {e}") from e
    try:
        sig = model.signature
        if len(sig.inputs) != 1:
            raise ReferenceDataInvalid(
                f"--reference-data: the model has {len(sig.inputs)} inputs; reference rows fill one"
            )
        spec = sig.inputs[0]
        arr = _as_input(rows, spec, data)
        try:
            outputs = _predict(model, spec, arr)
        except AiedgeError:
            raise
        except Exception as e:  # the runtime's own error type
            raise ReferenceDataInvalid(f"--reference-data {data}: the model refused the rows: {e}") from e
        renames = None
        if names is not None:
            if len(names) != rows.shape[1] or len(set(names)) != len(names):
                names = None
            else:
                renames = {f"{spec.name}[{i}]": n[:128] for i, n in enumerate(names) if n.isprintable()}
        try:
            return build_profile({spec.name: arr}, outputs, names=renames)
        except ProfileInvalid as e:
            raise ReferenceDataInvalid(f"--reference-data {data}: {e}") from e
    finally:
        model.close()


@dataclass(frozen=True)
class ImageProfile:
    """The profile as the image carries it: a file for the model folder and a label."""

    file: tuple[str, Path]  # (path in the model folder, file on disk)
    labels: dict[str, str]
    summary: str  # for the build's progress


def profile_for_image(model_dir: Path, data: Path, workdir: Path) -> ImageProfile:
    profile = reference_profile(model_dir, data)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / PROFILE_FILE
    path.write_bytes(profile.dumps())
    about = profile.summary()
    return ImageProfile(
        (PROFILE_FILE, path),
        {PROFILE_LABEL: json.dumps(about, sort_keys=True, separators=(",", ":"))},
        f"drift profile from {profile.rows} reference rows: {about['inputs']} input and "
        f"{about['outputs']} output feature(s), {path.stat().st_size} bytes",
    )
