"""Helpers for tests that run `aiedge build` as a child process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support import aiedge_cmd

HOUSING = Path("seed-models/tensorflow-housing/tf2model")
HOUSING_TD = Path("seed-gitops/examples/tekton/aiedge-e2e/test-data/tensorflow-housing-test-data-cm.yaml")


def build(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("build", *args),
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000", **(env or {})},
        check=False,
    )


def last_json(out: str) -> dict[str, str]:
    doc: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return doc


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@e.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@e.invalid",
}
