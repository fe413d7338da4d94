"""Drift seen from the core: the latest drift scores each site reports for its apps
(:class:`~aiedge.contracts.DriftReport`, every minute), and the alerts they raise.

Owns the table (in memory, like the alerts: after a hub restart it fills again within a minute;
bounded: only apps placed on the site, at most ``max_per_site`` features a site, and a site's
scores forgotten ``stale_after`` seconds after its last report) and the rules, pure over plain
data: ``ModelInputDrift`` / ``ModelOutputDrift`` per site, app and feature whose score is above
the App's ``spec.drift`` threshold (0.2 by default; ``inputThreshold``/``outputThreshold`` per kind;
none with ``enabled: false``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiedge.contracts import DriftReport
from aiedge.gitops.schema_health import DriftSpec
from aiedge.hub.alerts import Alert

NAMES = {"input": "ModelInputDrift", "output": "ModelOutputDrift"}
DEFAULT = DriftSpec()


@dataclass(frozen=True, slots=True)
class DriftScore:
    site: str
    app: str
    version: str
    kind: str
    feature: str
    score: float
    rows: int
    source: str
    at: datetime


class DriftTable:
    """The latest scores per site; thread-safe (reports come in on the event loop, reads too)."""

    def __init__(self, max_per_site: int = 2000, stale_after: float = 900.0) -> None:
        self.max_per_site = max_per_site
        self.stale_after = stale_after
        self._sites: dict[str, dict[str, list[DriftScore]]] = {}  # site -> app -> its scores
        self._lock = threading.Lock()

    def put(self, report: DriftReport, placed: Collection[str], now: datetime) -> int:
        """Take a site's report: each app it names (of those ``placed`` on the site) gets these
        scores in place of its last ones; how many scores were kept."""
        with self._lock:
            apps = self._sites.setdefault(report.site, {})
            for a in report.apps:
                if a.app not in placed:
                    continue
                apps[a.app] = [
                    DriftScore(
                        report.site, a.app, a.version, f.kind, f.feature, f.score, a.rows, a.source, now
                    )
                    for f in a.features
                ]
            for gone in [name for name in apps if name not in placed]:
                del apps[gone]
            total = 0
            for name in list(apps):  # bounded per site, whatever the report held
                apps[name] = apps[name][: max(0, self.max_per_site - total)]
                total += len(apps[name])
            return total

    def scores(self, now: datetime, site: str | None = None) -> list[DriftScore]:
        """The scores not older than ``stale_after`` (one site's, with ``site``)."""
        with self._lock:
            sites = [site] if site is not None else list(self._sites)
            return [
                s
                for name in sites
                for scores in self._sites.get(name, {}).values()
                for s in scores
                if (now - s.at).total_seconds() <= self.stale_after
            ]


Specs = Callable[[str], DriftSpec | None]
"""The App's ``spec.drift`` by app name (None: the defaults)."""


def threshold(spec: DriftSpec | None, kind: str) -> float | None:
    """The alert threshold for ``kind``; None when the App turned drift off."""
    spec = spec or DEFAULT
    return spec.limit(kind) if spec.enabled else None


def drift_alerts(scores: Iterable[DriftScore], specs: Specs) -> list[Alert]:
    """One alert per site, app and feature over its App's threshold; pure."""
    out: list[Alert] = []
    for s in sorted(scores, key=lambda s: (s.site, s.app, s.kind, s.feature)):
        limit = threshold(specs(s.app), s.kind)
        if limit is None or s.score <= limit:
            continue
        out.append(
            Alert(
                NAMES[s.kind],
                {"site": s.site, "app": s.app, "feature": s.feature},
                f"{s.app} at {s.site}: {s.kind} {s.feature} drifted (PSI {s.score:.2f} > {limit:g})",
                f"the live distribution of {s.kind} {s.feature} of {s.app} ({s.version}) at {s.site} "
                f"moved away from the model's {s.source or ''} profile: PSI {s.score:.3f} over the "
                f"last {s.rows} sampled rows, threshold {limit:g} (the App's spec.drift)",
            )
        )
    return out


def as_json(scores: Iterable[DriftScore], specs: Specs) -> dict[str, Any]:
    """Per site and app: each feature's score, its threshold and whether it drifts."""
    sites: dict[str, dict[str, Any]] = {}
    for s in sorted(scores, key=lambda s: (s.site, s.app, -s.score)):
        limit = threshold(specs(s.app), s.kind)
        app = sites.setdefault(s.site, {}).setdefault(
            s.app,
            {
                "version": s.version,
                "rows": s.rows,
                "source": s.source,
                "at": s.at.isoformat(),
                "features": [],
            },
        )
        app["features"].append(
            {
                "kind": s.kind,
                "feature": s.feature,
                "score": s.score,
                "threshold": limit,
                "drifting": limit is not None and s.score > limit,
            }
        )
    return {"sites": sites}
