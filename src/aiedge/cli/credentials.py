"""The operator token the CLI's hub commands (``aiedge status``, ``aiedge rollout ...``) send:
from ``--token-file FILE`` (or ``AIEDGE_TOKEN_FILE``), else ``AIEDGE_TOKEN``; never from an
argument, where ``ps`` and shell history would show it. One place for all of them: the option,
reading the token, the header, and what a 401/403 from the hub means."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import typer

from aiedge.errors import AiedgeError

ENV_TOKEN = "AIEDGE_TOKEN"  # noqa: S105 - the variable's name, not a token


#: The ``--token-file`` option, for a command's signature: ``token_file: Path | None = TOKEN_FILE``.
TOKEN_FILE: Any = typer.Option(
    None,
    "--token-file",
    envvar="AIEDGE_TOKEN_FILE",
    help=f"File holding an operator token (aiedge hub operator create); default: ${ENV_TOKEN}.",
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
            "(aiedge hub operator create NAME --role read --data HUB_DATA makes one)"
        )
    if status in (401, 403):
        return f"the hub at {hub} refused the operator token: {message}"
    return None


def call(
    method: str, hub: str, path: str, token: str | None, timeout: float = 10, **kw: Any
) -> httpx.Response:
    """One request to the hub with the token; a hub that cannot be reached or refuses the token
    is one line (:class:`AiedgeError`); any other answer is the caller's to read."""
    try:
        r = httpx.request(method, hub.rstrip("/") + path, headers=auth_headers(token), timeout=timeout, **kw)
    except httpx.HTTPError as e:
        raise AiedgeError(f"cannot reach the hub at {hub}: {e}") from e
    if r.status_code in (401, 403):
        try:
            message = str(r.json()["error"])
        except (ValueError, KeyError, TypeError):
            message = r.text.strip()[:200]
        why = refusal(hub, r.status_code, message, token)
        if why is not None:
            raise AiedgeError(why)
    return r
