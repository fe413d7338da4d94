"""Image references: ``REGISTRY/REPOSITORY[:TAG][@sha256:HEX]``.

The registry is always explicit (no Docker Hub default): aiedge images live in the operator's
registry, so ``housing:1`` is refused rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiedge.oci.digest import is_digest
from aiedge.oci.errors import BadReference

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port], e.g. 127.0.0.1:5000
    repository: str  # e.g. aiedge/housing
    tag: str | None = None
    digest: str | None = None  # sha256:<64 hex>

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse ``REGISTRY/REPO[:TAG][@DIGEST]``; raises ``aiedge.oci.errors.BadReference``."""
        original = text
        text = text.strip()
        for scheme in ("oci://", "docker://"):
            text = text.removeprefix(scheme)
        digest: str | None = None
        if "@" in text:
            text, digest = text.split("@", 1)
            if not is_digest(digest):
                raise BadReference(f"{original!r}: digest {digest!r} is not sha256:<64 lowercase hex>")
        if "/" not in text:
            raise BadReference(f"{original!r}: expected REGISTRY/REPOSITORY[:TAG][@sha256:...]")
        registry, rest = text.split("/", 1)
        if not _REGISTRY.match(registry):
            raise BadReference(f"{original!r}: {registry!r} is not a registry host[:port]")
        tag: str | None = None
        if ":" in rest:
            rest, tag = rest.rsplit(":", 1)
            if not _TAG.match(tag):
                raise BadReference(f"{original!r}: tag {tag!r} is not valid ([A-Za-z0-9_.-], up to 128)")
        if not _REPOSITORY.match(rest):
            raise BadReference(
                f"{original!r}: repository {rest!r} is not valid (lowercase letters, digits, . _ - and /)"
            )
        return cls(registry=registry, repository=rest, tag=tag, digest=digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def pinned(self) -> str:
        """``REGISTRY/REPO@DIGEST`` (requires a digest)."""
        if not self.digest:
            raise BadReference(f"{self}: has no digest to pin")
        return f"{self.registry}/{self.repository}@{self.digest}"

    def with_digest(self, digest: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, self.tag, digest)
