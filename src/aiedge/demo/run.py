"""Running the demo: start everything in order, watch it until Ctrl-C or SIGTERM, stop it all.

The order is the path a model takes: registry, GitOps repo, build (and, for podman sites, the
base image and a runnable build), hub, one agent per site; then wait until every site serves the
digest the build made. Anything that fails on the way stops what was started and says why, in
one line. While it runs, a process that dies on its own is reported once with what that means
and how to start it again; the others keep running.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from aiedge.containers.base_image import cached_base
from aiedge.containers.engine import Podman
from aiedge.containers.push import push_layout
from aiedge.demo.gitops import APP_NAME, PODMAN_APP_NAME, SITES, prepare_gitops
from aiedge.demo.supervisor import Supervisor
from aiedge.errors import AiedgeError
from aiedge.oci.reference import ImageReference
from aiedge.processes import Child, free_port, free_port_pair

REGISTRY_EXE = "docker-registry"
READY_TIMEOUT_S = 300.0
PODMAN_SITES = ("site-a",)  # with --runtime podman; the others keep local processes
AIEDGE = [sys.executable, "-m", "aiedge"]

_WHAT_IT_MEANS = {
    "hub": "every site keeps serving what it runs, without its hub (no new revisions, no status)",
    "registry": "the sites keep serving; new downloads fail until it is back",
}


@dataclass(frozen=True)
class DemoOptions:
    model: Path | None = None  # default: aiedge's own demo model
    name: str | None = None  # with model
    test_data: Path | None = None  # with model
    data: Path | None = None  # kept when given; a temp dir otherwise
    runtime: str = "process"  # or podman: site-a serves from a podman container
    base_layout: Path | None = None  # with podman: the base image as an OCI layout


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_demo(options: DemoOptions) -> None:
    """Run the demo until Ctrl-C or SIGTERM; everything it started is stopped on the way out."""
    root = options.data.resolve() if options.data else Path(tempfile.mkdtemp(prefix="aiedge-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(root / "logs")
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _Demo(root, sup, options).start()
        while True:
            time.sleep(1)
            for child in sup.newly_dead():
                say(died(child))
    except _Stop:
        say("stopping ...")
    finally:
        sup.stop_all()
        for s, h in previous.items():
            signal.signal(s, h)
        if options.data is None:
            shutil.rmtree(root, ignore_errors=True)
    say("stopped everything the demo started")


class _Demo:
    """The demo's steps, in order; ``start`` returns when every site is ready."""

    def __init__(self, root: Path, sup: Supervisor, options: DemoOptions) -> None:
        self.root = root
        self.sup = sup
        self.options = options
        self.started = time.monotonic()
        self.podman_sites = PODMAN_SITES if options.runtime == "podman" else ()
        self.digests: dict[str, str] = {}  # site -> the digest it must end up serving
        self.operator: dict[str, str] = {}  # the operator API's Authorization header

    def start(self) -> None:
        say(f"demo data in {self.root}")
        model, name, test_data = self._model()
        base_layout = self._podman_setup()
        registry = self._start_registry()
        say(f"registry ready at http://{registry}")
        runnable_repository = f"{registry}/aiedge/{name}-runnable"
        gitops = prepare_gitops(
            self.root / "gitops",
            model_name=name,
            repository=f"{registry}/aiedge/{name}",
            test_data=test_data,
            podman_sites=self.podman_sites,
            runnable_repository=runnable_repository,
        )
        say(f"GitOps repo at {gitops}")
        say(f"building {name} from {model} ...")
        result = build(model, name, f"{registry}/aiedge/{name}:demo", test_data, gitops, APP_NAME)
        say(f"pushed {result['image']}")
        self.digests = {site: result["digest"] for site in SITES}
        if base_layout is not None:
            self._build_runnable(registry, base_layout, model, name, test_data, gitops)
        hub_url = self._start_hub(gitops)
        print(f"hub ready at {hub_url}", flush=True)
        operator_file = self._operator_token()
        print(f"operator token in {operator_file}", flush=True)
        for site in SITES:
            self._start_agent(site, hub_url)
        self._wait_sites(hub_url)
        say(f"demo ready in {time.monotonic() - self.started:.1f} s; try:")
        say(f"  open {hub_url}/ (dashboard; log in with the token in {operator_file})")
        say(f"  aiedge status --hub {hub_url} --token-file {operator_file}")
        say("Ctrl-C stops everything")

    def _model(self) -> tuple[Path, str, Path]:
        """The model, its name and its test data: the options', or aiedge's own demo model."""
        opts = self.options
        if opts.model is not None:
            assert opts.name is not None and opts.test_data is not None
            return opts.model, opts.name, opts.test_data
        # onnx is imported here, not with the CLI: the slim base image has aiedge without it
        from aiedge.demo.model import DEMO_MODEL_NAME, demo_test_data, write_demo_model

        test_data = self.root / "test-data.json"
        test_data.write_text(json.dumps(demo_test_data()))
        return write_demo_model(self.root / "model"), DEMO_MODEL_NAME, test_data

    def _podman_setup(self) -> Path | None:
        """With podman sites: podman checked, and the base image's layout (built once, cached)."""
        if not self.podman_sites:
            return None
        Podman.setup(self.root / "podman")  # podman and runc are there, before a minute of base build
        say(f"--runtime podman: {', '.join(self.podman_sites)} will run its app under podman")
        return self.options.base_layout or cached_base(Path.home() / ".cache" / "aiedge" / "base", say)

    def _build_runnable(
        self, registry: str, base_layout: Path, model: Path, name: str, test_data: Path, gitops: Path
    ) -> None:
        base_ref = ImageReference.parse(f"{registry}/aiedge/base:demo")
        say(f"pushing the base image {base_layout} to {base_ref} ...")
        base_digest = asyncio.run(push_layout(base_layout, base_ref))
        say(f"building {name} on the base image (a runnable image for podman) ...")
        image = f"{registry}/aiedge/{name}-runnable:demo"
        base = f"{registry}/aiedge/base@{base_digest}"
        runnable = build(model, name, image, test_data, gitops, PODMAN_APP_NAME, "--base", base)
        sites = ", ".join(self.podman_sites)
        say(f"pushed {runnable['image']} (App {PODMAN_APP_NAME}, for {sites})")
        self.digests.update({site: runnable["digest"] for site in self.podman_sites})

    def _start_registry(self) -> str:
        exe = shutil.which(REGISTRY_EXE) or (
            f"/usr/bin/{REGISTRY_EXE}" if Path(f"/usr/bin/{REGISTRY_EXE}").exists() else None
        )
        if exe is None:
            raise AiedgeError(
                "docker-registry not found: install Debian's docker-registry package "
                "(./dev demo does it when it can)"
            )
        port = free_port()
        cfg = self.root / "registry" / "config.yml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'registry' / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        self.sup.start("registry", [exe, "serve", str(cfg)])
        self._wait(lambda: _ok(f"http://127.0.0.1:{port}/v2/"), "the registry")
        return f"127.0.0.1:{port}"

    def _start_hub(self, gitops: Path) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [*AIEDGE, "hub", "--gitops", str(gitops), "--data", str(self.root / "hub"), "--port", str(port)]
        self.sup.start("hub", [*cmd, "--host", "127.0.0.1"])
        self._wait(lambda: _ok(f"{url}/api/v1/health"), "the hub")
        return url

    def _operator_token(self) -> Path:
        """The operator API needs a token too: an admin one for whoever runs the demo, in a 0600
        file; returns that file."""
        operator_file = self.root / "operator-token"
        create = ["hub", "operator", "create", "demo", "--role", "admin", "--data", str(self.root / "hub")]
        made = subprocess.run(
            [*AIEDGE, *create, "--out", str(operator_file)], capture_output=True, text=True, check=False
        )
        if made.returncode != 0:
            raise AiedgeError(f"could not create an operator token: {made.stderr.strip()}")
        self.operator = {"Authorization": f"Bearer {operator_file.read_text().strip()}"}
        return operator_file

    def _start_agent(self, site: str, hub_url: str) -> None:
        # enrolment as a user does it: a one-time join token per site, which the agent trades
        # for the site's own credential (the hub refuses agents without one)
        token = subprocess.run(
            [*AIEDGE, "hub", "token", "create", "--site", site, "--data", str(self.root / "hub")],
            capture_output=True,
            text=True,
            check=False,
        )
        if token.returncode != 0:
            raise AiedgeError(f"could not create a join token for {site}: {token.stderr.strip()}")
        offset = free_port_pair() - 8080  # the site listens on PORT (HTTP) and PORT+1 (gRPC)
        cmd = [*AIEDGE, "agent", "--hub", hub_url, "--site", site]
        if site in self.podman_sites:
            cmd += ["--runtime", "podman"]
        cmd += ["--data", str(self.root / "sites" / site), "--port-offset", str(offset)]
        cmd += ["--poll-interval", "2"]
        # the token in the environment, not argv: every user sees argv in ps
        self.sup.start(f"agent-{site}", cmd, env={"AIEDGE_AGENT_TOKEN": token.stdout.strip()})

    def _wait_sites(self, hub_url: str) -> None:
        """Until the hub reports every site healthy, serving the digest it must serve."""
        ready: set[str] = set()

        def all_ready() -> bool:
            sites: list[dict[str, Any]] = httpx.get(
                f"{hub_url}/api/v1/sites", timeout=5, headers=self.operator
            ).json()
            for s in sites:
                apps = s.get("apps") or []
                if s["name"] in ready or s["status"] != "healthy" or not apps or not apps[0].get("url"):
                    continue
                if apps[0].get("digest") != self.digests.get(s["name"]):
                    continue
                ready.add(s["name"])
                print(f"site {s['name']} ready at {apps[0]['url']}", flush=True)
                if s["name"] in self.podman_sites:
                    say(
                        f"  ({s['name']} serves from a podman container: "
                        "podman ps --filter label=io.aiedge.app)"
                    )
            return ready >= set(SITES)

        self._wait(all_ready, "the sites", interval=0.5)

    def _wait(self, check: Callable[[], bool], what: str, interval: float = 0.2) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for child in self.sup.dead():
                raise AiedgeError(
                    f"{child.name} exited while waiting for {what}; "
                    f"its log ({child.log_path}):\n{child.log_tail()}"
                )
            try:
                if check():
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(interval)
        raise AiedgeError(
            f"timed out after {READY_TIMEOUT_S:.0f} s waiting for {what}; logs in {self.sup.log_dir}"
        )


def _ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def build(model: Path, name: str, image: str, test_data: Path, gitops: Path, app: str, *extra: str) -> Any:
    """`aiedge build ... --gitops --app APP --json`, as a user runs it; returns its JSON result."""
    cmd = [*AIEDGE, "build", str(model), "--name", name, "--image", image]
    cmd += ["--test-data", str(test_data), "--gitops", str(gitops), "--app", app, "--json", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AiedgeError(f"the build failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def died(child: Child) -> str:
    """What to tell when ``child`` died: what that means, its log's tail, how to restart it."""
    meaning = _WHAT_IT_MEANS.get(
        child.name, f"{child.name.removeprefix('agent-')} stops serving until its agent is back; "
        "the other sites keep serving"
    )  # fmt: skip
    return (
        f"{child.name} stopped unexpectedly ({child.exit_description}); the demo keeps running: "
        f"{meaning}.\n"
        f"last lines of its log ({child.log_path}):\n{child.log_tail(8)}\n"
        f"start it again (in another terminal; Ctrl-C here still stops the rest) with:\n"
        f"  {shlex.join(child.cmd)}"
    )


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
