"""Alerts the hub raises about its fleet, their firing/resolved lifecycle, the Alertmanager webhook
notifications, and the equivalent Prometheus alerting rules over our metric names.

Rules (thresholds from :class:`~aiedge.hub.settings.HubSettings`):

- ``EdgeSiteUnknown``: a site silent for longer than ``alert_site_unknown_after``;
- ``EdgeInferenceErrorRateHigh``: an app's share of requests failed by the server (outcome
  ``error`` or ``unavailable``: 5xx) over the last ``alert_window`` above ``alert_error_rate``
  (with at least ``alert_min_requests`` requests);
- ``EdgeInferenceRejectedRateHigh``: its share of requests refused as the client's mistake
  (``bad_request``, ``not_found``: 4xx) above ``alert_rejected_rate``; a separate rate;
- ``EdgeInferenceLatencyHigh``: an app's p99 request latency over the window above ``alert_p99``;
- ``EdgeSmokeTestFailed``: an app whose reason is ``SmokeTestFailed`` (the typed reason, never
  the message);
- ``EdgeRolloutStopped``: a rollout stopped by more failed sites than its ``maxFailures``;
- ``GitopsRevisionRejected``: the repo's HEAD does not validate (the last good one is served);
- ``GitopsRemovalHeld``: the repo's HEAD would take an app off more sites than allowed without
  an acknowledgement (the last good one is served);
- ``ModelInputDrift`` / ``ModelOutputDrift``: a feature of an app at a site drifted past the App's
  threshold (rules in :mod:`aiedge.hub.drift`, passed in as ``extra``).

Active alerts live in memory: after a hub restart they fire again (with a new ``startsAt``),
which Alertmanager deduplicates by labels. Evaluating is pure (:meth:`Alerts.evaluate`);
sending is :func:`notify`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson

from aiedge.contracts import AppReason, SiteSummary
from aiedge.hub.history import Totals
from aiedge.hub.settings import HubSettings

log = logging.getLogger("aiedge.hub")

ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Thresholds:
    site_unknown_after: float = 300.0
    error_rate: float = 0.05
    p99_seconds: float = 1.0
    min_requests: float = 10.0
    window_s: float = 300.0
    rejected_rate: float = 0.25


def thresholds(settings: HubSettings) -> Thresholds:
    """The thresholds a hub is configured with (``AIEDGE_HUB_ALERT_*``)."""
    return Thresholds(
        site_unknown_after=settings.alert_site_unknown_after,
        error_rate=settings.alert_error_rate,
        p99_seconds=settings.alert_p99,
        min_requests=settings.alert_min_requests,
        window_s=settings.alert_window,
        rejected_rate=settings.alert_rejected_rate,
    )


@dataclass(frozen=True, slots=True)
class StoppedRollout:
    """A rollout stopped by its failures, as the alert tells it."""

    app: str
    placement: str
    to_digest: str
    failures: int
    why: str  # the first failed site's reason


@dataclass(frozen=True, slots=True)
class GitopsProblem:
    """The repo's HEAD is not served: ``rejected`` (it does not validate) or ``held`` (an
    unacknowledged removal); ``serving`` is the revision still served."""

    kind: str
    revision: str | None
    message: str
    serving: str | None


@dataclass(slots=True)
class Alert:
    name: str
    labels: dict[str, str]
    summary: str
    description: str
    severity: str = "warning"
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @property
    def fingerprint(self) -> str:
        body = orjson.dumps({"alertname": self.name, **self.labels}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(body).hexdigest()[:16]

    def all_labels(self) -> dict[str, str]:
        return {"alertname": self.name, "severity": self.severity, **self.labels}

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "status": "resolved" if self.ends_at else "firing",
            "severity": self.severity,
            "labels": self.labels,
            "summary": self.summary,
            "description": self.description,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
        }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _fleet_alerts(rollouts: Iterable[StoppedRollout], gitops: GitopsProblem | None) -> list[Alert]:
    out: list[Alert] = []
    for r in rollouts:
        out.append(
            Alert(
                "EdgeRolloutStopped",
                {"app": r.app, "placement": r.placement},
                f"rollout of {r.app} ({r.placement}) to {r.to_digest[:19]} stopped: "
                f"{r.failures} sites failed",
                f"{r.why}; failed sites went back to what they ran. Fix it in Git (a new commit "
                f"retries) or `aiedge rollout retry {r.app}`",
                "critical",
            )
        )
    if gitops is not None:
        name = "GitopsRevisionRejected" if gitops.kind == "rejected" else "GitopsRemovalHeld"
        what = "is invalid" if gitops.kind == "rejected" else "is held: it would remove apps from sites"
        out.append(
            Alert(
                name,
                {},
                f"GitOps revision {gitops.revision or '?'} {what}; "
                f"still serving {gitops.serving or 'nothing'}",
                gitops.message,
                "critical",
            )
        )
    return out


def check(
    sites: Iterable[SiteSummary],
    totals: dict[tuple[str, str], Totals],
    now: datetime,
    t: Thresholds,
    rollouts: Iterable[StoppedRollout] = (),
    gitops: GitopsProblem | None = None,
    extra: Iterable[Alert] = (),
) -> list[Alert]:
    """Every alert whose condition holds now (no lifecycle); pure. ``extra``: alerts other rules
    found (drift)."""
    out: list[Alert] = [*_fleet_alerts(rollouts, gitops), *extra]
    for s in sites:
        if s.last_seen is not None and (now - s.last_seen).total_seconds() > t.site_unknown_after:
            out.append(
                Alert(
                    "EdgeSiteUnknown",
                    {"site": s.name},
                    f"site {s.name} unknown since {s.last_seen.isoformat(timespec='seconds')}",
                    f"no status report from {s.name} for over {t.site_unknown_after:.0f} s; "
                    "it may still be serving, but the hub cannot tell",
                    "critical",
                )
            )
        for a in s.apps:
            if a.reason == AppReason.SMOKE_TEST_FAILED:
                out.append(
                    Alert(
                        "EdgeSmokeTestFailed",
                        {"site": s.name, "app": a.name},
                        f"{a.name} at {s.name}: new version failed its smoke test",
                        a.message,
                    )
                )
    for (site, app), tot in sorted(totals.items()):
        if tot.requests >= t.min_requests and tot.error_rate > t.error_rate:
            out.append(
                Alert(
                    "EdgeInferenceErrorRateHigh",
                    {"site": site, "app": app},
                    f"{app} at {site}: {tot.error_rate:.1%} of requests failing",
                    f"{tot.errors:.0f} of {tot.requests:.0f} requests failed on the server's side (5xx) "
                    f"over the last {t.window_s / 60:.0f} min (threshold {t.error_rate:.1%})",
                    "critical",
                )
            )
        if tot.requests >= t.min_requests and tot.rejected_rate > t.rejected_rate:
            out.append(
                Alert(
                    "EdgeInferenceRejectedRateHigh",
                    {"site": site, "app": app},
                    f"{app} at {site}: {tot.rejected_rate:.1%} of requests rejected",
                    f"{tot.rejected:.0f} of {tot.requests:.0f} requests were refused as the client's "
                    f"mistake (4xx) over the last {t.window_s / 60:.0f} min (threshold "
                    f"{t.rejected_rate:.1%}): clients send what the model does not take",
                )
            )
        p99 = tot.p99
        if tot.requests >= t.min_requests and p99 is not None and p99 > t.p99_seconds:
            out.append(
                Alert(
                    "EdgeInferenceLatencyHigh",
                    {"site": site, "app": app},
                    f"{app} at {site}: p99 latency {_ms(p99)}",
                    f"p99 request latency over the last {t.window_s / 60:.0f} min is {_ms(p99)} "
                    f"(threshold {_ms(t.p99_seconds)})",
                )
            )
    return out


@dataclass
class Alerts:
    """The active alerts and the recently resolved ones; :meth:`evaluate` returns what changed."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    keep_resolved: int = 100
    active: dict[str, Alert] = field(default_factory=dict)
    resolved: list[Alert] = field(default_factory=list)

    def evaluate(
        self,
        sites: Iterable[SiteSummary],
        totals: dict[tuple[str, str], Totals],
        now: datetime,
        rollouts: Iterable[StoppedRollout] = (),
        gitops: GitopsProblem | None = None,
        extra: Iterable[Alert] = (),
    ) -> list[Alert]:
        """Update the lifecycle; the alerts that started firing or resolved in this evaluation."""
        found = check(sites, totals, now, self.thresholds, rollouts, gitops, extra)
        current = {a.fingerprint: a for a in found}
        changed: list[Alert] = []
        for fp, alert in current.items():
            known = self.active.get(fp)
            if known is None:
                alert.starts_at = now
                self.active[fp] = alert
                changed.append(alert)
            else:  # keep its start; refresh the words (numbers move)
                known.summary, known.description = alert.summary, alert.description
        for fp in [fp for fp in self.active if fp not in current]:
            gone = self.active.pop(fp)
            gone.ends_at = now
            self.resolved.insert(0, gone)
            changed.append(gone)
        del self.resolved[self.keep_resolved :]
        return changed

    def as_json(self) -> dict[str, Any]:
        firing = sorted(self.active.values(), key=lambda a: (a.severity != "critical", a.starts_at or 0))
        return {
            "firing": [a.as_json() for a in firing],
            "resolved": [a.as_json() for a in self.resolved],
        }


def webhook_payload(alerts: list[Alert], status: str, external_url: str) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for alerts that share ``status``."""
    items = [
        {
            "status": status,
            "labels": a.all_labels(),
            "annotations": {"summary": a.summary, "description": a.description},
            "startsAt": a.starts_at.isoformat() if a.starts_at else ZERO_TIME,
            "endsAt": a.ends_at.isoformat() if a.ends_at else ZERO_TIME,
            "generatorURL": f"{external_url}/#/alerts",
            "fingerprint": a.fingerprint,
        }
        for a in alerts
    ]
    label_sets = [set(a.all_labels().items()) for a in alerts]
    common = dict(set.intersection(*label_sets)) if label_sets else {}
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "aiedge-hub",
        "groupLabels": {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": items,
    }


async def notify(client: httpx.AsyncClient, url: str, changed: list[Alert], external_url: str) -> bool:
    """POST the changes (one body for firing, one for resolved); False when a POST failed."""
    ok = True
    for status in ("firing", "resolved"):
        group = [a for a in changed if (a.ends_at is None) == (status == "firing")]
        if not group:
            continue
        try:
            r = await client.post(url, json=webhook_payload(group, status, external_url), timeout=10)
            r.raise_for_status()
        except httpx.HTTPError as e:
            log.warning("alert webhook %s: %s", url, e)
            ok = False
    return ok


def prometheus_rules(t: Thresholds) -> str:
    """Prometheus alerting rules equivalent to the hub's, over the metrics the sites ship."""
    window = f"{t.window_s / 60:.0f}m"
    return f"""\
# Prometheus alerting rules equivalent to the aiedge hub's alerts (`aiedge hub alert-rules`).
# Load with `rule_files:` in a Prometheus (or Thanos Ruler / Mimir ruler) that receives the
# sites' metrics (agent `--remote-write` or hub `--forward-remote-write`).
groups:
  - name: aiedge-edge-inference
    rules:
      - alert: EdgeSiteUnknown
        # the last sample of any target of the site is older than {t.site_unknown_after:.0f} s
        expr: |
          time() - max by (site) (max_over_time(timestamp(up{{site!=""}})[1h:1m]))
            > {t.site_unknown_after:.0f}
        labels:
          severity: critical
        annotations:
          summary: "site {{{{ $labels.site }}}} unknown for {{{{ $value | humanizeDuration }}}}"
      - alert: EdgeInferenceErrorRateHigh
        expr: |
          (
            sum by (site, app) (
              increase(aiedge_serve_requests_total{{outcome=~"error|unavailable"}}[{window}])
            )
            / sum by (site, app) (increase(aiedge_serve_requests_total[{window}]))
          ) > {t.error_rate}
          and sum by (site, app) (increase(aiedge_serve_requests_total[{window}])) >= {t.min_requests:.0f}
        labels:
          severity: critical
        annotations:
          summary: "{{{{ $labels.app }}}} at {{{{ $labels.site }}}}: errors over {t.error_rate:.0%}"
          description: "{{{{ $value | humanizePercentage }}}} of requests failing on the server's side (5xx)"
      - alert: EdgeInferenceRejectedRateHigh
        # requests refused as the client's mistake (4xx): a rate of their own, apart from errors
        expr: |
          (
            sum by (site, app) (
              increase(aiedge_serve_requests_total{{outcome=~"bad_request|not_found"}}[{window}])
            )
            / sum by (site, app) (increase(aiedge_serve_requests_total[{window}]))
          ) > {t.rejected_rate}
          and sum by (site, app) (increase(aiedge_serve_requests_total[{window}])) >= {t.min_requests:.0f}
        labels:
          severity: warning
        annotations:
          summary: "{{{{ $labels.app }}}} at {{{{ $labels.site }}}}: rejected over {t.rejected_rate:.0%}"
          description: "{{{{ $value | humanizePercentage }}}} of requests rejected (4xx)"
      - alert: EdgeInferenceLatencyHigh
        expr: |
          histogram_quantile(0.99,
            sum by (site, app, le) (increase(aiedge_serve_request_duration_seconds_bucket[{window}]))
          ) > {t.p99_seconds}
          and sum by (site, app) (increase(aiedge_serve_requests_total[{window}])) >= {t.min_requests:.0f}
        labels:
          severity: warning
        annotations:
          summary: "{{{{ $labels.app }}}} at {{{{ $labels.site }}}}: p99 over {_ms(t.p99_seconds)}"
          description: "p99 request latency {{{{ $value | humanizeDuration }}}}"
      - alert: EdgeAppMetricsDown
        # the agent scrapes each serving app through its site port; 0 means it did not answer.
        # (EdgeSmokeTestFailed, EdgeRolloutStopped and the GitOps alerts have no metric: they
        # come from status reports and the repo, so only the hub raises them.)
        expr: max by (site, app) (up{{app!=""}}) == 0
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "{{{{ $labels.app }}}} at {{{{ $labels.site }}}} does not answer its metrics scrape"
"""
