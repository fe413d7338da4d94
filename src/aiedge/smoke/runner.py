"""Replaying a smoke test against a running server."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from aiedge.contracts import SmokeTest


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    diffs: list[str] = field(default_factory=list)
    status_code: int | None = None
    error: str | None = None  # connection problem, non-JSON answer...

    def summary(self) -> str:
        raise NotImplementedError


async def run_smoke_test(client: httpx.AsyncClient, base_url: str, smoke: SmokeTest) -> SmokeResult:
    """POST ``smoke.request`` to ``base_url + smoke.path`` and compare with ``smoke.response``."""
    raise NotImplementedError
