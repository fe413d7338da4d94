"""The agent process's one settings object (env prefix ``AIEDGE_AGENT_``); only this module
reads the environment. The CLI passes its flags in as overrides."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiedge.oci.bandwidth import parse_rate


def _default_serve_command() -> list[str]:
    return [sys.executable, "-m", "aiedge", "serve"]


class AgentSettings(BaseSettings):
    """Everything the agent process can be told; every field has a default."""

    model_config = SettingsConfigDict(env_prefix="AIEDGE_AGENT_", extra="forbid")

    hub: str = Field(default="http://127.0.0.1:8000", description="base URL of the hub")
    ca: Path | None = Field(
        default=None, description="PEM CA bundle the hub's HTTPS certificate is checked against"
    )
    site: str = Field(default_factory=socket.gethostname, description="this site's name at the hub")
    data: Path = Field(default=Path("aiedge-agent"), description="folder of the cache, state and logs")
    token: str | None = Field(
        default=None,
        description="join token (`aiedge hub token create`, traded once for a credential) or a credential",
    )
    port_offset: int = Field(default=0, description="added to every app port (several sites on one host)")
    host: str = Field(default="127.0.0.1", description="address the site ports listen on")
    poll_interval: float = Field(default=5.0, gt=0, description="seconds between heartbeats and resyncs")
    long_poll_wait: float = Field(
        default=30.0, ge=0, description="seconds the hub may hold a desired-state poll"
    )
    insecure_registry: bool = Field(default=False, description="plain HTTP to every registry")
    ready_timeout: float = Field(
        default=120.0, gt=0, description="seconds a new model server has to get ready"
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
    remote_write: list[str] = Field(
        default_factory=list, description="extra remote-write URLs the site ships its metrics to"
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
    verify_keys: list[Path] = Field(
        default_factory=list,
        description="public keys (cosign.pub); when set, only images signed by one of them are fetched",
    )

    @field_validator("max_bandwidth", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        return parse_rate(value) if isinstance(value, str) else value

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
    def podman_dir(self) -> Path:
        return self.data / "podman"

    @property
    def credential_file(self) -> Path:
        return self.data / "credential"

    @property
    def age_identity_file(self) -> Path:
        """The site's age X25519 identity (mode 0600); its recipient encrypts the site's secrets."""
        return self.data / "age-identity.txt"
