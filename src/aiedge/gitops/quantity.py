"""Kubernetes-style quantities of bytes in GitOps documents (``memoryAtLeast: 4Gi``): a number with
a binary (Ki, Mi, Gi, Ti, Pi) or decimal (k, M, G, T, P) suffix, or plain bytes."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "Pi": 1 << 50,
}
_QUANTITY = re.compile(r"^([0-9]{1,15}(?:\.[0-9]{1,6})?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
MAX_BYTES = 1 << 60


def parse_bytes(value: object) -> int:
    """Bytes of ``4Gi``, ``512Mi``, ``2G`` or ``1073741824``; ValueError saying what is accepted."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 4Gi, 512Mi or 2G")
    if isinstance(value, int):
        if not 0 <= value <= MAX_BYTES:
            raise ValueError(f"{value} is not a size in bytes")
        return value
    m = _QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{value!r} is not a size: expected e.g. 4Gi, 512Mi, 2G or plain bytes")
    number, unit = m.group(1), m.group(2) or ""
    whole, _, frac = number.partition(".")
    scale = _UNITS[unit]
    size = int(whole) * scale + (int(frac) * scale) // 10 ** len(frac) if frac else int(whole) * scale
    if size > MAX_BYTES:
        raise ValueError(f"{value!r} is larger than any machine")
    return size


def format_bytes(size: int) -> str:
    """The shortest exact binary form: 4294967296 -> 4Gi."""
    for unit in ("Pi", "Ti", "Gi", "Mi", "Ki"):
        if size and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)
