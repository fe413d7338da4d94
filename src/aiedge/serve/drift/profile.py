"""The drift profile: a per-feature histogram of a model's inputs and outputs, its file format
(``aiedge.drift-profile/v1``) and the drift score (PSI) of live data against it.

One model has one profile: built at ``aiedge build --reference-data`` time and stored in the image
beside the model (:data:`PROFILE_FILE`), or learned by ``aiedge serve`` from its first live
requests. It owns feature extraction (which numbers of a tensor are features, and their names),
the bins, reading and writing the file (hostile input: bounded size and counts, finite numbers),
and the score. The sliding window over live requests is :mod:`aiedge.serve.drift.monitor`.

**Features.** A tensor's first dimension is its rows (a 0-d tensor is one row). A tensor with up
to :data:`MAX_TENSOR_FEATURES` numbers per row gives one feature per number, named
``TENSOR[i]`` (``x[0]`` ... ``x[7]`` for the seed's housing model; a 1-d tensor is one feature,
``TENSOR``); a wider one (an image) gives four per row: ``TENSOR:mean``, ``:std``, ``:min``,
``:max``. Only numeric tensors are profiled.

**Bins.** ``B = clamp(rows // 5, 2, 10)`` value bins per feature, split at the reference's
quantiles ``1/B ... (B-1)/B`` (equal edges merged, so a feature with few distinct values has fewer
bins); a value equal to an edge falls in the upper bin; below the first edge is bin 0, above the
last the top bin. NaN and infinities count in a separate *missing* bin.

**Score (PSI).** With ``r_i`` the reference's and ``l_i`` the live window's share of rows in bin
``i`` (the missing bin included), each floored at ``1e-4``:
``PSI = sum_i (l_i - r_i) * ln(l_i / r_i)``. Common reading: under 0.1 no shift, 0.1-0.25 a
moderate one, over 0.25 a major one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from aiedge.serve.errors import ServeError
from aiedge.serve.runtimes.base import Array

FORMAT = "aiedge.drift-profile/v1"
PROFILE_FILE = "aiedge-drift-profile.json"
PROFILE_LABEL = "io.aiedge.model.drift-profile"
MAX_TENSOR_FEATURES = 64
MAX_FEATURES = 256  # per model, inputs and outputs together
MAX_BINS = 10
MAX_PROFILE_BYTES = 1 << 20
MAX_NAME = 128
FLOOR = 1e-4
INPUT, OUTPUT = "input", "output"
REFERENCE, LEARNED = "reference", "learned"
Floats = npt.NDArray[np.float64]


class ProfileInvalid(ServeError):
    """A drift profile file that is not a valid ``aiedge.drift-profile/v1`` document."""


@dataclass(frozen=True, slots=True)
class FeatureProfile:
    kind: str  # INPUT or OUTPUT
    tensor: str
    feature: str  # which numbers of the tensor: ``x[2]``, ``image:mean`` (see the module docstring)
    name: str  # what metrics and people call it: ``feature``, or a CSV header's column name
    edges: tuple[float, ...]  # inner bin edges, ascending
    counts: tuple[int, ...]  # len(edges) + 1 value bins
    missing: int  # NaN / infinite values

    @property
    def rows(self) -> int:
        return sum(self.counts) + self.missing

    def shares(self) -> Floats:
        """The reference's share of rows per bin, value bins then the missing bin, floored."""
        counts = np.array([*self.counts, self.missing], dtype=np.float64)
        return shares(counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tensor": self.tensor,
            "feature": self.feature,
            "name": self.name,
            "edges": list(self.edges),
            "counts": list(self.counts),
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class Profile:
    source: str  # REFERENCE (built from reference data) or LEARNED (from live requests)
    rows: int
    features: tuple[FeatureProfile, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source": self.source,
            "rows": self.rows,
            "bins": "quantiles of the reference, clamp(rows // 5, 2, 10) per feature; plus missing",
            "score": "psi",
            "features": [f.to_json() for f in self.features],
        }

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    def summary(self) -> dict[str, Any]:
        """What the image label says of it (the file itself is in the model layer)."""
        kinds = [f.kind for f in self.features]
        return {
            "format": FORMAT,
            "file": PROFILE_FILE,
            "rows": self.rows,
            "inputs": kinds.count(INPUT),
            "outputs": kinds.count(OUTPUT),
        }


def shares(counts: Floats) -> Floats:
    total = float(counts.sum())
    out = counts / total if total > 0 else np.full(counts.shape, 1.0 / max(1, counts.size))
    return np.maximum(out, FLOOR)


def psi(reference: Floats, live: Floats) -> float:
    """The population stability index of two share vectors (see the module docstring)."""
    return float(np.sum((live - reference) * np.log(live / reference)))


def bin_count(rows: int) -> int:
    return max(2, min(MAX_BINS, rows // 5))


def feature_columns(tensor: str, arr: Array, limit: int | None = None) -> Iterator[tuple[str, Floats]]:
    """``(feature name, float64 column)`` for each feature of ``arr`` (see the module docstring);
    nothing for a non-numeric tensor. ``limit`` keeps the first rows only."""
    if arr.dtype.kind not in "biuf":
        return
    values: Floats = np.asarray(arr, dtype=np.float64)
    if values.ndim == 0:
        values = values.reshape(1, 1)
        flat_name = False
    elif values.ndim == 1:
        values = values.reshape(-1, 1)
        flat_name = True
    else:
        values = values.reshape(values.shape[0], math.prod(values.shape[1:]))
        flat_name = False
    if limit is not None:
        values = values[:limit]
    width = values.shape[1]
    if width == 0 or values.shape[0] == 0:
        return
    if width <= MAX_TENSOR_FEATURES:
        if flat_name:
            yield tensor, values[:, 0]
            return
        for i in range(width):
            yield f"{tensor}[{i}]", values[:, i]
        return
    with np.errstate(invalid="ignore"):
        yield f"{tensor}:mean", values.mean(axis=1)
        yield f"{tensor}:std", values.std(axis=1)
        yield f"{tensor}:min", values.min(axis=1)
        yield f"{tensor}:max", values.max(axis=1)


def columns(
    inputs: Mapping[str, Array], outputs: Mapping[str, Array], limit: int | None = None
) -> Iterator[tuple[str, str, str, Floats]]:
    """``(kind, tensor, feature, column)`` of every input then output feature."""
    for kind, tensors in ((INPUT, inputs), (OUTPUT, outputs)):
        for tensor, arr in tensors.items():
            for name, col in feature_columns(tensor, arr, limit):
                yield kind, tensor, name, col


def bin_index(edges: Floats, values: Floats, missing_bin: int) -> npt.NDArray[np.intp]:
    """The bin of each value (``missing_bin`` for NaN and infinities)."""
    idx = np.searchsorted(edges, values, side="right")
    bad = ~np.isfinite(values)
    if bad.any():
        idx[bad] = missing_bin
    return idx


def feature_profile(
    kind: str, tensor: str, feature: str, name: str, values: Floats, bins: int
) -> FeatureProfile:
    """One feature's reference histogram from its values (edges at their quantiles)."""
    finite = values[np.isfinite(values)]
    if finite.size:
        qs = np.arange(1, bins) / bins
        edges: Floats = np.unique(np.quantile(finite, qs))
    else:
        edges = np.zeros(0, dtype=np.float64)
    idx = bin_index(edges, values, len(edges) + 1)
    counts = np.bincount(idx, minlength=len(edges) + 2)
    return FeatureProfile(
        kind,
        tensor,
        feature,
        name,
        tuple(float(e) for e in edges),
        tuple(int(c) for c in counts[:-1]),
        int(counts[-1]),
    )


def build_profile(
    inputs: Mapping[str, Array],
    outputs: Mapping[str, Array],
    source: str = REFERENCE,
    names: Mapping[str, str] | None = None,
) -> Profile:
    """The profile of rows of ``inputs`` and the model's ``outputs`` for them. ``names`` renames
    features (``x[2]`` -> ``housing_median_age``, from a CSV header)."""
    cols = list(columns(inputs, outputs))
    if not cols:
        raise ProfileInvalid("no numeric input or output to profile")
    rows = max(len(c[3]) for c in cols)
    if rows == 0:
        raise ProfileInvalid("no rows to profile")
    bins = bin_count(rows)
    features = tuple(
        feature_profile(kind, tensor, feature, (names or {}).get(feature, feature), col, bins)
        for kind, tensor, feature, col in cols[:MAX_FEATURES]
    )
    return Profile(source, rows, features)


def parse_profile(data: bytes, where: str = PROFILE_FILE) -> Profile:
    """A profile from its file; :class:`ProfileInvalid` naming ``where`` and the field."""
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileInvalid(
            f"{where}: {len(data)} bytes is more than a profile may be ({MAX_PROFILE_BYTES})"
        )
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ProfileInvalid(f"{where}: malformed JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProfileInvalid(f"{where}: format: expected {FORMAT!r}")
    source = doc.get("source", REFERENCE)
    if source not in (REFERENCE, LEARNED):
        raise ProfileInvalid(f"{where}: source: expected reference or learned")
    raw = doc.get("features")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_FEATURES:
        raise ProfileInvalid(f"{where}: features: expected a list of 1 to {MAX_FEATURES} features")
    features = tuple(_feature(f, f"{where}: features[{i}]") for i, f in enumerate(raw))
    if len({(f.kind, f.feature) for f in features}) != len(features) or len(
        {(f.kind, f.name) for f in features}
    ) != len(features):
        raise ProfileInvalid(f"{where}: features: a feature is listed twice")
    rows = doc.get("rows")
    if type(rows) is not int or rows < 1:
        raise ProfileInvalid(f"{where}: rows: expected a positive integer")
    return Profile(source, rows, features)


def _feature(f: Any, where: str) -> FeatureProfile:
    if not isinstance(f, dict):
        raise ProfileInvalid(f"{where}: expected an object")
    kind, tensor, feature = f.get("kind"), f.get("tensor"), f.get("feature")
    name = f.get("name", feature)
    if kind not in (INPUT, OUTPUT):
        raise ProfileInvalid(f"{where}.kind: expected input or output")
    for field, value in (("tensor", tensor), ("feature", feature), ("name", name)):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME or not value.isprintable():
            raise ProfileInvalid(f"{where}.{field}: expected a printable name of 1 to {MAX_NAME} characters")
    edges, counts, missing = f.get("edges"), f.get("counts"), f.get("missing", 0)
    if not isinstance(edges, list) or len(edges) > MAX_BINS - 1:
        raise ProfileInvalid(f"{where}.edges: expected a list of at most {MAX_BINS - 1} numbers")
    if not all(type(e) in (int, float) and math.isfinite(e) for e in edges):
        raise ProfileInvalid(f"{where}.edges: expected finite numbers")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ProfileInvalid(f"{where}.edges: expected ascending numbers")
    if not isinstance(counts, list) or len(counts) != len(edges) + 1:
        raise ProfileInvalid(f"{where}.counts: expected {len(edges) + 1} counts (one more than edges)")
    if not all(type(c) is int and c >= 0 for c in [*counts, missing]):
        raise ProfileInvalid(f"{where}.counts: expected non-negative integers")
    if sum(counts) + missing == 0:
        raise ProfileInvalid(f"{where}.counts: all zero")
    return FeatureProfile(
        str(kind),
        str(tensor),
        str(feature),
        str(name),
        tuple(float(e) for e in edges),
        tuple(counts),
        missing,
    )
