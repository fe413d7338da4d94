"""Checking that a Git webhook call comes from the Git server: its signature over the body with the
hub's webhook secret (``--webhook-secret-file``), in the convention of the server that sent it.

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``;
- Gitea, Forgejo, Gogs: ``X-Gitea-Signature`` (``X-Forgejo-Signature``, ``X-Gogs-Signature``):
  the same HMAC in hex, without the prefix;
- GitLab: ``X-Gitlab-Token: <the secret itself>`` (GitLab signs nothing).

Every comparison takes constant time. A call that passes only asks for a poll of the repo, which
the hub coalesces (:meth:`aiedge.hub.fleet.Fleet.poll_now`); nothing in its body is trusted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from aiedge.hub.errors import BadWebhook, HubConfigError

_HMAC_HEADERS = ("x-hub-signature-256", "x-gitea-signature", "x-forgejo-signature", "x-gogs-signature")


def read_secret(path: Path) -> bytes:
    """The secret in ``path`` (surrounding whitespace dropped); one line naming the file if unusable."""
    try:
        secret = path.read_bytes().strip()
    except OSError as e:
        raise HubConfigError(f"--webhook-secret-file {path}: {e.strerror}") from None
    if len(secret) < 16:
        raise HubConfigError(f"--webhook-secret-file {path}: want a secret of 16 bytes or more")
    return secret


def verify(headers: Mapping[str, str], body: bytes, secret: bytes) -> str:
    """Which convention signed the call; :class:`BadWebhook` when none did with ``secret``."""
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    for name in _HMAC_HEADERS:
        given = headers.get(name)
        if given is None:
            continue
        given = given.strip()
        if name == "x-hub-signature-256":
            if not given.startswith("sha256="):
                raise BadWebhook(f"{name}: want sha256=<hex>")
            given = given[len("sha256=") :]
        if hmac.compare_digest(given.lower().encode(), expected.encode()):
            return name
        raise BadWebhook(f"{name}: the signature does not match the body with the hub's webhook secret")
    token = headers.get("x-gitlab-token")
    if token is not None:
        if hmac.compare_digest(token.strip().encode(), secret):
            return "x-gitlab-token"
        raise BadWebhook("x-gitlab-token: not the hub's webhook secret")
    raise BadWebhook(
        "unsigned webhook call: send X-Hub-Signature-256 (GitHub), X-Gitea-Signature (Gitea) "
        "or X-Gitlab-Token (GitLab) made with the hub's --webhook-secret-file"
    )
