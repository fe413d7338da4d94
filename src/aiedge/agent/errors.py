"""The agent's errors, classified the way its reconcile loop treats them (after Flux's
``internal/error`` and kopf's Permanent/TemporaryError).

- :class:`Stalled`: needs a human (bad token, a model that fails its smoke test, a broken image);
  the loop does not retry the same input until the input changes.
- :class:`Waiting`: a condition that will clear by itself (site unknown to the hub yet); retried
  after a fixed delay.
- :class:`Transient`: the network, a registry or hub hiccup; retried with exponential backoff.

Each error about an app carries its :class:`~aiedge.contracts.AppReason` as ``reason`` (the
condition reason the hub decides on); errors about the hub link have a plain text reason.
"""

from __future__ import annotations

from aiedge.contracts import AppReason
from aiedge.errors import AiedgeError


class AgentError(AiedgeError):
    """Base of the agent's errors; ``reason`` is the condition reason reported to the hub."""

    reason: str = "Error"

    @property
    def app_reason(self) -> AppReason:
        """The reason an app in this error reports (Unknown for errors that are not an app's)."""
        return self.reason if isinstance(self.reason, AppReason) else AppReason.UNKNOWN


class Stalled(AgentError):
    """Retrying the same input cannot help: a human must change something."""

    reason = "Stalled"


class Waiting(AgentError):
    """Not an error yet: something the agent waits for; retried after a fixed delay."""

    reason = "Waiting"


class LinkDeferred(Waiting):
    """A download that does not fit in what is left of the site's link budget: it waits (the
    version serving keeps serving), no failure and no backoff; asked again every pass."""

    reason = AppReason.DEFERRED


class Transient(AgentError):
    """A failure that may pass (network, timeouts, 5xx); retried with backoff."""

    reason = "Transient"


class FetchFailed(Transient):
    """The hub or a registry could not be reached or answered badly."""

    reason = AppReason.FETCH_FAILED


class ImageNotFound(Transient):
    """The registry has no manifest (or blob) by that digest. Retried with backoff: a push fixes
    it without any change to the desired state."""

    reason = AppReason.IMAGE_NOT_FOUND


class InsufficientDisk(Transient):
    """Not enough free disk for the image's blobs or its unpacked files; retried with backoff
    (space may be freed), the old version keeps serving."""

    reason = AppReason.INSUFFICIENT_DISK


class ImageInvalid(Stalled):
    """An image that cannot run here: bad digest, missing model label, unsafe path."""

    reason = AppReason.IMAGE_INVALID


class PlatformNotOffered(Stalled):
    """The app's image is an index with no image for this site's platform (an arm64 site given an
    amd64-only runnable image); the message names the platforms it offers."""

    reason = AppReason.NO_MATCHING_PLATFORM


class RegistryAuthFailed(Stalled):
    """The registry wants credentials the agent does not have."""

    reason = AppReason.REGISTRY_AUTH_FAILED


class SmokeTestFailed(Stalled):
    """The new version answered its smoke test wrongly; the old one keeps serving."""

    reason = AppReason.SMOKE_TEST_FAILED


class StartFailed(Transient):
    """The model server exited or did not get ready in time."""

    reason = AppReason.START_FAILED


class Unauthorized(Stalled):
    """The hub refused the agent's token."""

    reason = "Unauthorized"


class SignatureInvalid(Stalled):
    """The image is not signed by a key the agent trusts (``--verify-key``): nothing of it is
    fetched or served. Needs a human (sign it, or trust its key); unlike other stalls it is checked
    again with backoff, since pushing the missing signature does not change the desired state."""

    reason = AppReason.SIGNATURE_INVALID


class SecretDecryptFailed(Stalled):
    """An app secret does not decrypt with the site's age identity (encrypted to another
    recipient, or damaged): the new version is not started, the old one keeps serving, until the
    secret is encrypted again to this site's recipient."""

    reason = AppReason.SECRET_DECRYPT_FAILED


class BundleInvalid(Stalled):
    """An offline bundle that does not verify: not signed by the hub's key, for another site,
    damaged (a blob with another digest), incomplete, or not a bundle at all. Nothing of it is
    applied."""

    reason = "BundleInvalid"
