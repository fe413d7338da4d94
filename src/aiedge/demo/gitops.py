"""The demo's GitOps repo: the example repo (``examples/gitops/``, package data of this package)
copied into a fresh Git repository, with its App pointed at the demo's model, registry and test
data (comments and layout kept).

With podman sites (``aiedge demo --runtime podman``) those sites get the label ``runtime: podman``
and their own App, the same model in a runnable image (``aiedge build --base``): the near-edge
placement leaves them out and a second placement gives them that App."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from aiedge.errors import AiedgeError
from aiedge.gitops.schema import API_VERSION
from aiedge.gitops.worktree import named, round_trip_yaml, work_tree_documents
from aiedge.smoke.testdata import load_test_data

APP_NAME = "housing"
PODMAN_APP_NAME = "housing-podman"
PODMAN_LABEL = ("runtime", "podman")
SITES = ("site-a", "site-b", "site-c")

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "aiedge demo",
    "GIT_AUTHOR_EMAIL": "demo@aiedge.invalid",
    "GIT_COMMITTER_NAME": "aiedge demo",
    "GIT_COMMITTER_EMAIL": "demo@aiedge.invalid",
}


def examples() -> Traversable:
    """The example GitOps repo, as installed with aiedge (a wheel carries it as package data)."""
    return resources.files("aiedge.demo") / "examples" / "gitops"


def copy_examples(dest: Path) -> None:
    """Copy the example repo to ``dest`` (created; it must not exist)."""
    src = examples()
    if not src.is_dir():
        raise AiedgeError(f"the example GitOps repo is missing from this installation ({src})")
    dest.mkdir(parents=True)
    todo: list[tuple[Traversable, Path]] = [(src, dest)]
    while todo:
        folder, out = todo.pop()
        for entry in folder.iterdir():
            if entry.name == "__pycache__":
                continue
            if entry.is_dir():
                (out / entry.name).mkdir()
                todo.append((entry, out / entry.name))
            else:
                (out / entry.name).write_bytes(entry.read_bytes())


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
    copy_examples(dest)
    smoke = load_test_data(test_data, model=model_name)
    app_spec: dict[str, Any] = {}
    for work in work_tree_documents(dest):
        doc = work.doc
        if named(doc, "App", APP_NAME):
            spec = doc["spec"]
            spec["model"] = model_name
            spec["protocol"] = _protocol_of(smoke.path)
            spec["image"] = {"repository": repository}
            spec["test"] = {"path": smoke.path, "request": smoke.request, "response": smoke.response}
            app_spec = spec
        elif doc.get("kind") == "Site" and doc["metadata"]["name"] in podman_sites:
            doc["metadata"].setdefault("labels", {})[PODMAN_LABEL[0]] = PODMAN_LABEL[1]
        elif doc.get("kind") == "Placement" and podman_sites:
            selector = doc["spec"]["siteSelector"]
            selector.setdefault("matchExpressions", []).append(
                {"key": PODMAN_LABEL[0], "operator": "NotIn", "values": [PODMAN_LABEL[1]]}
            )
        else:
            continue
        work.write()
    if podman_sites:
        _add_podman_app(dest, app_spec, runnable_repository)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", f"demo: desired state for {model_name} on {len(SITES)} sites")
    return dest


def _add_podman_app(dest: Path, app_spec: dict[str, Any], repository: str) -> None:
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
        buf = io.StringIO()
        round_trip_yaml("").dump(doc, buf)
        path.write_text(f"# aiedge demo --runtime podman: {why}\n{buf.getvalue()}")


def _git(repo: Path, *args: str) -> None:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **_GIT_ENV}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AiedgeError(f"git {' '.join(args)} in {repo}: {proc.stderr.strip()}")
