"""The demo's GitOps repo: ``examples/gitops/`` copied into a fresh Git repository, with its App
pointed at the demo's model, registry and test data (comments and layout kept)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from aiedge.errors import AiedgeError
from aiedge.smoke.testdata import load_test_data

APP_NAME = "housing"
SITES = ("site-a", "site-b", "site-c")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "gitops"

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


def prepare_gitops(dest: Path, *, model_name: str, repository: str, test_data: Path) -> Path:
    if not EXAMPLES.is_dir():
        raise AiedgeError(f"examples/gitops not found at {EXAMPLES}: run the demo from a clone of aiedge")
    shutil.copytree(EXAMPLES, dest)
    smoke = load_test_data(test_data, model=model_name)
    yaml = YAML()
    yaml.preserve_quotes = True
    for file in sorted(dest.rglob("*.y*ml")):
        docs: list[Any] = list(yaml.load_all(file.read_text()))
        changed = False
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "App" and doc["metadata"]["name"] == APP_NAME:
                spec = doc["spec"]
                spec["model"] = model_name
                spec["protocol"] = _protocol_of(smoke.path)
                spec["image"] = {"repository": repository}
                spec["test"] = {"path": smoke.path, "request": smoke.request, "response": smoke.response}
                changed = True
        if changed:
            with file.open("w") as fh:
                yaml.dump_all(docs, fh)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", f"demo: desired state for {model_name} on {len(SITES)} sites")
    return dest


def _git(repo: Path, *args: str) -> None:
    import os

    proc = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **_GIT_ENV}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AiedgeError(f"git {' '.join(args)} in {repo}: {proc.stderr.strip()}")
