"""Platforms (``linux/amd64``, ``linux/arm64``) and picking one image out of an OCI image index.

Pure: no I/O beyond reading this machine's architecture in :func:`host_platform`. An index is
hostile input like any manifest: its size is bounded by the registry client, its entry count and
every field here. Platform names follow the OCI image spec (Go's ``GOARCH`` words); the kernel's
words (``x86_64``, ``aarch64``) are translated.
"""

from __future__ import annotations

import json
import platform as _platform
import re
from dataclasses import dataclass
from typing import Any

from aiedge.oci.digest import check_digest
from aiedge.oci.errors import ImageFormatError, OciError

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_MEDIA_TYPES = (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE)
MAX_INDEX_ENTRIES = 256
_WORD = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
# kernel (uname -m) and distribution words -> OCI's
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armv7l": "arm"}
# the variant an architecture means when none is written (OCI image-index spec, platform.variant)
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


class NoMatchingPlatform(OciError):
    """An image index offers no image for the platform asked for; the message names what it offers."""

    def __init__(self, wanted: Platform, offered: list[Platform], where: str = "the image") -> None:
        self.wanted = wanted
        self.offered = offered
        names = ", ".join(str(p) for p in offered) or "no platform at all"
        super().__init__(f"{where} has no {wanted} image; it offers {names}")


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``OS/ARCH[/VARIANT]``, e.g. ``linux/arm64``; kernel words like ``aarch64`` are accepted."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(_WORD.match(p) for p in parts):
            raise ValueError(f"platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/arm64")
        return cls(parts[0], _ARCH_ALIASES.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else "")

    @classmethod
    def from_json(cls, doc: Any, what: str) -> Platform:
        if not isinstance(doc, dict):
            raise ImageFormatError(f"{what}: platform is not an object")
        fields = [doc.get("os"), doc.get("architecture"), doc.get("variant") or ""]
        if not all(isinstance(f, str) for f in fields) or not fields[0] or not fields[1]:
            raise ImageFormatError(f"{what}: platform needs string os and architecture")
        if not all(_WORD.match(str(f)) for f in fields if f):
            raise ImageFormatError(f"{what}: platform {fields!r} has characters a platform cannot have")
        return cls(str(fields[0]), str(fields[1]), str(fields[2]))

    def to_json(self) -> dict[str, str]:
        doc = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            doc["variant"] = self.variant
        return doc

    @property
    def effective_variant(self) -> str:
        return self.variant or _DEFAULT_VARIANT.get(self.architecture, "")

    def accepts(self, offered: Platform) -> bool:
        """Whether an image built for ``offered`` runs here: same OS and architecture, and the same
        variant where either names one (``linux/arm64`` is ``linux/arm64/v8``)."""
        if (self.os, self.architecture) != (offered.os, offered.architecture):
            return False
        return not self.variant or self.effective_variant == offered.effective_variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


def parse_platforms(text: str) -> list[Platform]:
    """A comma-separated list (``linux/amd64,linux/arm64``), each once, in the order given."""
    out: list[Platform] = []
    for item in text.split(","):
        if not item.strip():
            continue
        p = Platform.parse(item)
        if p in out:
            raise ValueError(f"platform {p} is listed twice")
        out.append(p)
    if not out:
        raise ValueError("no platform given: expected e.g. linux/amd64,linux/arm64")
    return out


def normalise_arch(word: str) -> str:
    """An architecture in OCI's words: ``aarch64`` -> ``arm64``, ``x86_64`` -> ``amd64``."""
    return _ARCH_ALIASES.get(word.lower(), word.lower())


def host_platform() -> Platform:
    """This machine's platform in OCI words (``uname -m`` ``aarch64`` -> ``linux/arm64``)."""
    machine = _platform.machine().lower()
    system = _platform.system().lower() or "linux"
    return Platform(system, _ARCH_ALIASES.get(machine, machine))


@dataclass(frozen=True)
class IndexEntry:
    """One image of an index: its manifest's descriptor and the platform it is for."""

    digest: str
    size: int
    media_type: str
    platform: Platform | None  # None: an entry without a platform (an attestation, an artifact)


def is_index(media_type: str, doc: dict[str, Any]) -> bool:
    return media_type in INDEX_MEDIA_TYPES or doc.get("mediaType") in INDEX_MEDIA_TYPES


def read_index(doc: dict[str, Any], what: str = "image index") -> list[IndexEntry]:
    """The entries of a parsed image index, validated: digests, sizes, platforms, a bounded count."""
    if doc.get("schemaVersion") != 2:
        raise ImageFormatError(f"{what}: schemaVersion is {doc.get('schemaVersion')!r}, expected 2")
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise ImageFormatError(f"{what}: no manifests list")
    if len(manifests) > MAX_INDEX_ENTRIES:
        raise ImageFormatError(f"{what}: {len(manifests)} entries, more than {MAX_INDEX_ENTRIES}")
    entries = []
    for i, m in enumerate(manifests):
        here = f"{what} entry {i}"
        if not isinstance(m, dict):
            raise ImageFormatError(f"{here}: not an object")
        size, media_type = m.get("size"), m.get("mediaType")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= 1 << 40:
            raise ImageFormatError(f"{here}: size {size!r} is not a byte count")
        if not isinstance(media_type, str):
            raise ImageFormatError(f"{here}: mediaType {media_type!r} is not a string")
        try:
            digest = check_digest(m.get("digest", ""))
        except ImageFormatError as e:
            raise ImageFormatError(f"{here}: {e}") from e
        raw = m.get("platform")
        entries.append(
            IndexEntry(digest, size, media_type, None if raw is None else Platform.from_json(raw, here))
        )
    return entries


def parse_index(data: bytes, what: str = "image index") -> list[IndexEntry]:
    return read_index(_document(data, what), what)


def _document(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageFormatError(f"{what} is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ImageFormatError(f"{what} is not a JSON object")
    return doc


def index_entries(data: bytes, what: str = "manifest") -> list[IndexEntry] | None:
    """The entries of ``data`` when it is an image index (by its mediaType, or a ``manifests``
    list without ``layers``), None when it is anything else (an image manifest)."""
    doc = _document(data, what)
    if is_index(str(doc.get("mediaType", "")), doc) or ("manifests" in doc and "layers" not in doc):
        return read_index(doc, what)
    return None


def offered(entries: list[IndexEntry]) -> list[Platform]:
    return sorted({e.platform for e in entries if e.platform is not None})


def pick_platform(entries: list[IndexEntry], wanted: Platform, where: str = "the image") -> IndexEntry:
    """The entry for ``wanted``: an exact variant first, then one that ``wanted`` accepts."""
    fits = [e for e in entries if e.platform is not None and wanted.accepts(e.platform)]
    if not fits:
        raise NoMatchingPlatform(wanted, offered(entries), where)
    exact = [e for e in fits if e.platform == wanted]
    return (exact or fits)[0]
