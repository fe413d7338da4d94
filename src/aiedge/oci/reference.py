"""Image references: ``REGISTRY/REPOSITORY[:TAG][@sha256:HEX]``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port], e.g. 127.0.0.1:5000
    repository: str  # e.g. aiedge/housing
    tag: str | None = None
    digest: str | None = None  # sha256:<64 hex>

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse ``REGISTRY/REPO[:TAG][@DIGEST]``; raises ``aiedge.oci.errors.BadReference``."""
        raise NotImplementedError  # filled in by the oci owner

    def __str__(self) -> str:
        raise NotImplementedError

    @property
    def pinned(self) -> str:
        """``REGISTRY/REPO@DIGEST`` (requires a digest)."""
        raise NotImplementedError
