"""Errors of the OCI layer: bad references, registry failures, digest mismatches, bad images."""

from __future__ import annotations

from aiedge.errors import AiedgeError


class OciError(AiedgeError):
    """Something wrong with an image or a registry."""


class BadReference(OciError):
    """An image reference that does not parse (``REGISTRY/REPO[:TAG][@sha256:HEX]``)."""


class RegistryError(OciError):
    """The registry refused or failed a request, or could not be reached."""


class NotFoundInRegistry(RegistryError):
    """The registry answered 404: it has no manifest or blob by that name (a push can fix it)."""


class AuthError(RegistryError):
    """The registry wants credentials we do not have, or rejected the ones we sent."""


class DigestMismatch(OciError):
    """Downloaded bytes do not hash to the digest they were asked for by."""


class ImageFormatError(OciError):
    """A manifest or config that is not a valid OCI image document."""


class UnsafeLayer(OciError):
    """A layer entry that would write outside the destination, or a device/fifo."""


class ArchiveTooLarge(UnsafeLayer):
    """An archive or layer that unpacks past a limit; ``limit`` says which: ``"bytes"`` or
    ``"entries"``."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class SigningKeyError(OciError):
    """A signing key that is missing, unreadable, of the wrong kind, or locked by another password."""


class SignatureError(OciError):
    """An image with no signature, or none that the given public key verifies."""
