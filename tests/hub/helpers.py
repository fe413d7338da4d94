"""Helpers of the hub tests (imported by tests; fixtures stay in conftest.py): starting a real
`aiedge hub` process and waiting for it, enrolling a site, making an operator token."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


@dataclass
class Hub:
    url: str
    data: Path
    proc: Proc


StartHub = Callable[..., Hub]


def launch_hub(
    tmp_path: Path,
    gitops: Path,
    *args: str,
    db: str | None = None,
    scheme: str = "http",
    env: dict[str, str] | None = None,
) -> Hub:
    """Start `aiedge hub --gitops REPO --data DIR --port P --poll-interval 0.2 [ARGS]`; returns once
    it logged that it is ready. The caller stops ``hub.proc``."""
    port = free_port()
    if db is not None and db != "sqlite":
        args = (*args, "--db", db)
    data = tmp_path / f"hub-{port}"
    proc = Proc(
        aiedge_cmd(
            "hub", "--gitops", str(gitops), "--data", str(data), "--port", str(port),
            "--poll-interval", "0.2", *args,
        ),
        tmp_path / f"logs/hub-{port}.log",
        env=env,
    )  # fmt: skip
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        if scheme == "http":
            wait_http(f"{url}/api/v1/health")
        wait_until(lambda: f"hub ready at {url}" in proc.log(), timeout=10, what="the ready line")
    except BaseException:
        proc.stop()
        raise
    return Hub(url, data, proc)


def fleet_files(
    digest: str | None,
    sites: dict[str, dict[str, str]] | None = None,
    rollout: str = "",
    app_extra: str = "",
) -> dict[str, bytes]:
    """The YAML files of a small GitOps repo: one App ``housing`` (``digest`` or awaiting its first
    build), the ``sites`` given (name -> labels; default three near-edge sites) and one Placement
    ``near-edge`` of every site labelled tier=near-edge, with ``rollout`` appended to its spec."""
    sites = sites if sites is not None else {n: {"tier": "near-edge"} for n in ("site-a", "site-b", "site-c")}
    image = "    repository: 127.0.0.1:5000/aiedge/housing\n" + (f"    digest: {digest}\n" if digest else "")
    files = {
        "apps/housing.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata:\n  name: housing\nspec:\n"
            f"  model: housing\n  protocol: tfserving\n  image:\n{image}{app_extra}"
        ),
        "placements/near-edge.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n  name: near-edge\nspec:\n"
            "  siteSelector:\n    matchLabels:\n      tier: near-edge\n  apps: [housing]\n" + rollout
        ),
    }
    for name, labels in sites.items():
        lines = "".join(f"    {k}: {v}\n" for k, v in labels.items())
        files[f"sites/{name}.yaml"] = (
            f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: {name}\n  labels:\n{lines}"
        )
    return {p: text.encode() for p, text in files.items()}


def operator_token(hub_data: Path, role: str = "admin", name: str | None = None) -> str:
    """A new operator token for the hub of ``hub_data``, made as an operator makes one
    (``aiedge hub operator create``)."""
    name = name or f"{role}-op"
    cmd = aiedge_cmd("hub", "operator", "create", name, "--role", role, "--data", str(hub_data))
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def enroll(hub: Hub, site: str) -> str:
    """``site``'s credential: a join token (``aiedge hub token create``) traded at the hub."""
    cmd = aiedge_cmd("hub", "token", "create", "--site", site, "--data", str(hub.data))
    join = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    r = httpx.post(f"{hub.url}/api/v1/enroll", json={"token": join}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["credential"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
