"""`aiedge demo`: the whole path on one machine, every joint real.

It starts, on loopback: a real OCI registry (Debian's ``docker-registry``), a Git repo made from
``examples/gitops/``, a build and push of the model (whose digest ``aiedge build`` commits into
that repo), a hub, and three agents (three sites) that pull, verify, smoke-test and serve the
model. It runs until Ctrl-C or SIGTERM, then stops everything it started. When one of its
processes dies (the hub, an agent, the registry) it says so and how to start it again, and keeps
the others running: a dead hub leaves every site serving, which is the point of the design.
Join tokens reach the agents in their environment (``AIEDGE_AGENT_TOKEN``), never on their
command line.

With ``--runtime podman``, site-a runs its app under podman: the demo takes aiedge's base image
(built with debootstrap once and cached under ``~/.cache/aiedge/base/images``), pushes it to the
demo's registry, builds the model on it (``aiedge build --base``) for an App of its own, and starts
site-a's agent with ``--runtime podman``; the other sites keep local processes.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import typer

from aiedge.cli.demo_gitops import APP_NAME, PODMAN_APP_NAME, SITES, prepare_gitops
from aiedge.cli.ports import free_port, free_port_pair
from aiedge.cli.processes import Child, Supervisor
from aiedge.containers.base import cached_base
from aiedge.containers.engine import Podman
from aiedge.containers.push import push_layout
from aiedge.errors import AiedgeError
from aiedge.oci.reference import ImageReference

REGISTRY_EXE = "docker-registry"
READY_TIMEOUT_S = 300.0
PODMAN_SITES = ("site-a",)  # with --runtime podman; the others keep local processes


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def demo_command(
    model: Path | None = typer.Option(
        None, "--model", help="Model to serve (dir or file); default: aiedge's own demo model."
    ),
    name: str | None = typer.Option(None, "--name", help="Model name (required with --model)."),
    test_data: Path | None = typer.Option(
        None, "--test-data", help="Smoke test: the seed's test-data ConfigMap or JSON {request, response}."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Keep the demo's files here (default: a temp dir, removed)."
    ),
    runtime: str = typer.Option(
        "process",
        "--runtime",
        help="process (every site), or podman: site-a runs its app under podman from a runnable image.",
    ),
    base_layout: Path | None = typer.Option(
        None,
        "--base-layout",
        help="With --runtime podman: the base image as an OCI layout (aiedge base build --out DIR); "
        "default: built once (root, debootstrap) and cached under ~/.cache/aiedge/base/images.",
    ),
) -> None:
    """Run a registry, a GitOps repo, a build, a hub and three sites on loopback until Ctrl-C."""
    if model is not None and (name is None or test_data is None):
        raise typer.BadParameter("--model needs --name and --test-data too", param_hint="--model")
    if model is None and (name or test_data):
        raise typer.BadParameter("--name and --test-data go with --model", param_hint="--name")
    if model is not None and not model.exists():
        raise AiedgeError(f"--model {model}: no such file or directory")
    if test_data is not None and not test_data.is_file():
        raise AiedgeError(f"--test-data {test_data}: no such file")
    if runtime not in ("process", "podman"):
        raise typer.BadParameter("process or podman", param_hint="--runtime")
    if base_layout is not None and runtime != "podman":
        raise typer.BadParameter("goes with --runtime podman", param_hint="--base-layout")

    root = data.resolve() if data else Path(tempfile.mkdtemp(prefix="aiedge-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(root / "logs")
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    started = time.monotonic()
    try:
        _run(root, sup, model, name, test_data, started, runtime, base_layout)
        while True:
            time.sleep(1)
            for child in sup.newly_dead():
                _say(_died(child))
    except _Stop:
        _say("stopping ...")
    finally:
        sup.stop_all()
        for s, h in previous.items():
            signal.signal(s, h)
        if data is None:
            shutil.rmtree(root, ignore_errors=True)
    _say("stopped everything the demo started")


def _run(
    root: Path,
    sup: Supervisor,
    model: Path | None,
    name: str | None,
    test_data: Path | None,
    started: float,
    runtime: str = "process",
    base_layout: Path | None = None,
) -> None:
    # onnx is imported here, not with the CLI: the slim base image has aiedge without it
    from aiedge.build.demo_model import DEMO_MODEL_NAME, demo_test_data, write_demo_model

    aiedge = [sys.executable, "-m", "aiedge"]
    _say(f"demo data in {root}")
    if model is None:
        name = DEMO_MODEL_NAME
        model = write_demo_model(root / "model")
        test_data = root / "test-data.json"
        test_data.write_text(json.dumps(demo_test_data()))
    assert name is not None and test_data is not None
    podman_sites = PODMAN_SITES if runtime == "podman" else ()
    if podman_sites:
        Podman.setup(root / "podman")  # podman and runc are there, before a minute of base build
        _say(f"--runtime podman: {', '.join(podman_sites)} will run its app under podman")
        base_layout = base_layout or cached_base(Path.home() / ".cache" / "aiedge" / "base", _say)

    registry = _start_registry(root, sup)
    _say(f"registry ready at http://{registry}")

    runnable_repository = f"{registry}/aiedge/{name}-runnable"
    gitops = prepare_gitops(
        root / "gitops",
        model_name=name,
        repository=f"{registry}/aiedge/{name}",
        test_data=test_data,
        podman_sites=podman_sites,
        runnable_repository=runnable_repository,
    )
    _say(f"GitOps repo at {gitops}")

    _say(f"building {name} from {model} ...")
    result = _build(model, name, f"{registry}/aiedge/{name}:demo", test_data, gitops, APP_NAME)
    _say(f"pushed {result['image']}")
    digests = {site: result["digest"] for site in SITES}
    if podman_sites and base_layout is not None:
        base_ref = ImageReference.parse(f"{registry}/aiedge/base:demo")
        _say(f"pushing the base image {base_layout} to {base_ref} ...")
        base_digest = asyncio.run(push_layout(base_layout, base_ref))
        _say(f"building {name} on the base image (a runnable image for podman) ...")
        runnable = _build(
            model,
            name,
            f"{runnable_repository}:demo",
            test_data,
            gitops,
            PODMAN_APP_NAME,
            "--base",
            f"{registry}/aiedge/base@{base_digest}",
        )
        _say(f"pushed {runnable['image']} (App {PODMAN_APP_NAME}, for {', '.join(podman_sites)})")
        digests.update({site: runnable["digest"] for site in podman_sites})

    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub_data = root / "hub"
    hub_cmd = [*aiedge, "hub", "--gitops", str(gitops), "--data", str(hub_data), "--port", str(hub_port)]
    sup.start("hub", [*hub_cmd, "--host", "127.0.0.1"])
    _wait(lambda: httpx.get(f"{hub_url}/api/v1/health", timeout=2).status_code == 200, sup, "the hub")
    print(f"hub ready at {hub_url}", flush=True)
    # the operator API needs a token too: an admin one for whoever runs the demo, in a 0600 file
    operator_file = root / "operator-token"
    create = ["hub", "operator", "create", "demo", "--role", "admin", "--data", str(hub_data)]
    made = subprocess.run(
        [*aiedge, *create, "--out", str(operator_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise AiedgeError(f"could not create an operator token: {made.stderr.strip()}")
    operator = {"Authorization": f"Bearer {operator_file.read_text().strip()}"}
    print(f"operator token in {operator_file}", flush=True)

    for site in SITES:
        # enrolment as a user does it: a one-time join token per site, which the agent trades
        # for the site's own credential (the hub refuses agents without one)
        token = subprocess.run(
            [*aiedge, "hub", "token", "create", "--site", site, "--data", str(hub_data)],
            capture_output=True,
            text=True,
            check=False,
        )
        if token.returncode != 0:
            raise AiedgeError(f"could not create a join token for {site}: {token.stderr.strip()}")
        offset = free_port_pair() - 8080  # the site listens on PORT (HTTP) and PORT+1 (gRPC)
        agent_cmd = [*aiedge, "agent", "--hub", hub_url, "--site", site]
        if site in podman_sites:
            agent_cmd += ["--runtime", "podman"]
        sup.start(
            f"agent-{site}",
            [
                *agent_cmd,
                "--data",
                str(root / "sites" / site),
                "--port-offset",
                str(offset),
                "--poll-interval",
                "2",
            ],
            env={"AIEDGE_AGENT_TOKEN": token.stdout.strip()},  # not argv: every user sees that in ps
        )
    ready: set[str] = set()

    def all_ready() -> bool:
        sites: list[dict[str, Any]] = httpx.get(f"{hub_url}/api/v1/sites", timeout=5, headers=operator).json()
        for s in sites:
            apps = s.get("apps") or []
            if s["name"] in ready or s["status"] != "healthy" or not apps or not apps[0].get("url"):
                continue
            if apps[0].get("digest") != digests.get(s["name"]):
                continue
            ready.add(s["name"])
            print(f"site {s['name']} ready at {apps[0]['url']}", flush=True)
            if s["name"] in podman_sites:
                _say(
                    f"  ({s['name']} serves from a podman container: podman ps --filter label=io.aiedge.app)"
                )
        return ready >= set(SITES)

    _wait(all_ready, sup, "the sites", interval=0.5)
    _say(f"demo ready in {time.monotonic() - started:.1f} s; try:")
    _say(f"  open {hub_url}/ (dashboard; log in with the token in {operator_file})")
    _say(f"  aiedge status --hub {hub_url} --token-file {operator_file}")
    _say("Ctrl-C stops everything")


def _build(model: Path, name: str, image: str, test_data: Path, gitops: Path, app: str, *extra: str) -> Any:
    """`aiedge build ... --gitops --app APP --json`, as a user runs it; returns its JSON result."""
    cmd = [sys.executable, "-m", "aiedge", "build", str(model), "--name", name, "--image", image]
    cmd += ["--test-data", str(test_data), "--gitops", str(gitops), "--app", app, "--json", *extra]
    build = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise AiedgeError(f"the build failed:\n{build.stderr.strip() or build.stdout.strip()}")
    return json.loads(build.stdout.strip().splitlines()[-1])


def _start_registry(root: Path, sup: Supervisor) -> str:
    exe = shutil.which(REGISTRY_EXE) or (
        f"/usr/bin/{REGISTRY_EXE}" if Path(f"/usr/bin/{REGISTRY_EXE}").exists() else None
    )
    if exe is None:
        raise AiedgeError(
            "docker-registry not found: install Debian's docker-registry package "
            "(./dev demo does it when it can)"
        )
    port = free_port()
    cfg = root / "registry" / "config.yml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'registry' / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    sup.start("registry", [exe, "serve", str(cfg)])
    _wait(
        lambda: httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200, sup, "the registry"
    )
    return f"127.0.0.1:{port}"


def _wait(check: Any, sup: Supervisor, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for child in sup.dead():
            raise AiedgeError(
                f"{child.name} exited while waiting for {what}; its log ({child.log}):\n{child.log_tail()}"
            )
        try:
            if check():
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(interval)
    raise AiedgeError(f"timed out after {READY_TIMEOUT_S:.0f} s waiting for {what}; logs in {sup.log_dir}")


_WHAT_IT_MEANS = {
    "hub": "every site keeps serving what it runs, without its hub (no new revisions, no status)",
    "registry": "the sites keep serving; new downloads fail until it is back",
}


def _died(child: Child) -> str:
    """What to tell when ``child`` died: what that means, its log's tail, how to restart it."""
    meaning = _WHAT_IT_MEANS.get(
        child.name, f"{child.name.removeprefix('agent-')} stops serving until its agent is back; "
        "the other sites keep serving"
    )  # fmt: skip
    return (
        f"{child.name} stopped unexpectedly ({child.exit_description}); the demo keeps running: "
        f"{meaning}.\n"
        f"last lines of its log ({child.log}):\n{child.log_tail(8)}\n"
        f"start it again (in another terminal; Ctrl-C here still stops the rest) with:\n"
        f"  {shlex.join(child.cmd)}"
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
