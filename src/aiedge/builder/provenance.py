"""Build provenance: an in-toto Statement v1 with an SLSA Provenance v1 predicate.

The subject is the pushed image (by manifest digest); the build definition records the source
(URI and Git commit), the parameters the build ran with and the base image; the run details
name the builder (``aiedge build``), the model's content digest and the smoke-test outcome.
No wall-clock times go in, so an unchanged rebuild makes the same statement, byte for byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiedge import __version__
from aiedge.oci.manifest import canonical_json, rfc3339

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/aiedge/aiedge/build/v1"
BUILDER_ID = "aiedge build"


def model_digest(files: list[tuple[str, Path]]) -> str:
    """A digest of the model's content independent of packing: sha256 over ``sha256sum``-style
    lines (``HEX  PATH``), sorted by path. Anyone can recompute it from the unpacked model."""
    lines = []
    for rel, path in sorted(files):
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        lines.append(f"{h.hexdigest()}  {rel}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class ProvenanceInput:
    image: str  # REGISTRY/REPO
    digest: str  # the image manifest digest
    name: str
    format: str
    model_digest: str
    created: int
    source: str | None = None
    revision: str | None = None
    source_digest: str | None = None  # sha256 of a downloaded file/archive
    base: str | None = None  # REGISTRY/REPO@sha256:... of the base image
    smoke: dict[str, Any] | None = None  # {"passed": bool, "path": ..., "protocol": ...}


def _hex(digest: str) -> dict[str, str]:
    algo, _, value = digest.partition(":")
    return {algo: value}


def provenance_statement(p: ProvenanceInput) -> bytes:
    dependencies: list[dict[str, Any]] = []
    if p.source:
        dep: dict[str, Any] = {"uri": p.source}
        if p.revision:
            dep["uri"] = f"git+{p.source}@{p.revision}" if not p.source.startswith("git+") else p.source
            dep["digest"] = {"gitCommit": p.revision}
        elif p.source_digest:
            dep["digest"] = _hex(p.source_digest)
        dependencies.append(dep)
    if p.base:
        ref, _, digest = p.base.partition("@")
        dependencies.append({"uri": f"oci://{ref}", "digest": _hex(digest), "name": "base"})
    external: dict[str, Any] = {"name": p.name, "image": p.image}
    if p.source:
        external["source"] = p.source
    if p.base:
        external["base"] = p.base
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": p.image, "digest": _hex(p.digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"sourceDateEpoch": p.created, "created": rfc3339(p.created)},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"aiedge": __version__}},
                "metadata": {"invocationId": f"{p.image}@{p.digest}"},
                "byproducts": [
                    {"name": "model", "digest": _hex(p.model_digest), "annotations": {"format": p.format}},
                    {"name": "smoke-test", "annotations": p.smoke or {"ran": False}},
                ],
            },
        },
    }
    return canonical_json(statement)
