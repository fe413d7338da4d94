"""Replaying a smoke test against a running server."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from aiedge.contracts import SmokeTest
from aiedge.smoke.compare import compare


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    diffs: list[str] = field(default_factory=list)
    status_code: int | None = None
    error: str | None = None  # connection problem, non-JSON answer...

    def summary(self) -> str:
        if self.ok:
            return "the answer matches the expected response"
        if self.error:
            return self.error
        lines = "\n  ".join(self.diffs)
        return f"the answer differs from the expected response in {len(self.diffs)} place(s):\n  {lines}"


async def run_smoke_test(
    client: httpx.AsyncClient, base_url: str, smoke: SmokeTest, *, exact: bool = False
) -> SmokeResult:
    """POST ``smoke.request`` to ``base_url + smoke.path`` and compare with ``smoke.response``
    (``exact``: the same JSON document, see :func:`aiedge.smoke.compare.compare`)."""
    url = base_url.rstrip("/") + smoke.path
    try:
        r = await client.post(url, json=smoke.request)
    except httpx.HTTPError as e:
        return SmokeResult(False, error=f"POST {url}: {e or type(e).__name__}")
    if r.status_code != 200:
        body = r.text.strip().replace("\n", " ")[:300]
        return SmokeResult(
            False, status_code=r.status_code, error=f"POST {url}: HTTP {r.status_code}: {body}"
        )
    try:
        answer = r.json()
    except ValueError:
        return SmokeResult(
            False, status_code=200, error=f"POST {url}: the answer is not JSON: {r.text[:200]!r}"
        )
    diffs = compare(smoke.response, answer, rtol=smoke.rtol, atol=smoke.atol, exact=exact)
    return SmokeResult(not diffs, diffs, 200)
