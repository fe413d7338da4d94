"""Helpers for the build tests: running a build in-process, reading back what a registry holds,
and the keygen/verify CLI (registered in ``aiedge`` by the CLI's owner)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiedge.build.pipeline import BuildRequest, BuildResult, run_build
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
    """``aiedge ARGS`` as a child process; keygen/verify are added when ``aiedge`` lacks them yet."""
    from aiedge.cli import main

    names = {c.name for c in main.app.registered_commands}
    if args[0] in names or args[0] not in ("keygen", "verify"):
        return aiedge_cmd(*args)
    shim = (
        "from aiedge.cli import build, main\n"
        "main.app.command('keygen')(build.keygen_command)\n"
        "main.app.command('verify')(build.verify_command)\n"
        "main.main()\n"
    )
    return [sys.executable, "-c", shim, *args]
