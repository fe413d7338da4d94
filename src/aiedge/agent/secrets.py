"""The site's age identity (X25519) and the decryption of its apps' secrets.

The identity is made on the agent's first start in its data folder (``age-identity.txt``, the
format of ``age-keygen``, mode 0600) and kept across restarts; its public recipient (``age1...``)
goes to the hub at enrolment and in every status report, and into the GitOps repo as the Site's
``ageRecipient``. Secrets arrive in the desired state as armored age ciphertexts encrypted to that
recipient; they are decrypted here, in memory, only to become the environment of the app's
serving process. Plaintext is never logged, never put in an exception, never written to disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyrage
from pyrage import x25519

from aiedge.agent.errors import SecretDecryptFailed, Stalled
from aiedge.contracts import DesiredApp

log = logging.getLogger(__name__)

_IDENTITY_PREFIX = "AGE-SECRET-KEY-1"


class SiteIdentity:
    """The site's age X25519 identity; ``repr`` shows only the public recipient."""

    def __init__(self, identity: x25519.Identity) -> None:
        self._identity = identity
        self.recipient = str(identity.to_public())

    def __repr__(self) -> str:
        return f"SiteIdentity({self.recipient})"

    def env_for(self, app: DesiredApp) -> dict[str, str]:
        """The app's secrets decrypted: env name -> value; :class:`SecretDecryptFailed` naming
        the first one that does not decrypt (never its value)."""
        env: dict[str, str] = {}
        for name, ciphertext in sorted(app.secrets.items()):
            try:
                plain = pyrage.decrypt(ciphertext.encode(), [self._identity])
            except pyrage.DecryptError as e:
                raise SecretDecryptFailed(
                    f"secret {name} of app {app.name} does not decrypt with this site's identity "
                    f"({self.recipient}): {e}; encrypt it to this recipient (`aiedge secret encrypt`)"
                ) from None
            try:
                value = plain.decode()
            except UnicodeDecodeError:
                raise SecretDecryptFailed(
                    f"secret {name} of app {app.name} is not UTF-8 text, so it cannot be an env value"
                ) from None
            if "\0" in value:
                raise SecretDecryptFailed(f"secret {name} of app {app.name} holds a NUL byte")
            env[name] = value
        return env


def secrets_fingerprint(app: DesiredApp) -> str:
    """A short digest of the app's ciphertexts (not secret), to tell one set from the next."""
    body = orjson.dumps(app.secrets, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:16]


def load_identity(path: Path) -> SiteIdentity:
    """The identity kept at ``path``, made (mode 0600) when there is none yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); set to 0600", path, mode)
        path.chmod(0o600)
    keys = [line.strip() for line in text.splitlines() if line.strip().startswith(_IDENTITY_PREFIX)]
    if len(keys) != 1:
        raise Stalled(f"{path}: expected one {_IDENTITY_PREFIX}... line (an age-keygen identity file)")
    try:
        return SiteIdentity(x25519.Identity.from_str(keys[0]))
    except pyrage.IdentityError as e:
        raise Stalled(f"{path}: not an age X25519 identity: {e}") from None


def _create(path: Path) -> SiteIdentity:
    identity = x25519.Identity.generate()
    site = SiteIdentity(identity)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    body = f"# created: {created}\n# public key: {site.recipient}\n{identity}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # never replaces an identity another process just made
    except FileExistsError:
        tmp.unlink()
        return load_identity(path)
    tmp.unlink()
    log.info("made the site's age identity %s; its recipient is %s", path, site.recipient)
    return site
