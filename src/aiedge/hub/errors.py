"""Errors of the hub's domain; the HTTP layer (:mod:`aiedge.hub.api`) maps them to status codes."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class HubError(AiedgeError):
    """A hub problem the user can fix."""


class NoRevision(HubError):
    """No valid GitOps revision has been loaded yet."""


class NotAuthenticated(HubError):
    """No credential, or one the hub does not know (or revoked)."""


class Forbidden(HubError):
    """A valid credential used for another site."""


class EnrolmentRefused(HubError):
    """A join token that is unknown, used, expired, revoked or for another site."""
