"""Backoff and jitter: delays grow, stay under the cap, and reset after a success."""

from __future__ import annotations

import random

from aiedge.agent.backoff import Backoff, jittered


def test_backoff_grows_to_the_cap_and_resets() -> None:
    rng = random.Random(1)
    b = Backoff(minimum=1.0, maximum=8.0)
    delays = [b.next_delay(rng) for _ in range(6)]
    caps = [1, 2, 4, 8, 8, 8]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    b.reset()
    assert b.next_delay(rng) <= 1.0


def test_jitter_stays_within_its_fraction() -> None:
    rng = random.Random(2)
    assert all(4.5 <= jittered(5.0, 0.1, rng) <= 5.5 for _ in range(100))
