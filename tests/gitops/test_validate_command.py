"""`aiedge validate DIR` as a real process: a one-line summary and exit 0 for the examples;
one file:line:col line per error on stderr and exit 1 otherwise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.gitops.conftest import EXAMPLES
from tests.support import aiedge_cmd


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("validate", *args), capture_output=True, text=True, timeout=60, check=False
    )


def test_examples_validate() -> None:
    r = _validate(str(EXAMPLES))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok: 1 app, 3 sites, 1 placement\n"
    assert "housing is awaiting its first build" in r.stderr


def test_errors_are_file_line_col(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES, root)
    app = root / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("port: 8080", "port: eighty"))
    (root / "sites" / "site-a.yaml").write_text(
        "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: [\n"
    )
    r = _validate(str(root))
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("apps/housing.yaml:11:9: App: spec.port: Input should be a valid integer")
    assert lines[1].startswith("sites/site-a.yaml:4:1: invalid YAML:")
    assert len(lines) == 2


def test_missing_directory_is_one_line() -> None:
    r = _validate("/nonexistent/gitops")
    assert r.returncode == 1
    assert r.stderr == "error: /nonexistent/gitops is not a directory\n"
