"""The CLI contract: every command has --help, bad usage exits 2, user errors exit 1 with one
line on stderr and no traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import aiedge_cmd

COMMANDS = ["serve", "build", "validate", "hub", "agent", "agent install", "base build", "status", "demo"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    r = _run(*command.split(), "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_version_and_root_help() -> None:
    assert _run("--version").stdout.startswith("aiedge ")
    assert "serve" in _run("--help").stdout


def test_bad_usage_exits_2() -> None:
    r = _run("build")  # PATH and --name missing
    assert r.returncode == 2
    r = _run("no-such-command")
    assert r.returncode == 2


def test_user_error_is_one_line_without_traceback(tmp_path: object) -> None:
    r = _run("serve", "/nonexistent/model", "--name", "m")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: ") and "/nonexistent/model" in lines[-1]


def test_demo_rejects_model_without_name() -> None:
    r = _run("demo", "--model", ".")
    assert r.returncode == 2
    assert "--name" in r.stderr
