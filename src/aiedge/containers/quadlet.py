"""systemd quadlet units (``.container``, ``.volume``; podman >= 4.4 turns them into services) for a
site: the agent itself, and optionally each app of a desired state pinned by digest, for sites
that should keep serving through reboots even before the agent is back.

Only text is written here; nothing is started. Install by copying the folder's files into
``/etc/containers/systemd/`` and running ``systemctl daemon-reload``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiedge.contracts import DesiredApp

AGENT_DATA = "/var/lib/aiedge"


@dataclass(frozen=True)
class AgentUnit:
    image: str  # the base image (REG/REPO@sha256:...), which carries aiedge
    hub: str
    site: str
    token: str | None = None
    runtime: str = "process"  # apps as processes inside the agent's container
    extra_args: list[str] = field(default_factory=list)


def _quote(arg: str) -> str:
    """systemd's quoting for Exec= words."""
    if arg and all(c.isalnum() or c in "-_./:=@,+" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    out = ["# written by aiedge agent install --quadlet; edits are overwritten"]
    for name, items in sections:
        out.append(f"\n[{name}]")
        out.extend(f"{k}={v}" for k, v in items)
    return "\n".join(out) + "\n"


def agent_units(unit: AgentUnit) -> dict[str, str]:
    """``aiedge-agent.container`` and the ``aiedge-agent.volume`` holding its cache and state."""
    args = ["agent", "--hub", unit.hub, "--site", unit.site, "--data", AGENT_DATA, "--host", "0.0.0.0"]
    args += unit.extra_args
    if unit.runtime != "process":
        args += ["--runtime", unit.runtime]
    container = _render(
        [
            (
                "Unit",
                [
                    ("Description", f"aiedge agent for site {unit.site}"),
                    ("Wants", "network-online.target"),
                    ("After", "network-online.target"),
                ],
            ),
            (
                "Container",
                [
                    ("ContainerName", "aiedge-agent"),
                    ("Image", unit.image),
                    ("Exec", " ".join(_quote(a) for a in args)),
                    ("Network", "host"),  # the site ports are the host's
                    ("Volume", f"aiedge-agent.volume:{AGENT_DATA}"),
                    ("Label", f"io.aiedge.site={unit.site}"),
                    # the join token in the environment, not on the agent's command line (ps)
                    *([("Environment", f"AIEDGE_AGENT_TOKEN={unit.token}")] if unit.token else []),
                ],
            ),
            ("Service", [("Restart", "always"), ("TimeoutStopSec", "30")]),
            ("Install", [("WantedBy", "multi-user.target default.target")]),
        ]
    )
    volume = _render(
        [
            (
                "Volume",
                [
                    ("VolumeName", "aiedge-agent"),
                    ("User", "1000"),
                    ("Group", "1000"),
                    ("Label", f"io.aiedge.site={unit.site}"),
                    # the join token in the environment, not on the agent's command line (ps)
                    *([("Environment", f"AIEDGE_AGENT_TOKEN={unit.token}")] if unit.token else []),
                ],
            )
        ]
    )
    return {"aiedge-agent.container": container, "aiedge-agent.volume": volume}


def app_unit(app: DesiredApp, *, host: str = "127.0.0.1", port_offset: int = 0) -> tuple[str, str]:
    """(file name, text) of one app's ``.container``: the image by digest, its ports published."""
    ports = [("PublishPort", f"{host}:{app.port + port_offset}:8080")]
    if app.grpc_port is not None:
        ports.append(("PublishPort", f"{host}:{app.grpc_port + port_offset}:8081"))
    text = _render(
        [
            ("Unit", [("Description", f"aiedge app {app.name} ({app.model})")]),
            (
                "Container",
                [
                    ("ContainerName", f"aiedge-app-{app.name}"),
                    ("Image", app.image),
                    *ports,
                    ("Label", f"io.aiedge.app={app.name}"),
                    ("Label", f"io.aiedge.digest={app.digest}"),
                ],
            ),
            ("Service", [("Restart", "always")]),
            ("Install", [("WantedBy", "multi-user.target default.target")]),
        ]
    )
    return f"aiedge-app-{app.name}.container", text


def write_units(
    out: Path, agent: AgentUnit | None, apps: list[DesiredApp], **app_options: object
) -> list[Path]:
    """Write the units into ``out``; returns the files written, sorted."""
    files: dict[str, str] = dict(agent_units(agent)) if agent is not None else {}
    for app in apps:
        name, text = app_unit(app, **app_options)  # type: ignore[arg-type]
        files[name] = text
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = out / name
        path.write_text(text)
        if "AIEDGE_AGENT_TOKEN=" in text:
            path.chmod(0o600)  # it holds the join token
        written.append(path)
    return written
