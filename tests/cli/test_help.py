"""Every command's ``--help``, walked from the real command tree and read as a user reads it (the
real CLI as a child process): every option shows help text and, when it has one, its default; no
``<bool>`` beside flags; one spelling per option (``--ca``, ``--insecure``, ``--gitops``; the old
``--ca-file``, ``--insecure-registry``, ``--repo`` and secrets on argv only as hidden aliases); the
commands that print data take ``-o json|yaml|wide``. The old spellings still work, with a warning."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aiedge.cli.main import command
from tests.support import REPO_ROOT, aiedge_cmd

# spellings replaced by one name across commands: never shown in any --help
HIDDEN_SPELLINGS = ("--ca-file", "--repo", "--token", "--password", "--insecure-registry")
ALLOWED = {("agent",): {"--insecure-registry"}}  # the agent talks to a hub (--insecure) and registries
# commands that print data: -o json|yaml (and wide tables where they print tables)
WITH_OUTPUT = {
    ("version",),
    ("build",),
    ("validate",),
    ("import",),
    ("base", "build"),
}


def _walk(cmd: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, cmd)]
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(None):
            sub = cmd.get_command(None, name)
            if sub is not None and not sub.hidden:
                found += _walk(sub, (*path, name))
    return found


COMMANDS = _walk(command(), ())


def _help(path: tuple[str, ...]) -> str:
    env = {**os.environ, "COLUMNS": "250", "TERMINAL_WIDTH": "250", "NO_COLOR": "1"}
    r = subprocess.run(
        aiedge_cmd(*path, "--help"), capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert r.returncode == 0, (path, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def helps() -> dict[tuple[str, ...], str]:
    with ThreadPoolExecutor(4) as pool:
        texts = pool.map(_help, [p for p, _ in COMMANDS])
    return dict(zip([p for p, _ in COMMANDS], texts, strict=True))


def _rows(text: str) -> dict[str, str]:
    """Option rows of the rich help: first flag -> the row's text (continuation lines joined)."""
    rows: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        inner = line.strip().strip("│").strip()
        if line.lstrip().startswith(("╭", "╰")) or not inner:
            current = None
            continue
        first = inner.removeprefix("* ").split()[0]
        if first.startswith("--"):
            current = first
            rows[current] = inner
        elif current is not None:
            rows[current] += " " + inner
    return rows


def _shown_default(param: Any) -> str | None:
    """What ``[default: ...]`` must say for this option, or None when it has no default to show."""
    if param.show_default is False or param.hidden:
        return None
    if isinstance(param.show_default, str):
        return f"({param.show_default})"
    default = param.default
    if getattr(param, "secondary_opts", None) and param.is_flag:
        return param.opts[0].lstrip("-") if default else param.secondary_opts[0].lstrip("-")
    if default in (None, False, "", [], ()) or callable(default):
        return None
    return str(default)


def test_the_walk_found_every_command() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    for expected in ("serve", "build", "hub", "hub token create", "agent", "agent install", "rollout pause"):
        assert expected in names, sorted(names)
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "aiedge")
def test_every_option_is_spelled_out_with_its_default(path: tuple[str, ...], helps: dict[Any, str]) -> None:
    text = helps[path]
    assert "<bool>" not in text, text
    cmd = dict(COMMANDS)[path]
    rows = _rows(text)
    for param in cmd.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        flag = next(o for o in param.opts if o.startswith("--"))
        assert flag in rows, (path, flag, text)
        row = rows[flag]
        described = row.split(maxsplit=1)[-1]
        assert len(described) > len(flag) + 8, (path, flag, row)  # more than the flag and its type
        shown = _shown_default(param)
        if shown is not None:
            assert f"[default: {shown}]" in row, (path, flag, row)
    for spelling in HIDDEN_SPELLINGS:
        if spelling in ALLOWED.get(path, set()):
            continue
        assert spelling not in rows, (path, spelling, text)


@pytest.mark.parametrize("path", sorted(WITH_OUTPUT), ids=" ".join)
def test_commands_that_print_data_take_output(path: tuple[str, ...], helps: dict[Any, str]) -> None:
    rows = _rows(helps[path])
    assert "--output" in rows and " -o " in f" {rows['--output']} " and "json|yaml" in rows["--output"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd(*args), capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def test_old_spellings_still_work_with_a_warning(tmp_path: Path) -> None:
    examples = REPO_ROOT / "examples" / "gitops"
    r = _run("validate", str(examples))
    assert r.returncode == 0 and r.stdout.startswith("ok: "), r.stderr
    assert "warning: `aiedge validate DIR` is deprecated: write aiedge validate -g DIR" in r.stderr
    r = _run("validate", "-g", str(examples), "--insecure-registry", "--ca-file", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "warning: --insecure-registry is deprecated: write --insecure" in r.stderr
    assert "warning: --ca-file is deprecated: write --ca" in r.stderr
    r = _run(
        "build", str(tmp_path / "none"), "-n", "m", "-i", "127.0.0.1:9/m:1", "--password", "pw", "-u", "me"
    )
    assert r.returncode == 1 and "warning: --password puts the password in every user's ps" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: "), r.stderr
