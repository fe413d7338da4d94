"""One spelling per option across commands, and the old spellings kept as hidden aliases that
warn: ``--ca`` (not ``--ca-file``), ``--insecure`` for the server a command talks to (not
``--insecure-registry``, which only the agent has, beside ``--insecure`` for its hub),
``--gitops DIR`` (not ``--repo`` or a positional DIR); secrets from a file or the environment,
never from an argument (``--password`` warns: ``ps`` and shell history show it).

The registry options of ``build``, ``verify`` and ``validate --registry`` live here once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import typer

from aiedge.errors import AiedgeError
from aiedge.oci.auth import Credentials

T = TypeVar("T")

PASSWORD_ENV = "AIEDGE_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name


def warn(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


def renamed(old_value: T, old: str, new: str) -> T:
    """``old_value`` of the deprecated spelling ``old``, with a warning when it was given."""
    if old_value not in (None, False, [], ()):
        warn(f"{old} is deprecated: write {new}")
    return old_value


def read_secret_file(path: Path, flag: str) -> str:
    """The first line of a secret file; unreadable or empty is one line naming the flag."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AiedgeError(f"{flag} {path}: cannot read it: {getattr(e, 'strerror', None) or e}") from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise AiedgeError(f"{flag} {path}: the file is empty")
    return lines[0].strip()


#: ``--ca FILE``: the CA bundle of the registry's TLS
REGISTRY_CA: Any = typer.Option(
    None, "--ca", metavar="FILE", help="CA bundle that signs the registry's TLS (default: system CAs)."
)
CA_FILE: Any = typer.Option(None, "--ca-file", hidden=True)  # deprecated: --ca
REGISTRY_INSECURE: Any = typer.Option(
    False, "--insecure", help="Plain HTTP to the registry (loopback registries: always)."
)
USERNAME: Any = typer.Option(
    None, "--username", "-u", envvar="AIEDGE_REGISTRY_USERNAME", help="Registry user name."
)
PASSWORD_FILE: Any = typer.Option(
    None,
    "--password-file",
    metavar="FILE",
    help=f"File holding the registry password or token (default: ${PASSWORD_ENV}).",
)
PASSWORD: Any = typer.Option(None, "--password", hidden=True)  # deprecated: on argv


def registry_credentials(
    username: str | None, password: str | None, password_file: Path | None
) -> Credentials | None:
    """Registry credentials: the user name with the password from ``--password-file``, else
    ``--password`` (with a warning), else ``$AIEDGE_REGISTRY_PASSWORD``."""
    if password is not None:
        warn(f"--password puts the password in every user's ps; use --password-file FILE or {PASSWORD_ENV}")
    if password_file is not None:
        password = read_secret_file(password_file, "--password-file")
    elif password is None:
        password = os.environ.get(PASSWORD_ENV)
    if not username:
        return None
    return Credentials(username, password or "")


#: ``-g/--gitops DIR`` of the commands that read or write the GitOps repo's files
GITOPS: Any = typer.Option(
    Path(), "--gitops", "-g", metavar="DIR", help="The GitOps repo: a Git work tree or a folder."
)
DIR_ARGUMENT: Any = typer.Argument(None, hidden=True)  # deprecated: -g DIR


def gitops_dir(option: Path, positional: Path | None, command: str) -> Path:
    """``--gitops`` or, with a warning, the positional DIR it replaces (``--gitops`` wins)."""
    if positional is None:
        return option
    warn(f"`aiedge {command} DIR` is deprecated: write aiedge {command} -g DIR")
    return option if option != Path() else positional
