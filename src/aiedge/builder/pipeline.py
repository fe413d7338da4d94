"""One build, start to end: fetch the model (local, Git, HTTP, S3), check it, pack it (on a base
image when asked), smoke-test the packed image, push it, run it under podman and replay the smoke
test against the container (``--test-container``), sign it, attach its provenance, and record the
digest in the GitOps repo. Reports what it does through a :class:`Reporter`; prints
nothing itself (the CLI decides how to show progress)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from aiedge.builder.convert import export_pickles
from aiedge.builder.errors import BuildError, SmokeTestFailed
from aiedge.builder.inspect import inspect_model
from aiedge.builder.layouts import select_model
from aiedge.builder.pack import ImageMeta, PackedImage, model_files, pack
from aiedge.builder.platforms import PackedIndex, pack_platforms, push_platforms
from aiedge.builder.provenance import PREDICATE_TYPE, ProvenanceInput, model_digest, provenance_statement
from aiedge.builder.push import PushReport, push_image
from aiedge.builder.pyfunc import pyfunc_environments
from aiedge.builder.reference import profile_for_image
from aiedge.builder.sources import FetchedSource, fetch_source
from aiedge.builder.sources.mlflow import IMAGE_TAG, MlflowAccess, tag_version
from aiedge.builder.stack import BaseImages, fetch_bases
from aiedge.builder.tags import check_extra_images, tag_image
from aiedge.builder.trial import ContainerCheck, check_container, smoke_test_model
from aiedge.containers.engine import Podman
from aiedge.containers.images import pull_image
from aiedge.contracts import SmokeTest
from aiedge.oci.auth import Credentials
from aiedge.oci.cosign import attach_attestation, sign_image
from aiedge.oci.image import unpack_layers
from aiedge.oci.keys import load_private_key
from aiedge.oci.layers import source_date_epoch
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient, is_loopback
from aiedge.smoke.runner import SmokeResult
from aiedge.smoke.testdata import load_test_data

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Reporter(Protocol):
    def step(self, text: str) -> None: ...
    def transfer_started(self, total: int, what: str = "pushing") -> None: ...
    def transferred(self, n: int) -> None: ...
    def transfer_done(self) -> None: ...


class QuietReporter:
    def step(self, text: str) -> None:
        pass

    def transfer_started(self, total: int, what: str = "pushing") -> None:
        pass

    def transferred(self, n: int) -> None:
        pass

    def transfer_done(self) -> None:
        pass


@dataclass(frozen=True)
class BuildRequest:
    model: Path | str  # a local path, or git+URL@REF, http(s)://..., s3://bucket/prefix (#subdir=)
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
    s3_endpoint: str | None = None  # for s3:// sources on MinIO, Ceph...
    sign_key: Path | None = None  # cosign-style ECDSA key: sign the image and its provenance
    key_password: str | None = None
    base: ImageReference | None = None  # runnable image: model layers on top of this one
    provenance: bool = True  # attach an SLSA provenance attestation (sha256-HEX.att)
    test_container: bool = False  # after the push: run the image under podman, replay the smoke test
    update_model_name: bool = False  # --gitops: write --name into the App's spec.model when they differ
    allow_pickle: bool = False  # unpickle a scikit-learn model (runs its code) to export it to ONNX
    extra_images: tuple[ImageReference, ...] = ()  # more names for the image (--image given again)
    exact: bool = False  # the smoke test's answer must equal the expected one (no tolerance)
    mlflow: MlflowAccess | None = None  # the MLflow registry of models:/ sources
    wheel_cache: Path | None = None  # pyfunc models' wheels (default: in the workdir, so per build)
    reference_data: Path | None = None  # rows to build the image's drift profile from


@dataclass(frozen=True)
class BuildResult:
    digest: str
    image: str  # REGISTRY/REPO@sha256:...
    format: str
    push: PushReport
    smoke: SmokeResult | None
    gitops_commit: str | None
    source: str | None = None
    revision: str | None = None
    signature_tag: str | None = None
    attestation_tag: str | None = None
    container: ContainerCheck | None = None
    container_seconds: float = 0.0  # pull + run + ready + smoke test
    tags: tuple[str, ...] = ()  # the other names given with --image, now on this digest
    model_version: str | None = None  # models:/NAME/VERSION tagged with the image, for registry sources


def check_request(req: BuildRequest) -> None:
    if not _NAME.match(req.name):
        raise BuildError(f"model name {req.name!r} must be letters, digits, '.', '_' or '-' (up to 128)")
    if req.image.digest:
        raise BuildError(f"--image {req.image}: give REGISTRY/REPO[:TAG]; the digest is what the build makes")
    check_extra_images(req.image, req.extra_images)
    if (req.gitops_dir is None) != (req.app is None):
        raise BuildError("--gitops and --app go together: the repo to edit and the App in it")
    if req.test_container and req.base is None:
        raise BuildError("--test-container needs --base: only a runnable image can run under podman")
    if req.test_container and req.test_data is None:
        raise BuildError("--test-container replays the smoke test against the container: give --test-data")
    if req.exact and req.test_data is None:
        raise BuildError("--exact is how the smoke test compares: give --test-data")
    if req.update_model_name and req.gitops_dir is None:
        raise BuildError("--update-model-name changes the App in --gitops: give --gitops and --app")


def check_app(req: BuildRequest) -> None:
    """Before any work: the App of ``--gitops``/``--app`` exists, is valid, and serves the model
    under the name being built (or ``--update-model-name`` says to change it)."""
    from aiedge.gitops.edit import find_app, find_kustomization
    from aiedge.gitops.errors import AppNotFound

    if req.gitops_dir is None or req.app is None:
        return
    try:
        found = find_app(req.gitops_dir, req.app)
    except AppNotFound:
        if find_kustomization(req.gitops_dir, req.app) is None:
            raise
        if req.update_model_name:
            raise BuildError(
                f"--update-model-name: {req.app} is a kustomization in {req.gitops_dir}, not an App "
                "with a spec.model to write"
            ) from None
        return
    spec = found.app.spec
    if spec.model == req.name:
        return
    if not req.update_model_name:
        raise BuildError(
            f"--name {req.name} differs from App {req.app}'s spec.model {spec.model} "
            f"({found.where('spec', 'model')}): sites would ask the server for a model it does not "
            f"have; build with --name {spec.model}, or give --update-model-name to write {req.name} there"
        )
    if req.test_data is None and spec.test is not None and spec.test.path and spec.model in spec.test.path:
        raise BuildError(
            f"App {req.app}'s test.path {spec.test.path} ({found.where('spec', 'test', 'path')}) names "
            f"the model {spec.model}; give --test-data so that the App's test is written for {req.name}"
        )


async def run_build(req: BuildRequest, reporter: Reporter | None = None) -> BuildResult:
    check_request(req)
    await asyncio.to_thread(check_app, req)
    rep = reporter or QuietReporter()
    smoke = load_test_data(req.test_data, model=req.name, protocol=req.protocol) if req.test_data else None
    if smoke is not None and req.exact:
        # sites replay the App's test with no tolerance either
        smoke = smoke.model_copy(update={"rtol": 0.0, "atol": 0.0})
    key = load_private_key(req.sign_key, req.key_password) if req.sign_key else None
    workdir = req.workdir or Path(tempfile.mkdtemp(prefix="aiedge-build-"))
    try:
        # before any work: a missing podman is a one-line error now, not after the push
        podman = Podman.setup(workdir / "podman") if req.test_container else None
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(_client(req, req.image.registry))
            base_client = client
            if req.base is not None and req.base.registry != req.image.registry:
                base_client = await stack.enter_async_context(_client(req, req.base.registry, creds=False))
            clients = {req.image.registry: client}
            for extra in req.extra_images:
                if extra.registry not in clients:
                    clients[extra.registry] = await stack.enter_async_context(_client(req, extra.registry))
            return await _build(req, rep, smoke, key, workdir, clients, base_client, podman)
    finally:
        if req.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _client(req: BuildRequest, registry: str, *, creds: bool = True) -> RegistryClient:
    return RegistryClient(
        registry,
        insecure=req.insecure,
        ca_file=req.ca_file,
        credentials=req.credentials if creds else None,
    )


async def _build(
    req: BuildRequest,
    rep: Reporter,
    smoke: SmokeTest | None,
    key: ec.EllipticCurvePrivateKey | None,
    workdir: Path,
    clients: dict[str, RegistryClient],
    base_client: RegistryClient,
    podman: Podman | None = None,
) -> BuildResult:
    client = clients[req.image.registry]
    fetched = await asyncio.to_thread(
        fetch_source, str(req.model), workdir / "source", rep, s3_endpoint=req.s3_endpoint, mlflow=req.mlflow
    )
    source, revision = req.source or fetched.url, req.revision or fetched.revision
    chosen = await asyncio.to_thread(select_model, fetched.path, req.name)
    if chosen != fetched.path:
        rep.step(f"model repository {fetched.path}: packing {chosen.name}")
        fetched = dataclasses.replace(fetched, path=chosen)
    pyfunc = await asyncio.to_thread(
        pyfunc_environments,
        fetched.path,
        workdir / "pyfunc",
        allow_code=req.allow_pickle,
        runnable=req.base is not None,
        wheel_cache=req.wheel_cache or workdir / "wheels",
    )
    if pyfunc is not None:
        fetched = dataclasses.replace(fetched, path=pyfunc[0])
        for env in pyfunc[1]:
            rep.step(env.summary())
    export = await asyncio.to_thread(
        export_pickles, fetched.path, workdir / "export", allow_pickle=req.allow_pickle
    )
    if export is not None:
        rep.step(export.summary())
        fetched = dataclasses.replace(fetched, path=export.path)
    rep.step(f"checking {fetched.path}")
    info = await asyncio.to_thread(inspect_model, fetched.path, allow_code=pyfunc is not None)
    rep.step(
        f"{info.format} model: {len(info.signature.inputs)} input(s), {len(info.signature.outputs)} output(s)"
    )
    extra_files: list[tuple[str, Path]] = []
    labels = export.labels() if export is not None else {}
    if req.reference_data is not None:
        profile = await asyncio.to_thread(
            profile_for_image, info.version_dir, req.reference_data, workdir / "profile"
        )
        extra_files.append(profile.file)
        labels.update(profile.labels)
        rep.step(profile.summary)
    bases: BaseImages | None = None
    if req.base is not None:
        rep.step(f"base image {req.base}")
        bases = await fetch_bases(base_client, req.base)
    meta = ImageMeta(
        name=req.name,
        format=info.format,
        signature_json=info.signature_json(),
        created=source_date_epoch() or fetched.epoch or 0,  # SOURCE_DATE_EPOCH, else the commit time
        source=source,
        revision=revision,
        extra_labels=labels,
    )
    multi: PackedIndex | None = None
    files = model_files(fetched.path)
    platforms = len(bases.images) if bases is not None and bases.is_index else 1  # packed once each
    rep.transfer_started(platforms * sum(path.stat().st_size for _, path in files), "packing")
    try:
        if bases is not None and bases.is_index:
            multi = await asyncio.to_thread(
                pack_platforms, fetched.path, meta, workdir, bases, rep.transferred, extra_files
            )
            image = multi.images[0]  # the model layers, the same on every platform
        else:
            base = bases.images[0] if bases is not None else None
            image = await asyncio.to_thread(
                pack, fetched.path, meta, workdir / "blobs", base, rep.transferred, extra_files
            )
    finally:
        rep.transfer_done()
    if multi is not None and bases is not None:
        names = ", ".join(str(b.platform) for b in bases.images)
        rep.step(f"packed {len(image.layers)} model layer(s) for {names}, image index {multi.digest}")
    else:
        rep.step(f"packed {len(image.layers)} model layer(s), image {image.digest}")
    result = None
    if smoke is not None:
        result = await _smoke(image, req.name, smoke, workdir, rep, exact=req.exact, code=pyfunc is not None)
    report = await _push(req, multi or image, rep, client, base_client)
    pinned_ref = req.image.with_digest(report.digest)
    container, container_seconds = None, 0.0
    if podman is not None and smoke is not None:
        started = time.monotonic()
        container = await _test_container(req, pinned_ref, smoke, podman, rep)
        container_seconds = time.monotonic() - started
    for extra in req.extra_images:
        await tag_image(client, pinned_ref, clients[extra.registry], extra)
        rep.step(f"tagged {extra} -> {report.digest}")
    sig_tag = att_tag = None
    if key is not None:
        sig_tag = (await sign_image(client, pinned_ref, key)).tag
        rep.step(f"signed: {sig_tag}")
    if req.provenance:
        statement = await _provenance(req, meta, fetched, image, report.digest, smoke)
        att = await attach_attestation(client, pinned_ref, statement, PREDICATE_TYPE, key)
        att_tag = att.tag
        rep.step(f"provenance {'(signed) ' if key else ''}attached: {att_tag}")
    if fetched.model_version is not None and req.mlflow is not None:
        await asyncio.to_thread(
            tag_version, req.mlflow, fetched.model_version, pinned_ref.pinned, report.digest
        )
        rep.step(f"MLflow registry: {fetched.model_version.uri} tagged {IMAGE_TAG}={pinned_ref.pinned}")
    commit = None
    if req.gitops_dir is not None and req.app is not None:
        commit = await asyncio.to_thread(_record, req, report.digest, source, smoke)
        wrote = " and its test" if smoke is not None else ""
        rep.step(f"GitOps: App {req.app} now runs {report.digest}{wrote} (commit {commit[:12]})")
    return BuildResult(
        report.digest,
        pinned_ref.pinned,
        info.format,
        report,
        result,
        commit,
        source,
        revision,
        sig_tag,
        att_tag,
        container,
        container_seconds,
        tuple(str(x) for x in req.extra_images),
        fetched.model_version.uri if fetched.model_version is not None else None,
    )


async def _test_container(
    req: BuildRequest, ref: ImageReference, smoke: SmokeTest, podman: Podman, rep: Reporter
) -> ContainerCheck:
    """Pull the pushed image by digest into podman, run it, replay the smoke test; the container is
    removed either way (the image stays in podman's storage, as any pulled image)."""
    plain = req.insecure if req.insecure is not None else is_loopback(ref.registry)
    creds = (req.credentials.username, req.credentials.password) if req.credentials else None
    rep.step(f"container test: podman pull {ref.pinned}")
    image_id = await pull_image(
        podman, ref.pinned, tls_verify=not plain, credentials=creds, ca_file=req.ca_file
    )
    rep.step(f"container test: podman run (runc), then POST {smoke.path}")
    check = await check_container(image_id, smoke, podman=podman, exact=req.exact)
    if not check.result.ok:
        what = "; ".join(check.result.diffs) or check.result.error or "no answer"
        logs = f" (container log: {check.logs[-400:]})" if check.result.error and check.logs else ""
        raise SmokeTestFailed(f"container test of {req.name} failed: {what}{logs}")
    rep.step(f"container test passed: ready {check.ready_seconds:.1f} s after podman run")
    return check


async def _provenance(
    req: BuildRequest,
    meta: ImageMeta,
    fetched: FetchedSource,
    image: PackedImage,
    digest: str,
    smoke: SmokeTest | None,
) -> bytes:
    files = await asyncio.to_thread(model_files, fetched.path)
    smoke_doc: dict[str, Any] | None = None
    if smoke is not None:
        smoke_doc = {"passed": True, "path": smoke.path, "rtol": smoke.rtol, "atol": smoke.atol}
    return provenance_statement(
        ProvenanceInput(
            image=f"{req.image.registry}/{req.image.repository}",
            digest=digest,
            name=req.name,
            format=meta.format,
            model_digest=await asyncio.to_thread(model_digest, files),
            created=meta.created,
            source=meta.source,
            revision=meta.revision,
            source_digest=fetched.digest,
            base=image.base.ref.pinned if image.base else None,
            smoke=smoke_doc,
        )
    )


async def _smoke(
    image: PackedImage,
    name: str,
    smoke: SmokeTest,
    workdir: Path,
    rep: Reporter,
    *,
    exact: bool = False,
    code: bool = False,
) -> SmokeResult:
    rootfs = workdir / "rootfs"
    await asyncio.to_thread(shutil.rmtree, rootfs, True)
    await asyncio.to_thread(unpack_layers, [x.path for x in image.layers], rootfs)
    rep.step(f"smoke test: serving the packed model, POST {smoke.path}")
    result = await smoke_test_model(
        rootfs / image.model_path, name, smoke, workdir / "logs", exact=exact, allow_code=code
    )
    if not result.ok:
        raise SmokeTestFailed(f"smoke test of {name} failed: {result.summary()}")
    how = "exact" if exact else f"rtol {smoke.rtol:g}, atol {smoke.atol:g}"
    rep.step(f"smoke test passed ({how})")
    return result


async def _push(
    req: BuildRequest,
    packed: PackedImage | PackedIndex,
    rep: Reporter,
    client: RegistryClient,
    base_client: RegistryClient,
) -> PushReport:
    rep.step(f"pushing to {req.image}")
    images = packed.images if isinstance(packed, PackedIndex) else [packed]
    base_bytes = sum(x.size for image in images if image.base for x in image.base.layers)
    rep.transfer_started(base_bytes + sum(size for image in images for _, _, size in image.blobs()))
    try:
        if isinstance(packed, PackedIndex):
            return await push_platforms(
                client, req.image, packed, progress=rep.transferred, base_client=base_client
            )
        return await push_image(client, req.image, packed, progress=rep.transferred, base_client=base_client)
    finally:
        rep.transfer_done()


def _record(req: BuildRequest, digest: str, source: str | None, smoke: SmokeTest | None) -> str:
    """Commit the digest, and the smoke test the image passed, so that sites replay that test;
    in the seed's layout (no App, an Argo CD app folder whose kustomization pins the image) the
    kustomization's digest."""
    from aiedge.gitops.edit import AppUpdate, set_kustomization_image, update_app
    from aiedge.gitops.errors import AppNotFound

    assert req.gitops_dir is not None and req.app is not None
    message = f"{req.app}: model {req.name} from {source or req.model} -> {digest}"
    if smoke is not None:
        message += " (and its test)"
    update = AppUpdate(
        repository=f"{req.image.registry}/{req.image.repository}",
        digest=digest,
        test=smoke,
        model=req.name if req.update_model_name else None,
    )
    try:
        return update_app(req.gitops_dir, req.app, update, message)
    except AppNotFound:
        return set_kustomization_image(req.gitops_dir, req.app, update.repository, digest, message)
