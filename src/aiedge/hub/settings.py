"""The hub process's settings (environment prefix ``AIEDGE_HUB_``; CLI flags override)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

WAKE_RATE = 3000.0  # sites whose held polls a change wakes per second, by default (Fleet._wake_paced)


class HubSettings(BaseSettings):
    """Everything the hub process is configured with."""

    model_config = SettingsConfigDict(env_prefix="AIEDGE_HUB_", extra="forbid")

    gitops: Path | None = Field(
        default=None, description="GitOps repo (read at Git HEAD) or a folder; required"
    )
    data: Path = Field(default=Path("hub-data"), description="folder of the hub's state (hub.db)")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///DATA/hub.db"
    )
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, ge=0, le=65535, description="port to listen on")
    poll_interval: float = Field(default=5.0, gt=0, description="seconds between checks of the repo's HEAD")
    stale_after: float = Field(default=50.0, gt=0, description="seconds of silence before a site is unknown")
    max_wait: float = Field(default=300.0, ge=0, description="longest long poll a site may ask for, seconds")
    heartbeat: float = Field(
        default=35.0,
        gt=0,
        description="longest a site's desired-state poll is held (each poll is its heartbeat); "
        "never more than 0.7 x stale_after, so a live site is never shown unknown",
    )
    insecure_no_auth: bool = Field(
        default=False, description="no credentials at all: sites, operators, webhooks (local demos only)"
    )
    join_token_ttl: float = Field(default=86400.0, gt=0, description="lifetime of a join token, seconds")
    log_level: str = Field(default="info", description="log level of the hub process")
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain) to serve HTTPS with")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")
    webhook_secret_file: Path | None = Field(
        default=None, description="file holding the secret Git webhook calls are signed with"
    )
    rollout_interval: float = Field(default=1.0, gt=0, description="seconds between rollout steps")
    wake_rate: float = Field(
        default=WAKE_RATE,
        gt=0,
        allow_inf_nan=False,
        description="sites whose held long polls a change wakes per second, at most",
    )
    removal_guard_sites: int = Field(
        default=1, ge=0, description="a revision removing an app from more sites than this (and..."
    )
    removal_guard_share: float = Field(
        default=0.10, ge=0, le=1, description="...more than this share of those serving it) is held"
    )
    # observability (aiedge.hub.observability)
    forward_remote_write: list[str] = Field(
        default_factory=list, description="remote-write URLs the received metrics are forwarded to"
    )
    metrics_retention: float = Field(
        default=14 * 86400.0, gt=0, description="seconds of per-minute metrics history kept"
    )
    alert_webhook: str | None = Field(default=None, description="Alertmanager-style webhook URL for alerts")
    alert_interval: float = Field(default=10.0, gt=0, description="seconds between alert evaluations")
    alert_site_unknown_after: float = Field(
        default=300.0, gt=0, description="seconds of silence before a site raises EdgeSiteUnknown"
    )
    alert_error_rate: float = Field(
        default=0.05, ge=0, description="share of server errors (5xx) that raises an alert"
    )
    alert_rejected_rate: float = Field(
        default=0.25, ge=0, description="share of rejected requests (4xx) that raises an alert"
    )
    alert_p99: float = Field(default=1.0, gt=0, description="p99 latency in seconds that raises an alert")
    alert_min_requests: float = Field(default=10.0, ge=0, description="requests needed before rate alerts")
    alert_window: float = Field(default=300.0, ge=60, description="seconds the rate alerts look back")
    drift_stale_after: float = Field(
        default=900.0, gt=0, description="seconds a site's drift scores count after its last drift report"
    )
    drift_max_per_site: int = Field(default=2000, ge=1, description="drift scores kept per site")

    # limits (aiedge.hub.limits, aiedge.telemetry.receiver): what one request may make the hub hold
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="body bytes of a status report, webhook or admin call"
    )
    enroll_max_body_bytes: int = Field(
        default=16 * 1024, ge=1024, description="body bytes of an enrolment (no credential needed)"
    )
    body_budget_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024 * 1024, description="body bytes all requests may hold at once"
    )
    body_timeout: float = Field(default=30.0, gt=0, description="seconds a client may take to send a body")
    max_header_bytes: int = Field(
        default=64 * 1024, ge=4096, description="bytes of a request's line and headers"
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds from connecting (or a request's first byte) to its headers"
    )
    keep_alive_timeout: int = Field(
        default=75, ge=1, description="seconds an idle keep-alive connection stays open"
    )
    max_connections: int = Field(
        default=32768, ge=1, description="open connections (about two per site: a long poll and a post)"
    )
    metrics_max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="compressed bytes of one remote-write request"
    )
    metrics_max_decoded_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="bytes of one remote-write request after snappy"
    )
    metrics_max_series: int = Field(default=20_000, ge=1, description="series in one remote-write request")
    metrics_max_samples: int = Field(default=50_000, ge=1, description="samples in one remote-write request")
    metrics_max_series_per_site: int = Field(
        default=10_000, ge=1, description="series the metrics history follows per site"
    )
    metrics_series_idle: float = Field(
        default=3600.0, gt=0, description="seconds without a sample before a series is forgotten"
    )
    metrics_decode_slots: int = Field(
        default=2, ge=1, description="remote-write bodies decoded at once (worker threads)"
    )

    @property
    def poll_hold(self) -> float:
        """How long a poll is held at most: sites come back at least this often, well within
        ``stale_after`` (their poll is their heartbeat)."""
        return min(self.max_wait, self.heartbeat, 0.7 * self.stale_after)

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data / 'hub.db'}"
