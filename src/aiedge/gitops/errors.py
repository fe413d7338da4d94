"""Errors of the GitOps repo: one :class:`Problem` per wrong spot (``file:line:col: message``),
collected into :class:`RepoInvalid`; plus git failures and unknown names."""

from __future__ import annotations

from dataclasses import dataclass

from aiedge.errors import AiedgeError


class GitopsError(AiedgeError):
    """Something about the GitOps repo the user can fix."""


@dataclass(frozen=True, order=True)
class Problem:
    """One error at one place; ``file`` is relative to the repo root, line and col are 1-based.
    A problem of the whole revision (no aiedge documents at all, too many bytes) has no file and
    line 0."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        if not self.file:
            return self.message
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    def to_json(self) -> dict[str, str | int]:
        return {"file": self.file, "line": self.line, "col": self.col, "message": self.message}


class RepoInvalid(GitopsError):
    """The repo (at one revision) has errors; all of them are in :attr:`problems`."""

    def __init__(self, problems: list[Problem], revision: str = "") -> None:
        self.problems = sorted(problems)
        self.revision = revision
        super().__init__("\n".join(str(p) for p in self.problems))

    def summary(self) -> str:
        """One line: the first problem and how many more."""
        first = str(self.problems[0]) if self.problems else "invalid"
        more = len(self.problems) - 1
        return first + (f" (and {more} more)" if more > 0 else "")


class GitTimeout(GitopsError):
    """A git command gave no answer in time (a stalled disk or network filesystem); it was killed."""


class UnknownSite(GitopsError):
    """No Site of that name at this revision."""

    def __init__(self, site: str, revision: str) -> None:
        self.site = site
        super().__init__(f"site {site!r} is not defined in the GitOps repo at {revision}")


class AppNotFound(GitopsError):
    """No App of that name in the repo."""
