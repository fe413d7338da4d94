"""The agent's status report: observed revision, desired digest, per-app health, typed reason,
target digest and download progress, and the last error, built from the reconciler's slots and a
readiness probe through each site port.

Health follows the reason: work under way (Progressing, Downloading, Deferred) is ``progressing``
whether or not an older version still serves; a refusal or failure is ``degraded`` while an older
version serves and ``failed`` when nothing does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from aiedge import __version__
from aiedge.agent.ports import site_ports
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.slot import AppSlot
from aiedge.contracts import (
    AppHealth,
    AppReason,
    AppStatus,
    DesiredApp,
    LinkUsage,
    SiteFacts,
    StatusReport,
)

_WORKING = frozenset({AppReason.PROGRESSING, AppReason.DOWNLOADING, AppReason.DEFERRED})
_QUIET = _WORKING | {AppReason.READY}  # not worth a line in last_error


async def build_report(
    reconciler: Reconciler,
    site: str,
    http: httpx.AsyncClient,
    hub_error: str | None,
    link: LinkUsage | None = None,
    *,
    facts: SiteFacts | None = None,
) -> StatusReport:
    desired = reconciler.state.desired  # the revision last applied, as observed
    apps = reconciler.apps
    statuses = await asyncio.gather(*(_app_status(reconciler, a, http) for a in apps))
    errors = [
        f"{a.name}: {slot.reason}: {slot.message}"
        for a in apps
        if (slot := reconciler.slots.get(a.name)) is not None and slot.reason not in _QUIET
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
        link=link,
        facts=facts,
    )


async def _app_status(reconciler: Reconciler, app: DesiredApp, http: httpx.AsyncClient) -> AppStatus:
    slot = reconciler.slots.get(app.name)
    port, _ = site_ports(app, reconciler.settings.port_offset)
    url = f"http://{reconciler.settings.host}:{port}"
    if slot is None:
        return AppStatus(
            name=app.name,
            url=url,
            health=AppHealth.PROGRESSING,
            message="Progressing: not started yet",
            reason=AppReason.PROGRESSING,
            target_digest=app.digest,
        )
    serving = slot.serving()
    if slot.http is not None:
        url = f"http://{slot.http.host}:{slot.http.port}"
    ready = serving is not None and await _ready(http, url, serving.app.model)
    digest = serving.app.digest if serving else None
    progress = slot.progress
    device, warning = slot.device(serving)
    return AppStatus(
        name=app.name,
        digest=digest,
        health=_health(slot, ready),
        url=url,
        message=f"{slot.reason}: {slot.message}",
        reason=slot.reason,
        target_digest=target if (target := slot.target or app.digest) != digest else None,
        progress=progress.snapshot()
        if progress is not None and slot.reason is AppReason.DOWNLOADING
        else None,
        device=device,
        warning=warning,
    )


def _health(slot: AppSlot, ready: bool) -> AppHealth:
    if slot.reason in _WORKING:
        return AppHealth.PROGRESSING
    if slot.reason is AppReason.READY:
        return AppHealth.HEALTHY if ready else AppHealth.PROGRESSING
    return AppHealth.DEGRADED if ready else AppHealth.FAILED


async def _ready(http: httpx.AsyncClient, url: str, model: str) -> bool:
    try:
        return (await http.get(f"{url}/v2/models/{model}/ready", timeout=3.0)).status_code == 200
    except httpx.HTTPError:
        return False
