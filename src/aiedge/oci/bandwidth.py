"""Download bandwidth: parsing a rate a person writes (``2MiB/s``, ``500KB/s``, ``10Mbit/s``) and
the token bucket that every blob download of one process shares, so a site on a thin link gets
one limit for all its downloads together, not one per blob.

Owns no clients and no clock of its own beyond ``asyncio``'s loop time; whoever makes the bucket
(the agent's entry point) hands the same one to every registry client.
"""

from __future__ import annotations

import asyncio
import re

# unit (lowercase) -> bytes per unit; bits are written out (``bit``, ``bps``) so ``Mb`` is never
# guessed: it is refused as ambiguous
_UNITS: dict[str, float] = {
    "": 1,
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "bit": 1 / 8,
    "kbit": 1e3 / 8,
    "mbit": 1e6 / 8,
    "gbit": 1e9 / 8,
    "bps": 1 / 8,
    "kbps": 1e3 / 8,
    "mbps": 1e6 / 8,
    "gbps": 1e9 / 8,
}
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*(/\s*s(?:ec)?)?\s*$")
_EXAMPLES = "e.g. 2MiB/s, 500KB/s or 10Mbit/s"


def parse_rate(text: str) -> float:
    """Bytes per second from ``NUMBER[UNIT][/s]``. Units: B, KB, MB, GB (powers of 1000), KiB,
    MiB, GiB (powers of 1024), bit, kbit, Mbit, Gbit and kbps, Mbps, Gbps (bits); case does not
    matter, except where it decides bits or bytes: ``kb``, ``Mb``, ``Gb`` (lowercase ``b``) and
    ``MBps`` (uppercase ``B``) are refused as ambiguous. Raises ValueError."""
    m = _RATE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a rate ({_EXAMPLES})")
    number, unit, _per_second = m.groups()
    low = unit.lower()
    if (unit.endswith("b") and low in ("b", "kb", "mb", "gb")) or (
        low in ("bps", "kbps", "mbps", "gbps") and not unit.endswith("bps")  # MBps: bytes or bits?
    ):
        prefix = {"": "", "k": "k", "m": "M", "g": "G"}[low.removesuffix("ps")[:-1]]
        raise ValueError(
            f"{text!r}: {unit!r} is ambiguous; write {prefix}B/s for bytes or {prefix}bit/s for bits"
        )
    per_unit = _UNITS.get(low)
    if per_unit is None:
        raise ValueError(f"{text!r}: unknown unit {unit!r} ({_EXAMPLES})")
    rate = float(number) * per_unit
    if rate < 1:
        raise ValueError(f"{text!r}: must be at least 1 byte per second")
    return rate


_BUDGET = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*(/\s*d(?:ay)?)?\s*$")
_BYTE_UNITS = ("", "b", "kb", "mb", "gb", "kib", "mib", "gib")


def parse_budget(text: str) -> int:
    """Bytes a day from ``NUMBER[UNIT][/day]`` (a link budget: ``20MB/day``), bytes units only
    (B, KB, MB, GB, KiB, MiB, GiB; any case). Raises ValueError."""
    m = _BUDGET.match(text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _BYTE_UNITS:
        raise ValueError(f"{text!r} is not a budget (e.g. 20MB/day, 500KiB/day)")
    budget = int(float(m.group(1)) * _UNITS[unit])
    if not 1 <= budget <= 2**50:
        raise ValueError(f"{text!r}: must be 1 byte to 1 PiB a day")
    return budget


def format_rate(rate: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if rate >= size:
            return f"{rate / size:.3g}{unit}/s"
    return f"{rate:.0f}B/s"


class TokenBucket:
    """``rate`` bytes per second over every caller together, with bursts up to ``burst`` bytes.

    A caller takes the bytes it has just read and sleeps off any debt, so a read larger than the
    burst is allowed but paid for before the next one. The bucket starts empty: from its first
    byte, N bytes through it take at least N / rate seconds."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(rate / 4, 64 << 10)
        self._tokens = 0.0
        self._last: float | None = None

    def chunk_size(self, largest: int) -> int:
        """A read size that keeps the traffic smooth: about a tenth of a second's worth."""
        return max(16 << 10, min(largest, int(self.rate / 10)))

    async def take(self, n: int) -> None:
        """Account for ``n`` bytes; returns once the average since the start is back under the rate."""
        now = asyncio.get_running_loop().time()
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= n
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)
