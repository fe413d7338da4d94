"""Numeric comparison of JSON answers with relative and absolute tolerance.

Numbers match when ``|actual - expected| <= atol + rtol * |expected|`` (numpy's ``isclose``);
everything else must be equal. Keys the answer has beyond the expected ones are ignored (servers
add ``model_version``, ``id``...); missing keys, other lengths and other types are differences.

``exact`` is the seed pipeline's comparison: the answer must be the expected JSON document itself,
no tolerance, no extra keys, and ``331`` is not ``331.0``.
"""

from __future__ import annotations

import math
from typing import Any

MAX_LINES = 20


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _walk(
    expected: Any, actual: Any, where: str, rtol: float, atol: float, out: list[str], exact: bool = False
) -> None:
    if exact and _is_number(expected) and _is_number(actual) and type(expected) is not type(actual):
        out.append(f"{where}: expected {expected!r}, got {actual!r} (exact: another number type)")
        return
    if _is_number(expected) and _is_number(actual):
        e, a = float(expected), float(actual)
        if math.isnan(e) and math.isnan(a):
            return
        allowed = atol + rtol * abs(e)
        if not abs(a - e) <= allowed:
            out.append(
                f"{where}: expected {expected!r}, got {actual!r} "
                f"(off by {abs(a - e):.3g}, allowed {allowed:.3g})"
            )
        return
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                out.append(f"{where}.{key}: missing from the answer")
            else:
                _walk(expected[key], actual[key], f"{where}.{key}", rtol, atol, out, exact)
        if exact:
            out.extend(
                f"{where}.{key}: not in the expected response (exact)"
                for key in actual
                if key not in expected
            )
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"{where}: expected {len(expected)} items, got {len(actual)}")
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _walk(e, a, f"{where}[{i}]", rtol, atol, out, exact)
        return
    if type(expected) is not type(actual) or expected != actual:
        out.append(f"{where}: expected {_short(expected)}, got {_short(actual)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(expected: Any, actual: Any, *, rtol: float, atol: float, exact: bool = False) -> list[str]:
    """Differences as readable lines (``$.predictions[0]: expected -28.7639923, got -28.88 (...)``);
    empty when the answers match."""
    out: list[str] = []
    if exact:
        rtol = atol = 0.0
    _walk(expected, actual, "$", rtol, atol, out, exact)
    if len(out) > MAX_LINES:
        out = [*out[:MAX_LINES], f"... and {len(out) - MAX_LINES} more differences"]
    return out
