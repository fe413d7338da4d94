"""A site's link usage as `aiedge status SITE` shows it: bytes per UTC day (today last) against
its budget, in the decimal units a Site's ``spec.link`` is written in (``20MB/day``)."""

from __future__ import annotations

from aiedge.contracts import LinkUsage


def si_bytes(n: float) -> str:
    """``n`` bytes in decimal units: ``512 B``, ``1.5 KB``, ``20.0 MB``."""
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def link_text(link: LinkUsage) -> str:
    """The bytes per day a site reported for its link, its budget, and what it deferred."""
    days = ", ".join(f"{d.day:%m-%d} {si_bytes(d.total)}" for d in link.days) or "nothing counted yet"
    budget = (
        f"; budget {si_bytes(link.budget)}/day{'' if link.metered else ' (counted)'}" if link.budget else ""
    )
    spent = " (today's is spent)" if link.spent else ""
    deferred = "".join(f"; deferred: {d}" for d in link.deferred)
    return f"{days}{budget}{spent}{deferred}"
