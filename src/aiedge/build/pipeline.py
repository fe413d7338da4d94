"""One build, start to end: check the model, pack it, smoke-test the packed image, push it, and
record the digest in the GitOps repo. Reports what it does through a :class:`Reporter`; prints
nothing itself (the CLI decides how to show progress)."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiedge.build.errors import BuildError, SmokeTestFailed
from aiedge.build.inspect import inspect_model
from aiedge.build.pack import ImageMeta, PackedImage, pack
from aiedge.build.push import PushReport, push_image
from aiedge.build.smoke import smoke_test_model
from aiedge.contracts import SmokeTest
from aiedge.oci.auth import Credentials
from aiedge.oci.image import unpack_layers
from aiedge.oci.layers import source_date_epoch
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from aiedge.smoke.runner import SmokeResult
from aiedge.smoke.testdata import load_test_data

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Reporter(Protocol):
    def step(self, text: str) -> None: ...
    def transfer_started(self, total: int) -> None: ...
    def transferred(self, n: int) -> None: ...
    def transfer_done(self) -> None: ...


class QuietReporter:
    def step(self, text: str) -> None:
        pass

    def transfer_started(self, total: int) -> None:
        pass

    def transferred(self, n: int) -> None:
        pass

    def transfer_done(self) -> None:
        pass


@dataclass(frozen=True)
class BuildRequest:
    model: Path
    name: str
    image: ImageReference
    insecure: bool | None = None
    ca_file: Path | None = None
    credentials: Credentials | None = None
    test_data: Path | None = None
    protocol: str | None = None
    gitops_dir: Path | None = None
    app: str | None = None
    source: str | None = None  # where the model came from, when not a local folder (URL, git)
    revision: str | None = None  # the source's commit, when known
    workdir: Path | None = None  # kept when given; a temporary folder otherwise


@dataclass(frozen=True)
class BuildResult:
    digest: str
    image: str  # REGISTRY/REPO@sha256:...
    format: str
    push: PushReport
    smoke: SmokeResult | None
    gitops_commit: str | None


def check_request(req: BuildRequest) -> None:
    if not _NAME.match(req.name):
        raise BuildError(f"model name {req.name!r} must be letters, digits, '.', '_' or '-' (up to 128)")
    if req.image.digest:
        raise BuildError(f"--image {req.image}: give REGISTRY/REPO[:TAG]; the digest is what the build makes")
    if (req.gitops_dir is None) != (req.app is None):
        raise BuildError("--gitops and --app go together: the repo to edit and the App in it")


async def run_build(req: BuildRequest, reporter: Reporter | None = None) -> BuildResult:
    check_request(req)
    rep = reporter or QuietReporter()
    smoke = load_test_data(req.test_data, model=req.name, protocol=req.protocol) if req.test_data else None
    rep.step(f"checking {req.model}")
    info = await asyncio.to_thread(inspect_model, req.model)
    rep.step(
        f"{info.format} model: {len(info.signature.inputs)} input(s), {len(info.signature.outputs)} output(s)"
    )
    meta = ImageMeta(
        name=req.name,
        format=info.format,
        signature_json=info.signature_json(),
        created=source_date_epoch(),
        source=req.source,
        revision=req.revision,
    )
    workdir = req.workdir or Path(tempfile.mkdtemp(prefix="aiedge-build-"))
    try:
        image = await asyncio.to_thread(pack, req.model, meta, workdir / "blobs")
        rep.step(f"packed {len(image.layers)} layer(s), image {image.digest}")
        result = await _smoke(image, req.name, smoke, workdir, rep) if smoke else None
        report = await _push(req, image, rep)
        commit = None
        if req.gitops_dir is not None and req.app is not None:
            commit = await asyncio.to_thread(_record, req, report.digest)
            rep.step(f"GitOps: App {req.app} now runs {report.digest} (commit {commit[:12]})")
        pinned = req.image.with_digest(report.digest).pinned
        return BuildResult(report.digest, pinned, info.format, report, result, commit)
    finally:
        if req.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _smoke(
    image: PackedImage, name: str, smoke: SmokeTest, workdir: Path, rep: Reporter
) -> SmokeResult:
    rootfs = workdir / "rootfs"
    await asyncio.to_thread(shutil.rmtree, rootfs, True)
    await asyncio.to_thread(unpack_layers, [x.path for x in image.layers], rootfs)
    rep.step(f"smoke test: serving the packed model, POST {smoke.path}")
    result = await smoke_test_model(rootfs / image.model_path, name, smoke, workdir / "serve.log")
    if not result.ok:
        raise SmokeTestFailed(f"smoke test of {name} failed: {result.summary()}")
    rep.step(f"smoke test passed (rtol {smoke.rtol:g}, atol {smoke.atol:g})")
    return result


async def _push(req: BuildRequest, image: PackedImage, rep: Reporter) -> PushReport:
    rep.step(f"pushing to {req.image}")
    async with RegistryClient(
        req.image.registry, insecure=req.insecure, ca_file=req.ca_file, credentials=req.credentials
    ) as client:
        rep.transfer_started(sum(size for _, _, size in image.blobs()))
        try:
            return await push_image(client, req.image, image, progress=rep.transferred)
        finally:
            rep.transfer_done()


def _record(req: BuildRequest, digest: str) -> str:
    from aiedge.gitops.edit import set_app_image

    assert req.gitops_dir is not None and req.app is not None
    source = req.source or str(req.model)
    message = f"{req.app}: model {req.name} from {source} -> {digest}"
    repository = f"{req.image.registry}/{req.image.repository}"
    return set_app_image(req.gitops_dir, req.app, repository, digest, message)
