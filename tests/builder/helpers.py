"""Helpers for the build tests: running a build in-process, reading back what a registry holds,
and the CLI as a child process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiedge.builder.pipeline import BuildRequest, BuildResult, run_build
from aiedge.oci.registry import RegistryClient
from tests.support import aiedge_cmd


def build(req: BuildRequest) -> BuildResult:
    return asyncio.run(run_build(req))


async def _pull(registry: str, repository: str, reference: str) -> tuple[dict[str, Any], dict[str, Any]]:
    async with RegistryClient(registry) as client:
        body, _ = await client.get_manifest(repository, reference)
        manifest = json.loads(body)
        config = json.loads(await client.get_blob_bytes(repository, manifest["config"]["digest"]))
        return manifest, config


def pull(registry: str, repository: str, reference: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest, config) of an image, as JSON documents."""
    return asyncio.run(_pull(registry, repository, reference))


def blob(registry: str, repository: str, digest: str) -> bytes:
    async def get() -> bytes:
        async with RegistryClient(registry) as client:
            return await client.get_blob_bytes(repository, digest)

    return asyncio.run(get())


def cli(*args: str) -> list[str]:
    """``aiedge ARGS`` as a child process."""
    return aiedge_cmd(*args)
