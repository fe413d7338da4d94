"""The CLI's conventions, on the real command: ``--version``, ``-V`` and ``aiedge version`` import
no command (they answered after 1.5-3 s of imports before); ``aiedge completion bash|zsh|fish``
prints scripts whose completion requests work; the options of ``serve``, ``agent`` and ``hub``
come from their settings fields, so each shows its default and ``AIEDGE_*`` variable, the flag wins
over the variable, and a bad value names whichever was given."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import aiedge_cmd

# none of these may be imported to print the version or complete a command name
HEAVY = ("aiedge.hub", "aiedge.agent", "aiedge.builder", "aiedge.serve", "sqlalchemy", "numpy", "httpx")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", "TERMINAL_WIDTH": "200", **(env or {})}
    return subprocess.run(
        aiedge_cmd(*args), capture_output=True, text=True, timeout=120, check=False, env=full
    )


def _imports(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aiedge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    modules = {
        line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    }
    return r.stdout, modules


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["version"]])
def test_the_version_imports_no_command(args: list[str]) -> None:
    out, modules = _imports(*args)
    assert out.startswith("aiedge 0.") and out.count("\n") == 1, out
    assert "typer" in modules  # the log is read right
    assert not [m for m in modules if m.startswith(HEAVY)], sorted(m for m in modules if m.startswith(HEAVY))


def test_version_as_json_and_yaml() -> None:
    body = json.loads(_run("version", "-o", "json").stdout)
    assert body["version"].startswith("0.") and body["python"].startswith("3.")
    assert _run("version", "-o", "yaml").stdout.startswith(("platform:", "python:", "version:"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    r = _run("completion", shell)
    assert r.returncode == 0 and "_AIEDGE_COMPLETE=complete_" in r.stdout, r.stdout
    assert _run("completion", "tcsh").returncode == 2


def test_completing_a_command_name_imports_no_command() -> None:
    env = {"_AIEDGE_COMPLETE": "complete_bash", "COMP_WORDS": "aiedge sta", "COMP_CWORD": "1"}
    out, modules = _imports(env=env)
    assert out.split() == ["status"]
    assert not [m for m in modules if m.startswith(HEAVY)]
    env = {"_AIEDGE_COMPLETE": "complete_bash", "COMP_WORDS": "aiedge rollout p", "COMP_CWORD": "2"}
    assert _run(env=env).stdout.split() == ["pause"]
    env = {"_AIEDGE_COMPLETE": "complete_bash", "COMP_WORDS": "aiedge hub --po", "COMP_CWORD": "2"}
    assert set(_run(env=env).stdout.split()) == {"--port", "--poll-interval"}


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (
            "serve",
            ["--http-port", "-p", "[env: AIEDGE_SERVE_HTTP_PORT]", "[default: 8080]", "[default: f32]"],
        ),
        ("hub", ["--port", "[env: AIEDGE_HUB_PORT]", "[default: 8000]", "[default: 127.0.0.1]", "--db"]),
        ("agent", ["--hub", "[env: AIEDGE_AGENT_HUB]", "[default: (the hostname)]", "[default: 5.0]"]),
    ],
)
def test_settings_options_show_their_default_and_variable(command: str, shown: list[str]) -> None:
    r = _run(command, "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    for piece in shown:
        assert piece in text, (piece, r.stdout)


def test_a_flag_wins_over_its_variable_and_a_bad_value_names_its_source() -> None:
    env = {"AIEDGE_HUB_PORT": "99999", "AIEDGE_HUB_GITOPS": "."}
    r = _run("hub", env=env)
    assert r.returncode == 1 and r.stderr.startswith("error: AIEDGE_HUB_PORT: Input should be"), r.stderr
    r = _run("hub", "--port", "70000", env=env)
    assert r.returncode == 1 and r.stderr.startswith("error: --port: Input should be"), r.stderr
    r = _run("serve", "/nonexistent", env={"AIEDGE_SERVE_HTTP_PORT": "abc"})
    assert r.returncode == 1 and r.stderr.startswith("error: AIEDGE_SERVE_HTTP_PORT: 'abc'"), r.stderr
