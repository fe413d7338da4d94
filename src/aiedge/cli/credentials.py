"""The hub the CLI's operator commands (``aiedge status``, ``aiedge rollout ...``, ``logs``,
``diagnose``) talk to, and the operator token they send. The hub, its CA and the token file come
from ``--hub``/``--ca``/``--token-file``, else ``AIEDGE_HUB``/``AIEDGE_CA``/``AIEDGE_TOKEN_FILE``,
else a named context (``--context``, ``aiedge config use-context``; see ``cli/contexts.py``); the
token from that file, else ``AIEDGE_TOKEN``; never from an argument, where ``ps`` and shell
history would show it. One place for all of them: the options, reading the token, the request
(with the CA), and what a 401/403 from the hub means."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from aiedge.cli.contexts import resolve
from aiedge.errors import AiedgeError

ENV_TOKEN = "AIEDGE_TOKEN"  # noqa: S105 - the variable's name, not a token


#: The ``--token-file`` option, for a command's signature: ``token_file: Path | None = TOKEN_FILE``.
TOKEN_FILE: Any = typer.Option(
    None,
    "--token-file",
    metavar="FILE",
    help=f"File holding an operator token (aiedge hub operator create); default: $AIEDGE_TOKEN_FILE, "
    f"${ENV_TOKEN}, the context's.",
)
#: ``--hub URL``, ``--ca FILE`` and ``--context NAME``: which hub (flags, variables, a context)
HUB: Any = typer.Option(
    None,
    "--hub",
    metavar="URL",
    help="The hub's URL, e.g. https://core:8443; default: $AIEDGE_HUB, else the current context's.",
)
CA: Any = typer.Option(
    None,
    "--ca",
    metavar="FILE",
    help="CA bundle that signs the hub's HTTPS certificate; default: $AIEDGE_CA, the context's, system CAs.",
)
CONTEXT: Any = typer.Option(
    None,
    "--context",
    metavar="NAME",
    help="Use this context of ~/.config/aiedge/config.yaml (default: $AIEDGE_CONTEXT, the current one).",
)


def load_token(token_file: Path | None) -> str | None:
    """The operator token to send: the file's first line, else ``$AIEDGE_TOKEN``, else None."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except OSError as e:
            raise AiedgeError(f"--token-file {token_file}: {e.strerror}") from None
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not token:
            raise AiedgeError(f"--token-file {token_file}: the file is empty")
        return token
    return os.environ.get(ENV_TOKEN, "").strip() or None


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def refusal(hub: str, status: int, message: str, token: str | None) -> str | None:
    """What a 401/403 from the hub means for the user; None for other answers."""
    if status == 401 and token is None:
        return (
            f"the hub at {hub} needs an operator token: pass --token-file FILE or set {ENV_TOKEN} "
            "(aiedge hub operator create NAME --role read --data HUB_DATA makes one; "
            "aiedge config set-context NAME --token-file FILE keeps its path)"
        )
    if status in (401, 403):
        return f"the hub at {hub} refused the operator token: {message}"
    return None


@dataclass(frozen=True)
class Hub:
    """A hub to talk to: its URL, the operator token (if any), the TLS verification to use."""

    url: str
    token: str | None = None
    verify: Any = True

    def __str__(self) -> str:
        return self.url

    def request(self, method: str, path: str, timeout: float = 10, **kw: Any) -> httpx.Response:
        """One request with the token; a hub that cannot be reached or refuses the token is one
        line (:class:`AiedgeError`); any other answer is the caller's to read."""
        headers = auth_headers(self.token)
        try:
            r = httpx.request(
                method, self.url + path, headers=headers, timeout=timeout, verify=self.verify, **kw
            )
        except httpx.HTTPError as e:
            raise AiedgeError(f"cannot reach the hub at {self.url}: {e}") from e
        if r.status_code in (401, 403):
            try:
                message = str(r.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = r.text.strip()[:200]
            why = refusal(self.url, r.status_code, message, self.token)
            if why is not None:
                raise AiedgeError(why)
        return r


def connect(hub: str | None, ca: Path | None, token_file: Path | None, context: str | None) -> Hub:
    """The hub of the flags, the environment or a context, with its operator token."""
    target = resolve(hub, ca, token_file, context)
    return Hub(target.url, load_token(target.token_file), target.verify)
