"""The banner: why the GitOps repo's HEAD is not what the hub serves (it does not validate, it
would remove apps without saying so, or the repo cannot be read), with file:line:col and the
revision still served. ``/api/v1/health``, ``aiedge status``, the dashboard and an alert show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiedge.gitops import GitopsError, RepoInvalid
from aiedge.hub.removals import HeldRemoval

INVALID, HELD, UNREADABLE = "invalid", "held", "unreadable"
_MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Banner:
    kind: str  # INVALID, HELD or UNREADABLE
    revision: str | None  # the HEAD that is not served (None: not even read)
    message: str  # one line
    serving: str | None  # the revision still served
    problems: list[dict[str, Any]] = field(default_factory=list)  # {file, line, col, message}

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "revision": self.revision,
            "message": self.message,
            "serving": self.serving,
            "problems": self.problems,
        }


def invalid(e: RepoInvalid, serving: str | None) -> Banner:
    return Banner(
        INVALID, e.revision, e.summary(), serving, [p.to_json() for p in e.problems[:_MAX_PROBLEMS]]
    )


def unreadable(e: GitopsError, serving: str | None) -> Banner:
    return Banner(UNREADABLE, None, str(e), serving)


def held(revision: str, removals: list[HeldRemoval], serving: str | None) -> Banner:
    first = removals[0].message()
    more = f" (and {len(removals) - 1} more apps)" if len(removals) > 1 else ""
    problems = [
        {"file": r.where.file, "line": r.where.line, "col": r.where.col, "message": r.message()}
        for r in removals[:_MAX_PROBLEMS]
    ]
    return Banner(HELD, revision, first + more, serving, problems)
