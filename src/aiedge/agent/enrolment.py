"""Enrolment: trading a one-time join token (``aiedge hub token create``) for the site's own
credential, once, and keeping that credential in the agent's data folder (mode 0600).

A restarted agent uses the stored credential and never needs the (spent) join token again, so
it can restart with the hub down. A ``--token`` that is not a join token is used as the
credential itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import httpx
from pydantic import ValidationError

from aiedge.agent.backoff import Backoff
from aiedge.agent.errors import Stalled
from aiedge.contracts import EnrollRequest, EnrollResponse

log = logging.getLogger("aiedge.agent")
JOIN_PREFIX = "aiedge-join-"


async def site_credential(
    client: httpx.AsyncClient,
    hub: str,
    site: str,
    token: str | None,
    file: Path,
    stop: asyncio.Event,
    age_recipient: str | None = None,
    hub_key_file: Path | None = None,
) -> str | None:
    """The credential to send as ``Authorization: Bearer`` (None: the hub runs without auth).
    The hub's bundle-signing key, when the hub sends one, is kept in ``hub_key_file``."""
    stored = await asyncio.to_thread(_read_secret, file)
    if token and not token.startswith(JOIN_PREFIX):
        return token
    if stored:
        return stored
    if not token:
        return None
    backoff = Backoff(minimum=1.0, maximum=30.0)
    while not stop.is_set():
        try:
            answer = await _enroll(client, hub, site, token, age_recipient)
        except httpx.TransportError as e:
            delay = backoff.next_delay()
            log.warning(
                "enrolment: hub %s unreachable (%s); retrying in %.0f s", hub, type(e).__name__, delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        _write_secret(file, answer.credential)
        log.info("enrolled site %s with hub %s; credential kept in %s", site, hub, file)
        if answer.hub_key and hub_key_file is not None:
            await asyncio.to_thread(hub_key_file.write_text, answer.hub_key)
            log.info("the hub's bundle-signing key kept in %s", hub_key_file)
        return answer.credential
    return None


async def _enroll(
    client: httpx.AsyncClient, hub: str, site: str, token: str, age_recipient: str | None
) -> EnrollResponse:
    body = EnrollRequest(token=token, site=site, age_recipient=age_recipient).model_dump_json(
        exclude_none=True
    )
    r = await client.post(
        f"{hub.rstrip('/')}/api/v1/enroll",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=15.0,
    )
    if r.status_code != 200:
        detail = r.text.strip().replace("\n", " ")[:200]
        raise Stalled(f"hub {hub} refused the join token for site {site!r} ({r.status_code}): {detail}")
    try:
        answer = EnrollResponse.model_validate_json(r.content)
    except ValidationError as e:
        raise Stalled(f"hub {hub} answered enrolment with an invalid body: {e.errors()[0]['msg']}") from e
    if answer.site != site:
        raise Stalled(f"hub {hub} enrolled site {answer.site!r}, not {site!r}")
    return answer


def _read_secret(file: Path) -> str:
    return file.read_text().strip() if file.exists() else ""


def _write_secret(file: Path, secret: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    tmp.replace(file)
