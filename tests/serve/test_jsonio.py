"""Output tensors as JSON, in-process: float32 values at 9 significant digits exactly as
``float(f"{v:.9g}")`` gives them, whether written one by one (small outputs) or by the
vectorised path for large ones (``round9``), on random bit patterns and around rounding ties,
powers of ten, zeros, infinities and NaN; large outputs stay numpy arrays for orjson."""

from __future__ import annotations

import numpy as np
import orjson

from aiedge.serve.rest.jsonio import DUMPS, SMALL, round9, to_json_value


def _reference(x: np.ndarray) -> np.ndarray:
    flat = [float(f"{v:.9g}") for v in x.astype(np.float64).ravel().tolist()]
    return np.array(flat, dtype=np.float64).reshape(x.shape)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(((a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))).all())


def test_round9_is_the_nine_digit_repr_of_every_float32() -> None:
    rng = np.random.default_rng(20261201)
    with np.errstate(invalid="ignore"):
        bits = rng.integers(0, 2**32, size=2_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
        assert _same(round9(bits), _reference(bits))
    for scale in (1e-30, 1e-6, 1e-3, 1.0, 1e3, 1e6, 1e9, 1e20):
        x = (rng.standard_normal(200_000) * scale).astype(np.float32)
        assert _same(round9(x), _reference(x)), scale
    # a tie at the ninth digit (1000000.125), rounding up to a power of ten, the extremes
    edges = np.array(
        [1000000.125, 999999999.7, 1e9, 1e-4, 9.99999975e-05, 0.0, -0.0, 1.0, 0.1, 3.4028235e38, 1e-45],
        dtype=np.float32,
    )
    edges = np.concatenate([edges, -edges, np.array([np.inf, -np.inf, np.nan], dtype=np.float32)])
    assert _same(round9(edges), _reference(edges))


def test_small_and_large_outputs_write_the_same_json() -> None:
    rng = np.random.default_rng(7)
    for shape in [(), (3,), (2, 3), (SMALL + 1,), (40, 30), (5, 6, 70), (0,), (2, 0)]:
        x = (rng.standard_normal(int(np.prod(shape))) * 1000).astype(np.float32).reshape(shape)
        want = orjson.dumps(_reference(x).tolist())
        assert orjson.dumps(to_json_value(x), option=DUMPS) == want, shape
    ints = np.arange(1000, dtype=np.int64).reshape(10, 100)
    assert isinstance(to_json_value(ints), np.ndarray)
    assert orjson.dumps(to_json_value(ints), option=DUMPS) == orjson.dumps(ints.tolist())
