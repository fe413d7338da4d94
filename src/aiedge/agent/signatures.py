"""The agent's signature gate: before any blob of an image is fetched, its cosign signature
(``sha256-HEX.sig`` beside it, see :mod:`aiedge.oci.cosign`) must verify with one of the public
keys the site trusts (``--verify-key``). Owns the keys and the digests already verified in this
process; the reconciler decides what a refusal means for the app."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import httpx

from aiedge.agent.errors import AgentError, FetchFailed, RegistryAuthFailed, SignatureInvalid
from aiedge.agent.registries import RegistryPool
from aiedge.contracts import DesiredApp
from aiedge.errors import AiedgeError
from aiedge.oci.cosign import ManifestSource, verify_signature
from aiedge.oci.errors import AuthError, ImageFormatError, SignatureError
from aiedge.oci.keys import load_public_key
from aiedge.oci.reference import ImageReference


def read_keys(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """(file name, PEM) of each public key; an unreadable or malformed key is an error now, at
    start, rather than a refusal of every image later."""
    keys = []
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as e:
            raise AiedgeError(f"--verify-key {path}: {e.strerror or e}") from e
        load_public_key(pem, f"--verify-key {path}")
        keys.append((path.name, pem))
    return keys


class SignatureGate:
    """``check(app)`` returns when the app's image is signed by one of ``keys``; raises
    :class:`SignatureInvalid` when it is not, :class:`FetchFailed` when the registry could not say."""

    def __init__(
        self,
        registries: RegistryPool,
        keys: Sequence[tuple[str, bytes]],
        local: ManifestSource | None = None,
    ) -> None:
        if not keys:
            raise ValueError("a signature gate needs at least one key")
        self._registries = registries
        self._keys = list(keys)
        self._local = local  # signatures imported with a bundle, checked before the registry
        self._verified: set[str] = set()  # image references (with digest) verified in this process

    async def check(self, app: DesiredApp) -> None:
        if app.image in self._verified:
            return
        ref = ImageReference(app.registry, app.repository, digest=app.digest)
        if self._local is not None:
            for _name, pem in self._keys:
                with contextlib.suppress(AiedgeError, OSError):
                    await verify_signature(self._local, ref, pem)
                    self._verified.add(app.image)
                    return
        client = self._registries.get(app.registry)
        refusals = []
        for name, pem in self._keys:
            try:
                await verify_signature(client, ref, pem)
            except (SignatureError, ImageFormatError) as e:
                refusals.append(f"{name}: {e}")
                continue
            except (httpx.HTTPError, AiedgeError) as e:
                raise _registry_error(app, e) from e
            self._verified.add(app.image)
            return
        raise SignatureInvalid(f"not signed by a trusted key ({'; '.join(refusals)})")


def _registry_error(app: DesiredApp, e: Exception) -> AgentError:
    if isinstance(e, AuthError):
        return RegistryAuthFailed(f"{app.image}: signature: {e}")
    return FetchFailed(f"{app.image}: signature: {e}")
