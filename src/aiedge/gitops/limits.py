"""How much of a GitOps repo aiedge reads: the caps that keep a hostile or broken revision from
hanging or exhausting whoever reads it (the hub reads every new HEAD in a worker thread)."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1 << 10
MIB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """Caps on one revision. The defaults fit a fleet of tens of thousands of sites."""

    max_repo_bytes: int = 64 * MIB
    """all YAML files of a revision together, checked before any is read"""
    max_file_bytes: int = 1 * MIB
    """one file that holds aiedge documents (files without any are not parsed)"""
    max_parsed_bytes: int = 16 * MIB
    """all files that hold aiedge documents together (parsing YAML costs about 5 s per MiB)"""
    max_documents: int = 20_000
    """YAML documents in one file"""
    max_depth: int = 64
    """nesting of mappings and sequences"""
    git_timeout: float = 60.0
    """seconds one git command may take before it is killed"""


DEFAULT_LIMITS = ReadLimits()


def size_text(n: int) -> str:
    """``5.0 KiB``, ``1.2 MiB``: sizes as messages say them."""
    if n < KIB:
        return f"{n} B"
    if n < MIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n / MIB:.1f} MiB"
