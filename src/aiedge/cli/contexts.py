"""Which hub the operator commands (``status``, ``rollout``) talk to, kubectl-style: the flags,
else ``AIEDGE_HUB`` / ``AIEDGE_CA`` / ``AIEDGE_TOKEN_FILE``, else a named context of the config
file (``~/.config/aiedge/config.yaml``; ``$AIEDGE_CONFIG`` or ``$XDG_CONFIG_HOME`` move it), the
one named by ``--context``, ``AIEDGE_CONTEXT`` or the file's ``current-context``. A hub named
by a flag or the environment uses the current context's CA and token file only if it is that
context's hub.

A context holds the hub's URL, the CA bundle that signs its HTTPS certificate and the *path* of
an operator token file, never a token: the file stays the one place the secret lives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aiedge.errors import AiedgeError

MAX_CONFIG_BYTES = 1 << 20
ENV_HUB, ENV_CA, ENV_TOKEN_FILE, ENV_CONTEXT = (
    "AIEDGE_HUB",
    "AIEDGE_CA",
    "AIEDGE_TOKEN_FILE",
    "AIEDGE_CONTEXT",
)


class ConfigError(AiedgeError):
    """The config file cannot be read, or a context is missing or wrong."""


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    hub: str = Field(description="the hub's URL")
    ca: Path | None = Field(default=None, description="CA bundle of the hub's HTTPS certificate")
    token_file: Path | None = Field(default=None, alias="token-file", description="operator token file")

    @field_validator("hub")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) > 2048:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    current_context: str | None = Field(default=None, alias="current-context")
    contexts: dict[str, Context] = Field(default_factory=dict)


def config_path() -> Path:
    if os.environ.get("AIEDGE_CONFIG"):
        return Path(os.environ["AIEDGE_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aiedge" / "config.yaml"


def load_config(path: Path | None = None) -> Config:
    """The config file (an empty config when there is none); a broken one is one line."""
    path = path or config_path()
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return Config()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: more than {MAX_CONFIG_BYTES} bytes; this is not an aiedge config")
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(raw) or {}
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {loc}: {err['msg']}") from None


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write the config (mode 0600, atomically: a crash leaves the old file)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.dump(to_yaml(config), f)
    tmp.replace(path)
    return path


def to_yaml(config: Config) -> dict[str, Any]:
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class HubTarget:
    """A hub to talk to: its URL, the CA of its certificate, the operator token file."""

    url: str
    ca: Path | None = None
    token_file: Path | None = None
    context: str | None = None  # the context it came from, if any

    @property
    def verify(self) -> Any:
        """httpx's ``verify``: the CA bundle's SSL context, or the system CAs."""
        if self.ca is None:
            return True
        import ssl

        try:
            return ssl.create_default_context(cafile=str(self.ca))
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"CA bundle {self.ca}: cannot load it: {e}") from None


def resolve(
    hub: str | None, ca: Path | None, token_file: Path | None, context: str | None = None
) -> HubTarget:
    """The hub from the flags, else the environment, else a context (see the module's docstring)."""
    hub = hub or os.environ.get(ENV_HUB) or None
    ca = ca or (Path(os.environ[ENV_CA]) if os.environ.get(ENV_CA) else None)
    token_file = token_file or (Path(os.environ[ENV_TOKEN_FILE]) if os.environ.get(ENV_TOKEN_FILE) else None)
    name = context or os.environ.get(ENV_CONTEXT) or None
    config = load_config()
    if hub is not None and name is None:
        # a hub named without a context borrows the current context's CA and token file only
        # when it is that context's hub: a token saved for one hub is never sent to another
        current = config.contexts.get(config.current_context or "")
        if current is None or current.hub != hub.rstrip("/"):
            return HubTarget(hub.rstrip("/"), ca, token_file)
        name = config.current_context
    name = name or config.current_context
    if name is None:
        raise ConfigError(
            "which hub? pass --hub URL, set AIEDGE_HUB, or save a context: "
            "aiedge config set-context NAME --hub URL --use"
        )
    found = config.contexts.get(name)
    if found is None:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise ConfigError(f"no context {name!r} in {config_path()} (contexts: {known})")
    if token_file is None and not os.environ.get("AIEDGE_TOKEN"):  # the variable beats a saved file
        token_file = found.token_file
    return HubTarget((hub or found.hub).rstrip("/"), ca or found.ca, token_file, context=name)
