"""The hub process's settings (environment prefix ``AIEDGE_HUB_``; CLI flags override)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HubSettings(BaseSettings):
    """Everything the hub process is configured with."""

    model_config = SettingsConfigDict(env_prefix="AIEDGE_HUB_", extra="forbid")

    gitops: Path = Field(default=Path("gitops"), description="GitOps repo (read at Git HEAD) or a folder")
    data: Path = Field(default=Path("hub-data"), description="folder of the hub's state (hub.db)")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///DATA/hub.db"
    )
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, description="port to listen on")
    poll_interval: float = Field(default=5.0, gt=0, description="seconds between checks of the repo's HEAD")
    stale_after: float = Field(default=30.0, gt=0, description="seconds of silence before a site is unknown")
    max_wait: float = Field(default=300.0, ge=0, description="longest long poll a site may ask for, seconds")
    insecure_no_auth: bool = Field(default=False, description="serve sites without credentials (dev only)")
    join_token_ttl: float = Field(default=86400.0, gt=0, description="lifetime of a join token, seconds")
    log_level: str = Field(default="info", description="log level of the hub process")

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data / 'hub.db'}"
