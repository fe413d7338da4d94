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
    """A valid credential used for what it may not do: another site, the operator API with a
    site's credential, an admin call with a read token."""


class EnrolmentRefused(HubError):
    """A join token that is unknown, used, expired, revoked or for another site."""


class ShuttingDown(HubError):
    """The hub is stopping: a held long poll is answered at once (the agent polls again later)."""

    retry_after = 1


class HubConfigError(HubError):
    """A setting the hub cannot start with (no repo, an unsupported database, a port in use)."""


class UnknownSiteName(HubError):
    """An enrolment command for a site the GitOps repo does not define (nor ever enrolled)."""


class NoSuchRollout(HubError):
    """An operator command for an app with no rollout that shapes desired states now."""


class BadOperator(HubError):
    """An operator token asked for with a name or role the hub does not take."""


class BadWebhook(HubError):
    """A Git webhook call without a valid signature (or any, when the hub has no secret)."""
