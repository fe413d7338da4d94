"""The agent process's one settings object (env prefix ``AIEDGE_AGENT_``); only this module
reads the environment. The CLI passes its flags in as overrides.

Mistakes are refused here, before anything starts: a hub URL without ``http://`` or
``https://``, plain HTTP to a hub beyond loopback without ``insecure`` (the site's credential
and its digests would travel in clear), a ``data`` path that is a file, an unreadable or empty
``token_file``. The join token comes from ``token_file`` or ``AIEDGE_AGENT_TOKEN``, so it never
shows in ``ps``.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiedge.agent.prune import parse_size
from aiedge.oci.bandwidth import parse_budget, parse_rate
from aiedge.oci.platform import Platform, host_platform
from aiedge.oci.registry import is_loopback


def _default_serve_command() -> list[str]:
    return [sys.executable, "-m", "aiedge", "serve"]


_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/=-]{0,512})?$")


class AgentSettings(BaseSettings):
    """Everything the agent process can be told; every field has a default."""

    model_config = SettingsConfigDict(env_prefix="AIEDGE_AGENT_", extra="forbid")

    hub: str = Field(default="", description="base URL of the hub (http:// on loopback, else https://)")
    insecure: bool = Field(
        default=False,
        description="allow plain http:// to a hub that is not on loopback (credentials in clear)",
    )
    ca: Path | None = Field(
        default=None, description="PEM CA bundle the hub's HTTPS certificate is checked against"
    )
    site: str = Field(default_factory=socket.gethostname, description="this site's name at the hub")
    data: Path = Field(default=Path("aiedge-agent"), description="folder of the cache, state and logs")
    token: str | None = Field(
        default=None,
        description="join token (`aiedge hub token create`, traded once for a credential) or a credential",
    )
    token_file: Path | None = Field(default=None, description="file holding the join token (read once)")
    port_offset: int = Field(default=0, description="added to every app port (several sites on one host)")
    host: str = Field(default="127.0.0.1", description="address the site ports listen on")
    poll_interval: float = Field(
        default=5.0, gt=0, description="seconds between status checks (posted when changed) and resyncs"
    )
    status_refresh: float = Field(
        default=1800.0,
        gt=0,
        description="seconds after which an unchanged status report is posted again (a hub that "
        "announces a heartbeat takes the site's polls as its sign of life)",
    )
    long_poll_wait: float = Field(
        default=30.0, ge=0, description="seconds the hub may hold a desired-state poll"
    )
    insecure_registry: bool = Field(default=False, description="plain HTTP to every registry")
    ready_timeout: float = Field(
        default=120.0, gt=0, description="seconds a new model server has to get ready"
    )
    shadow_timeout: float = Field(
        default=900.0,
        gt=0,
        description="seconds a shadow phase may take to compare minSamples answers (then tried again later)",
    )
    backoff_min: float = Field(default=1.0, gt=0, description="first retry delay after a transient error")
    backoff_max: float = Field(default=60.0, gt=0, description="longest retry delay")
    keep_previous: bool = Field(
        default=True, description="keep the previous version running after a switch, for instant rollback"
    )
    serve_command: list[str] = Field(
        default_factory=_default_serve_command, description="command that starts a model server"
    )
    runtime: Literal["process", "podman"] = Field(
        default="process", description="how apps run: local processes, or podman containers (runnable images)"
    )
    podman_network: Literal["publish", "host"] = Field(
        default="publish", description="podman: publish ports on 127.0.0.1, or share the host's network"
    )
    scrape_interval: float = Field(default=15.0, gt=0, description="seconds between scrapes of each app")
    hub_metrics: Literal["auto", "summaries", "raw"] = Field(
        default="auto",
        description="what the hub gets of the site's metrics: per-minute summaries, or every raw "
        "series (for a hub that forwards them to a TSDB); auto: summaries when the hub takes them",
    )
    remote_write: list[str] = Field(
        default_factory=list, description="extra remote-write URLs the site ships its metrics to"
    )
    otlp: list[str] = Field(
        default_factory=list,
        description="OTLP/HTTP metrics URLs (an OpenTelemetry collector's .../v1/metrics) the site ships to",
    )
    telemetry_max_age: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="seconds of unsent metrics kept through outages"
    )
    telemetry_max_bytes: int = Field(default=1 << 30, gt=0, description="bytes of unsent metrics kept")
    max_bandwidth: float | None = Field(
        default=None,
        gt=0,
        description="bytes per second for all blob downloads together (or a rate: 2MiB/s, 10Mbit/s)",
    )
    link_budget: int | None = Field(
        default=None,
        gt=0,
        description="bytes a day the site's link may carry (or a budget: 20MB/day); the smaller of "
        "this and the Site's spec.link is kept to",
    )
    progress_log_interval: float = Field(
        default=10.0, gt=0, description="seconds between log lines while a download runs"
    )
    unpack_max_expansion: float = Field(
        default=100.0, gt=0, description="an image may unpack to this many times its layers' size"
    )
    unpack_max_entries: int = Field(default=100_000, gt=0, description="entries an image may unpack to")
    disk_reserve: int = Field(
        default=256 << 20, ge=0, description="bytes of free disk that downloads and unpacking never use"
    )
    cache_max: int | None = Field(
        default=None,
        gt=0,
        description="bytes the image cache may hold (or a size: 20GiB) before unkept versions are pruned",
    )
    min_free: int | None = Field(
        default=None,
        ge=0,
        description="free bytes on the data disk (or a size: 2GiB) under which unkept versions are pruned",
    )
    drift_report_interval: float = Field(
        default=60.0, gt=0, description="seconds between drift reports (each app's drift scores) to the hub"
    )
    capture_to: str | None = Field(
        default=None, description="s3://BUCKET/PREFIX the apps' captured requests are uploaded to"
    )
    capture_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL of --capture-to (MinIO, Ceph...; default AWS)"
    )
    capture_interval: float = Field(default=30.0, gt=0, description="seconds between capture upload rounds")
    requests_wait: float = Field(
        default=240.0,
        gt=0,
        description="seconds the hub may hold the poll for operators' requests (logs, diagnose)",
    )
    hub_key: Path | None = Field(
        default=None,
        description="the hub's bundle-signing public key (PEM); default: the one it sent at enrolment",
    )
    registry_mirror: list[str] = Field(
        default_factory=list,
        description="SRC=DST: pull images of registry SRC from registry DST (a site-local mirror)",
    )
    verify_keys: list[Path] = Field(
        default_factory=list,
        description="public keys (cosign.pub); when set, only images signed by one of them are fetched",
    )
    platform: str | None = Field(
        default=None,
        description="the platform (linux/amd64, linux/arm64) whose image of a multi-platform image this "
        "site runs; default this machine's (another one runs under qemu-user with the podman runtime)",
    )

    @field_validator("max_bandwidth", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        return parse_rate(value) if isinstance(value, str) else value

    @field_validator("link_budget", mode="before")
    @classmethod
    def _budget(cls, value: object) -> object:
        return parse_budget(value) if isinstance(value, str) else value

    @field_validator("cache_max", "min_free", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return parse_size(value) if isinstance(value, str) else value

    @field_validator("capture_to")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not _S3_URL.match(value):
            raise ValueError(
                f"{value}: want s3://BUCKET or s3://BUCKET/PREFIX (a bucket name: a-z, 0-9, . and -)"
            )
        return value

    @field_validator("registry_mirror")
    @classmethod
    def _mirrors(cls, value: list[str]) -> list[str]:
        for pair in value:
            src, eq, dst = pair.partition("=")
            if not eq or not src.strip() or not dst.strip() or "/" in src + dst:
                raise ValueError(f"{pair!r}: want SRC=DST, two registry hosts (e.g. quay.io=127.0.0.1:5000)")
        return value

    @property
    def mirrors(self) -> dict[str, str]:
        return {s.strip(): d.strip() for s, _, d in (p.partition("=") for p in self.registry_mirror)}

    @field_validator("hub")
    @classmethod
    def _hub_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            hint = value.split("://", 1)[-1]
            raise ValueError(
                f"{value}: not an http:// or https:// URL; write https://{hint} "
                f"(or http://{hint} on loopback)"
            )
        try:
            _ = parts.port
        except ValueError as e:
            raise ValueError(f"{value}: {e}") from None
        if parts.query or parts.fragment or not parts.hostname:
            raise ValueError(f"{value}: a hub URL is scheme://host[:port][/path], with no query")
        return value.rstrip("/")

    @field_validator("otlp")
    @classmethod
    def _otlp_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url}: an OTLP/HTTP URL is http(s)://host[:port]/v1/metrics")
        return value

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str | None) -> str | None:
        return None if value is None else str(Platform.parse(value))

    @field_validator("data")
    @classmethod
    def _data_folder(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file, not a folder (the agent keeps its cache and state there)")
        return value

    @model_validator(mode="after")
    def _secure_and_token(self) -> Self:
        parts = urlsplit(self.hub)
        if parts.scheme == "http" and not self.insecure and not is_loopback(parts.hostname or ""):
            raise ValueError(
                f"hub {self.hub}: plain http:// beyond loopback sends the site's credential and "
                "digests in clear; use https:// (with --ca for a private CA) or pass --insecure"
            )
        if self.token_file is not None and self.token is None:
            try:
                token = self.token_file.read_text().strip()
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(f"token file {self.token_file}: cannot read it: {e}") from None
            if not token:
                raise ValueError(f"token file {self.token_file} is empty")
            self.token = token
        return self

    @property
    def image_platform(self) -> Platform:
        return Platform.parse(self.platform) if self.platform else host_platform()

    @property
    def blobs_dir(self) -> Path:
        return self.data / "blobs" / "sha256"

    @property
    def apps_dir(self) -> Path:
        return self.data / "apps"

    @property
    def logs_dir(self) -> Path:
        return self.data / "logs"

    @property
    def state_file(self) -> Path:
        return self.data / "state.json"

    @property
    def telemetry_dir(self) -> Path:
        return self.data / "telemetry"

    @property
    def capture_dir(self) -> Path:
        """Captured requests waiting for upload: ``capture/APP/DIGEST-HEX/*.jsonl``."""
        return self.data / "capture"

    @property
    def podman_dir(self) -> Path:
        return self.data / "podman"

    @property
    def credential_file(self) -> Path:
        return self.data / "credential"

    @property
    def learned_hub_key_file(self) -> Path:
        """The hub's bundle-signing public key, as the hub sent it at enrolment."""
        return self.data / "hub-key.pub"

    @property
    def import_dir(self) -> Path:
        """What `aiedge agent import` verified: the signed desired state and the bundle's refs."""
        return self.data / "import"

    @property
    def age_identity_file(self) -> Path:
        """The site's age X25519 identity (mode 0600); its recipient encrypts the site's secrets."""
        return self.data / "age-identity.txt"
