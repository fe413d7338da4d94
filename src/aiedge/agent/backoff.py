"""Retry delays: exponential backoff with jitter, and jittered requeue intervals."""

from __future__ import annotations

import random
from dataclasses import dataclass


def jittered(seconds: float, fraction: float = 0.1, rng: random.Random | None = None) -> float:
    """``seconds`` +/- ``fraction`` so that a fleet of agents does not beat in step."""
    r = rng or random
    return max(0.0, seconds * (1.0 + r.uniform(-fraction, fraction)))


@dataclass
class Backoff:
    """Exponential backoff with full jitter; :meth:`reset` after a success."""

    minimum: float
    maximum: float
    failures: int = 0

    def next_delay(self, rng: random.Random | None = None) -> float:
        self.failures += 1
        cap = min(self.maximum, self.minimum * 2 ** (self.failures - 1))
        r = rng or random
        return r.uniform(cap / 2, cap)

    def reset(self) -> None:
        self.failures = 0
