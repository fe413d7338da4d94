"""The shadow gate: before a new version of an App with ``spec.rollout.shadow`` takes traffic,
it runs beside the serving one and gets a copy of a share of live requests; it takes over only
when its answers agree and its predict time is close enough.

The serving server mirrors (after answering, off the request path: :mod:`aiedge.serve.shadow`);
the gate only sets its target over the server's control endpoint (``PUT /v2/aiedge/shadow``, with
the agent's control token, which every server it starts gets in ``AIEDGE_SERVE_CONTROL_TOKEN``),
reads its counts until ``minSamples`` answers were compared, and reads both servers'
``aiedge_serve_inference_duration_seconds`` (the same predict timer in both) for the latency
ratio: the candidate's mean predict time over the phase / the serving one's over the same time.

Verdicts: agreement >= ``minAgreement`` and ratio <= ``maxLatencyRatio``: switch. Otherwise
:class:`ShadowRejected` (AppReason ``ShadowRejected``, the numbers in the message; the same digest
is not tried again). It is refused early once more answers disagreed than ``minAgreement`` allows.
Not enough traffic within ``shadow_timeout``: :class:`ShadowIncomplete` (retried later).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aiedge.agent.errors import Stalled, Transient
from aiedge.agent.runtime import Instance
from aiedge.contracts import AppReason, ShadowConfig

log = logging.getLogger(__name__)

CONTROL = "/v2/aiedge/shadow"
TOKEN_FILE = "control-token"  # noqa: S105 (a file name, not a secret)
INFERENCE = "aiedge_serve_inference_duration_seconds"
_MAX_PAGE = 8 * 1024 * 1024


class ShadowRejected(Stalled):
    """The candidate disagreed with the serving version on live traffic, or was too slow."""

    reason = AppReason.SHADOW_REJECTED


class ShadowIncomplete(Transient):
    """Too few live requests were compared in time; the phase is run again later."""

    reason = AppReason.PROGRESSING


def control_token(data: Path) -> str:
    """The agent's control token, made on first use and kept in ``DATA/control-token`` (0600),
    so servers started before a restart still take it."""
    path = data / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    data.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


@dataclass(frozen=True)
class Verdict:
    compared: int
    agreed: int
    errors: int
    latency_ratio: float  # nan when either side has no predict time yet
    max_abs_diff: float
    why: str  # the first disagreement

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0

    def summary(self, cfg: ShadowConfig) -> str:
        ratio = "unknown" if math.isnan(self.latency_ratio) else f"{self.latency_ratio:.2f}"
        text = (
            f"{self.agreed}/{self.compared} answers agreed ({self.agreement:.1%}, "
            f"needs {cfg.min_agreement:.1%}), max difference {self.max_abs_diff:.4g}, "
            f"predict time ratio {ratio} (max {cfg.max_latency_ratio:g})"
        )
        return f"{text}; first disagreement: {self.why}" if self.why else text


def _predict_time(page: str, model: str) -> tuple[float, float]:
    """(sum, count) of the model's predict-time histogram over all its versions."""
    total = count = 0.0
    for family in text_string_to_metric_families(page):
        if family.name != INFERENCE:
            continue
        for s in family.samples:
            if s.labels.get("model") != model:
                continue
            if s.name == f"{INFERENCE}_sum":
                total += s.value
            elif s.name == f"{INFERENCE}_count":
                count += s.value
    return total, count


class ShadowGate:
    def __init__(self, http: httpx.AsyncClient, token: str, timeout: float, poll: float = 0.5) -> None:
        self.http, self.token, self.timeout, self.poll = http, token, timeout, poll

    async def run(
        self,
        cfg: ShadowConfig,
        serving: Instance,
        candidate: Instance,
        progress: Callable[[str], None],
    ) -> Verdict:
        """Mirror to ``candidate`` until a verdict; raises :class:`ShadowRejected` or
        :class:`ShadowIncomplete`, returns the passing verdict. The target is cleared whatever
        happens."""
        model = candidate.app.model
        before = await self._times(serving, model), await self._times(candidate, model)
        target = {
            "url": candidate.base_url,
            "share": cfg.share,
            "rtol": cfg.rtol,
            "atol": cfg.atol,
            "argmax": cfg.argmax,
        }
        await self._control(serving, "PUT", target)
        try:
            stats = await self._watch(cfg, serving, candidate, progress)
        finally:
            try:
                await self._control(serving, "DELETE")
            except ShadowIncomplete as e:
                log.warning("shadow: could not clear the mirror of %s: %s", serving.base_url, e)
        after = await self._times(serving, model), await self._times(candidate, model)
        verdict = Verdict(
            compared=int(stats["compared"]),
            agreed=int(stats["agreed"]),
            errors=int(stats["errors"]),
            latency_ratio=_ratio(before, after),
            max_abs_diff=float(stats["max_abs_diff"]),
            why=str(stats.get("first_disagreement") or ""),
        )
        if verdict.agreement < cfg.min_agreement or not verdict.latency_ratio <= cfg.max_latency_ratio:
            raise ShadowRejected(f"shadow phase: {verdict.summary(cfg)}")
        return verdict

    async def _watch(
        self, cfg: ShadowConfig, serving: Instance, candidate: Instance, progress: Callable[[str], None]
    ) -> dict[str, Any]:
        allowed = math.floor(
            (1 - cfg.min_agreement) * cfg.min_samples + 1e-9
        )  # disagreements that still pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            await asyncio.sleep(self.poll)
            if not candidate.alive():
                raise ShadowRejected(f"shadow phase: the new version stopped: {candidate.exit_description()}")
            if not serving.alive():
                raise ShadowIncomplete("shadow phase: the serving version stopped")
            stats = (await self._control(serving, "GET")).get("shadow") or {}
            compared, disagreed = int(stats.get("compared", 0)), int(stats.get("disagreed", 0))
            progress(f"shadow phase: {compared}/{cfg.min_samples} answers compared, {disagreed} disagreed")
            if compared >= cfg.min_samples or disagreed > allowed:
                return stats
            if loop.time() > deadline:
                raise ShadowIncomplete(
                    f"shadow phase: {compared} of {cfg.min_samples} answers compared in {self.timeout:g}s "
                    "(too little traffic); tried again later"
                )

    async def _control(
        self, inst: Instance, method: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            r = await self.http.request(
                method,
                f"{inst.base_url}{CONTROL}",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10.0,
            )
        except httpx.HTTPError as e:
            raise ShadowIncomplete(f"shadow phase: the serving version's control endpoint: {e!r}") from e
        if r.status_code == 404:
            # a server started without this agent's token (an older agent): it cannot mirror
            raise ShadowRejected("shadow phase: the serving version has no control endpoint to mirror from")
        if r.status_code != 200:
            raise ShadowIncomplete(
                f"shadow phase: the control endpoint answered {r.status_code}: {r.text[:200]}"
            )
        doc = r.json()
        return doc if isinstance(doc, dict) else {}

    async def _times(self, inst: Instance, model: str) -> tuple[float, float]:
        try:
            r = await self.http.get(f"{inst.base_url}/metrics", timeout=10.0)
        except httpx.HTTPError as e:
            raise ShadowIncomplete(f"shadow phase: cannot read {inst.base_url}/metrics: {e!r}") from e
        if r.status_code != 200 or len(r.content) > _MAX_PAGE:
            raise ShadowIncomplete(f"shadow phase: {inst.base_url}/metrics answered {r.status_code}")
        return _predict_time(r.text, model)


def _ratio(before: tuple[tuple[float, float], ...], after: tuple[tuple[float, float], ...]) -> float:
    (s0, c0), (k0, n0) = before
    (s1, c1), (k1, n1) = after
    if c1 - c0 <= 0 or n1 - n0 <= 0:
        return math.nan
    serving = (s1 - s0) / (c1 - c0)
    candidate = (k1 - k0) / (n1 - n0)
    return candidate / serving if serving > 0 else math.inf
