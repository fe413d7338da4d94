"""The demo's GitOps repo: ``examples/gitops/`` copied into a fresh Git repository, with its App
pointed at the demo's model, registry and test data (comments and layout kept).

With podman sites (``aiedge demo --runtime podman``) those sites get the label ``runtime: podman``
and their own App, the same model in a runnable image (``aiedge build --base``): the near-edge
placement leaves them out and a second placement gives them that App."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from aiedge.errors import AiedgeError
from aiedge.smoke.testdata import load_test_data

APP_NAME = "housing"
PODMAN_APP_NAME = "housing-podman"
PODMAN_LABEL = ("runtime", "podman")
SITES = ("site-a", "site-b", "site-c")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "gitops"

API_VERSION = "aiedge.io/v1alpha1"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "aiedge demo",
    "GIT_AUTHOR_EMAIL": "demo@aiedge.invalid",
    "GIT_COMMITTER_NAME": "aiedge demo",
    "GIT_COMMITTER_EMAIL": "demo@aiedge.invalid",
}


def _protocol_of(path: str) -> str:
    if path.startswith("/v1/"):
        return "tfserving"
    if path.startswith("/invocations"):
        return "mlflow"
    return "v2"


def prepare_gitops(
    dest: Path,
    *,
    model_name: str,
    repository: str,
    test_data: Path,
    podman_sites: Sequence[str] = (),
    runnable_repository: str = "",
) -> Path:
    if not EXAMPLES.is_dir():
        raise AiedgeError(f"examples/gitops not found at {EXAMPLES}: run the demo from a clone of aiedge")
    shutil.copytree(EXAMPLES, dest)
    smoke = load_test_data(test_data, model=model_name)
    yaml = YAML()
    yaml.preserve_quotes = True
    app_spec: dict[str, Any] = {}
    for file in sorted(dest.rglob("*.y*ml")):
        docs: list[Any] = list(yaml.load_all(file.read_text()))
        changed = False
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            kind, name = doc.get("kind"), doc["metadata"]["name"]
            if kind == "App" and name == APP_NAME:
                spec = doc["spec"]
                spec["model"] = model_name
                spec["protocol"] = _protocol_of(smoke.path)
                spec["image"] = {"repository": repository}
                spec["test"] = {"path": smoke.path, "request": smoke.request, "response": smoke.response}
                app_spec, changed = spec, True
            elif kind == "Site" and name in podman_sites:
                doc["metadata"].setdefault("labels", {})[PODMAN_LABEL[0]] = PODMAN_LABEL[1]
                changed = True
            elif kind == "Placement" and podman_sites:
                selector = doc["spec"]["siteSelector"]
                selector.setdefault("matchExpressions", []).append(
                    {"key": PODMAN_LABEL[0], "operator": "NotIn", "values": [PODMAN_LABEL[1]]}
                )
                changed = True
        if changed:
            with file.open("w") as fh:
                yaml.dump_all(docs, fh)
    if podman_sites:
        _add_podman_app(dest, yaml, app_spec, runnable_repository)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", f"demo: desired state for {model_name} on {len(SITES)} sites")
    return dest


def _add_podman_app(dest: Path, yaml: YAML, app_spec: dict[str, Any], repository: str) -> None:
    """The App of the podman sites (the same model and test, a runnable image) and its placement."""
    spec = json.loads(json.dumps(app_spec))  # a plain copy, without the example's comments
    spec["image"] = {"repository": repository}
    app = {"apiVersion": API_VERSION, "kind": "App", "metadata": {"name": PODMAN_APP_NAME}, "spec": spec}
    placement = {
        "apiVersion": API_VERSION,
        "kind": "Placement",
        "metadata": {"name": "podman-sites"},
        "spec": {"siteSelector": {"matchLabels": dict([PODMAN_LABEL])}, "apps": [PODMAN_APP_NAME]},
    }
    for path, doc, why in (
        (dest / "apps" / f"{PODMAN_APP_NAME}.yaml", app, "the model in a runnable image, for podman sites"),
        (dest / "placements" / "podman-sites.yaml", placement, "sites labelled runtime=podman run it"),
    ):
        with path.open("w") as fh:
            fh.write(f"# aiedge demo --runtime podman: {why}\n")
            yaml.dump(doc, fh)


def _git(repo: Path, *args: str) -> None:
    import os

    proc = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **_GIT_ENV}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AiedgeError(f"git {' '.join(args)} in {repo}: {proc.stderr.strip()}")
