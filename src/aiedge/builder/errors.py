"""Errors of ``aiedge build``: a model we cannot read, a source we cannot fetch, a failed smoke test."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class BuildError(AiedgeError):
    """The build cannot go on; the message says what and where."""


class ModelInvalid(BuildError):
    """The model at the source is not one aiedge can load."""


class SourceError(BuildError):
    """The model source cannot be fetched (bad path, Git ref, URL...)."""


class SmokeTestFailed(BuildError):
    """The packed model did not answer its test request as expected."""
