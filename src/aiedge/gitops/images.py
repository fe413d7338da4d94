"""Checking that the images a repo pins exist: one manifest request per App digest, to its own
registry, read-only. A digest that is not there would have every site retry a 404 for ever;
this says so before the commit reaches them (``aiedge validate --registry``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiedge.errors import AiedgeError
from aiedge.gitops.errors import Problem
from aiedge.gitops.loader import GitopsRepo, Origin
from aiedge.oci.registry import RegistryClient

AT_ONCE = 8  # manifest requests in flight, over all registries


@dataclass(frozen=True)
class PinnedImage:
    app: str
    registry: str
    repository: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


def pinned_images(repo: GitopsRepo) -> list[PinnedImage]:
    """The image of every App that has a digest (apps awaiting their first build have none)."""
    out: list[PinnedImage] = []
    for name, app in repo.apps.items():
        image = app.spec.image
        if image.digest is None:
            continue
        registry, _, repository = image.repository.partition("/")
        out.append(PinnedImage(name, registry, repository, image.digest))
    return out


async def missing_images(repo: GitopsRepo, client_for: Callable[[str], RegistryClient]) -> list[Problem]:
    """A problem at ``spec.image.digest`` for every App whose image its registry does not hold
    (or that could not be asked); ``client_for(registry)`` makes the client for one registry."""
    images = pinned_images(repo)
    clients = {registry: client_for(registry) for registry in sorted({i.registry for i in images})}
    gate = asyncio.Semaphore(AT_ONCE)

    async def check(image: PinnedImage) -> Problem | None:
        where = repo.origins.get(f"App/{image.app}") or Origin("")
        async with gate:
            try:
                found = await clients[image.registry].find_manifest(image.repository, image.digest)
            except AiedgeError as e:
                return where.problem(
                    "spec.image.digest", f"App {image.app!r}: cannot check {image.reference}: {e}"
                )
        if found is None:
            return where.problem(
                "spec.image.digest", f"App {image.app!r}: {image.reference} is not in the registry (HTTP 404)"
            )
        return None

    try:
        results = await asyncio.gather(*(check(i) for i in images))
    finally:
        for client in clients.values():
            await client.aclose()
    return sorted(p for p in results if p is not None)
