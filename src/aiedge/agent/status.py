"""The agent's status report: observed revision, desired digest, per-app health and the last
error, built from the reconciler's slots and a readiness probe through each site port."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from aiedge import __version__
from aiedge.agent import slot as cond
from aiedge.agent.ports import site_ports
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.slot import AppSlot
from aiedge.contracts import AppHealth, AppStatus, DesiredApp, StatusReport


async def build_report(
    reconciler: Reconciler, site: str, http: httpx.AsyncClient, hub_error: str | None
) -> StatusReport:
    state = reconciler.state
    desired = state.desired
    apps = desired.apps if desired else []
    statuses = await asyncio.gather(*(_app_status(reconciler, a, http) for a in apps))
    errors = [
        f"{a.name}: {slot.reason}: {slot.message}"
        for a in apps
        if (slot := reconciler.slots.get(a.name)) is not None
        and slot.reason not in (cond.READY, cond.PROGRESSING)
    ]
    if hub_error:
        errors.insert(0, hub_error)
    return StatusReport(
        site=site,
        observed_revision=desired.revision if desired else None,
        desired_digest=desired.digest if desired else None,
        apps=list(statuses),
        last_error="; ".join(errors) or None,
        agent_version=__version__,
        time=datetime.now(UTC),
        age_recipient=reconciler.identity.recipient if reconciler.identity else None,
    )


async def _app_status(reconciler: Reconciler, app: DesiredApp, http: httpx.AsyncClient) -> AppStatus:
    slot = reconciler.slots.get(app.name)
    port, _ = site_ports(app, reconciler.settings.port_offset)
    url = f"http://{reconciler.settings.host}:{port}"
    if slot is None:
        return AppStatus(name=app.name, url=url, health=AppHealth.PROGRESSING, message="not started yet")
    serving = slot.serving()
    if slot.http is not None:
        url = f"http://{slot.http.host}:{slot.http.port}"
    ready = serving is not None and await _ready(http, url, serving.app.model)
    return AppStatus(
        name=app.name,
        digest=serving.app.digest if serving else None,
        health=_health(slot, ready),
        url=url,
        message=f"{slot.reason}: {slot.message}",
    )


def _health(slot: AppSlot, ready: bool) -> AppHealth:
    if ready:
        return AppHealth.HEALTHY if slot.reason == cond.READY else AppHealth.DEGRADED
    if slot.reason in (cond.READY, cond.PROGRESSING):
        return AppHealth.PROGRESSING
    return AppHealth.FAILED


async def _ready(http: httpx.AsyncClient, url: str, model: str) -> bool:
    try:
        return (await http.get(f"{url}/v2/models/{model}/ready", timeout=3.0)).status_code == 200
    except httpx.HTTPError:
        return False
