"""What a runtime is asked to start: one :class:`Launch` of an app on private ports.

An app is anything with a name (for logs, container names and labels), the model name the
server exposes, and the digest of the image it came from: the agent's
:class:`~aiedge.contracts.DesiredApp` is one; :class:`LocalApp` is the build's, for an image that
is not placed on any site yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar


class ServedApp(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def digest(self) -> str: ...


A = TypeVar("A", bound=ServedApp)


@dataclass(frozen=True)
class LocalApp:
    name: str
    model: str
    digest: str = ""  # empty when not known yet (a layout loaded by tag)


@dataclass(frozen=True)
class Launch(Generic[A]):
    """One model server to start. ``model_dir`` is what it serves: the model's folder for a local
    process, the image's OCI layout folder for podman. ``env`` (an app's decrypted secrets) is
    added to its environment, never to its command line, its log or a file."""

    app: A
    model_dir: Path
    http_port: int
    grpc_port: int = 0  # 0: no gRPC
    env: Mapping[str, str] = field(default_factory=dict)
