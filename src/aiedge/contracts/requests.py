"""Requests an operator sends a site through the hub, answered over the agent's own outbound
connection (nothing listens at the site):

- ``GET  /api/v1/sites/{site}/requests?wait=S`` (the site's credential): the pending
  :class:`SiteRequest` list, held up to ``wait`` seconds while there is none; each is handed out once.
- ``POST /api/v1/sites/{site}/requests/{id}/answer`` (the site's credential): a :class:`SiteAnswer`.
- ``POST /api/v1/sites/{site}/requests`` (an operator): a :class:`RequestSpec`; answers
  ``202 {"id": N}``.
- ``GET  /api/v1/sites/{site}/requests/{id}?wait=S`` (an operator): a :class:`RequestView`, held
  up to ``wait`` seconds until the site has answered.

Answers are bounded and redacted at the site: no credential, token, key or decrypted secret.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_SINCE = 30 * 86400.0
TAKEN_AT_ONCE = 10  # requests one fetch hands a site (more may wait: it fetches again)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestKind(StrEnum):
    LOGS = "logs"  # the tail of the agent's log, or of one app's model server
    DIAGNOSE = "diagnose"  # agent state, facts, last errors, cache usage


class RequestSpec(_Model):
    """What an operator asks for."""

    kind: RequestKind
    app: str | None = Field(
        default=None, max_length=63, description="logs: this app's server (else the agent's)"
    )
    since: float | None = Field(
        default=None, gt=0, le=MAX_SINCE, allow_inf_nan=False, description="logs: seconds back from now"
    )
    lines: int = Field(
        default=200, ge=1, le=MAX_LINES, description="logs: at most this many lines (the newest)"
    )


class SiteRequest(RequestSpec):
    """A queued request, as the site's agent receives it."""

    id: int
    created: datetime


class SiteAnswer(_Model):
    """The agent's answer; ``lines`` for logs, ``diagnosis`` for diagnose, ``error`` when it could not."""

    lines: list[str] = Field(default_factory=list, max_length=MAX_LINES)
    diagnosis: dict[str, Any] | None = None
    truncated: bool = Field(default=False, description="more lines matched than were sent")
    error: str | None = Field(default=None, max_length=2000)


class RequestState(StrEnum):
    PENDING = "pending"  # queued, the site has not fetched it yet
    TAKEN = "taken"  # the site fetched it and is answering
    ANSWERED = "answered"


class RequestView(_Model):
    id: int
    site: str
    spec: RequestSpec
    state: RequestState
    created: datetime
    answered: datetime | None = None
    answer: SiteAnswer | None = None
