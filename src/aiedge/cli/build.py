"""`aiedge build`: package a model into an OCI image, smoke-test it, push it, sign it, record it in
GitOps; `aiedge keygen` and `aiedge verify` for cosign-compatible signatures.

Steps and progress go to stderr; the result goes to stdout (with ``--json``, its last line is
``{"digest": ..., "image": ...}`` exactly, for scripts).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import typer

from aiedge.builder.errors import SourceError
from aiedge.builder.pipeline import BuildRequest, BuildResult, run_build
from aiedge.builder.sources import is_remote
from aiedge.builder.sources.mlflow import MlflowAccess
from aiedge.cli.output import JSON, OUTPUT, Format, choose, emit
from aiedge.cli.progress import ConsoleReporter, iec
from aiedge.cli.spelling import (
    CA_FILE,
    PASSWORD,
    PASSWORD_FILE,
    REGISTRY_CA,
    REGISTRY_INSECURE,
    USERNAME,
    registry_credentials,
    renamed,
)
from aiedge.oci.cosign import verify_signature
from aiedge.oci.errors import SignatureError
from aiedge.oci.keys import generate_key_pair
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


def _summary(result: BuildResult) -> str:
    p = result.push
    lines = [
        f"built {result.image}",
        f"  format {result.format}; pushed {iec(p.bytes_sent)} in {p.blobs_sent} blob(s), "
        f"skipped {iec(p.bytes_skipped)} in {p.blobs_skipped} the registry had",
    ]
    if p.blobs_mounted:
        lines.append(f"  {p.blobs_mounted} base layer(s) mounted from the base's repository")
    if result.revision:
        lines.append(f"  source {result.source} at {result.revision}")
    for tag in result.tags:
        lines.append(f"  also tagged {tag}")
    if result.model_version:
        lines.append(f"  {result.model_version} tagged with the image")
    if result.smoke is not None:
        lines.append("  smoke test passed")
    if result.container is not None:
        lines.append(
            f"  container test passed under podman: ready {result.container.ready_seconds:.1f} s after "
            f"start, {result.container_seconds:.1f} s with the pull"
        )
    if result.signature_tag:
        lines.append(f"  signed ({result.signature_tag})")
    if result.attestation_tag:
        lines.append(f"  provenance attached ({result.attestation_tag})")
    if result.gitops_commit:
        lines.append(f"  GitOps commit {result.gitops_commit}")
    return "\n".join(lines)


def _mlflow_access(
    uri: str | None, token: str | None, username: str | None, password: str | None
) -> MlflowAccess | None:
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"--mlflow-uri {uri}: an http(s):// URL of the MLflow tracking server")
    return MlflowAccess(uri, token or None, username or None, password or None)


def build_command(
    path: str = typer.Argument(
        ...,
        help="The model: a folder or file, git+https://HOST/REPO.git@REF, git+file:///..., an http(s) URL "
        "of a file, .tar.gz or .zip, or s3://BUCKET/PREFIX; '#subdir=PATH' picks a folder inside.",
    ),
    name: str = typer.Option(
        ..., "--name", "-n", help="Model name clients use (also models/NAME in the image)."
    ),
    image: list[str] = typer.Option(
        ...,
        "--image",
        "-i",
        help="Where to push: REGISTRY/REPOSITORY[:TAG]; give it again for more tags (all get the digest).",
    ),
    insecure: bool = REGISTRY_INSECURE,
    ca: Path | None = REGISTRY_CA,
    ca_file: Path | None = CA_FILE,
    username: str | None = USERNAME,
    password_file: Path | None = PASSWORD_FILE,
    password: str | None = PASSWORD,
    test_data: Path | None = typer.Option(
        None,
        "--test-data",
        "-t",
        help="Smoke test: a ConfigMap (data.json/output.json) or {request, response} JSON.",
    ),
    exact: bool = typer.Option(
        False,
        "--exact",
        help="The answer must be the expected JSON exactly (no tolerance, no extra keys), as the seed's "
        "pipeline compares; the App's test gets rtol 0, atol 0.",
    ),
    protocol: str | None = typer.Option(
        None,
        "--protocol",
        help="Protocol of the test request (v2, tfserving, mlflow); default: from its body.",
    ),
    gitops: Path | None = typer.Option(
        None, "--gitops", "-g", metavar="DIR", help="GitOps repo work tree to commit the digest to."
    ),
    app: str | None = typer.Option(
        None, "--app", "-a", help="The App in --gitops to point at the new image (and --test-data's test)."
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Unpickle a scikit-learn model (that runs any code in the file) to export it to ONNX; "
        "the image holds the checked ONNX export, never the pickle.",
    ),
    reference_data: Path | None = typer.Option(
        None,
        "--reference-data",
        metavar="FILE",
        help="Rows of the model's input (CSV, NPY or JSON) to store a drift profile of its inputs "
        "and outputs in the image; sites score live traffic against it.",
    ),
    update_model_name: bool = typer.Option(
        False,
        "--update-model-name",
        help="Write --name into the App's spec.model when they differ (otherwise that is an error).",
    ),
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
    s3_endpoint: str | None = typer.Option(
        None, "--s3-endpoint", help="S3 endpoint URL for s3:// sources (MinIO, Ceph...)."
    ),
    mlflow_uri: str | None = typer.Option(
        None,
        "--mlflow-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow tracking server of models:/NAME/VERSION and models:/NAME@ALIAS sources "
        "(login: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME/PASSWORD).",
    ),
    mlflow_token: str | None = typer.Option(None, envvar="MLFLOW_TRACKING_TOKEN", hidden=True),
    mlflow_username: str | None = typer.Option(None, envvar="MLFLOW_TRACKING_USERNAME", hidden=True),
    mlflow_password: str | None = typer.Option(None, envvar="MLFLOW_TRACKING_PASSWORD", hidden=True),
    sign: Path | None = typer.Option(
        None, "--sign", help="Private key (aiedge keygen) to sign the image and its provenance with."
    ),
    key_password: str | None = typer.Option(
        None, "--key-password", envvar="AIEDGE_KEY_PASSWORD", hidden=True, help="Password of --sign's key."
    ),
    base: str | None = typer.Option(
        None, "--base", help="Base image with aiedge in it: make a runnable image (aiedge serve the model)."
    ),
    provenance: bool = typer.Option(
        True, "--provenance/--no-provenance", help="Attach SLSA provenance (sha256-HEX.att)."
    ),
    test_container: bool = typer.Option(
        False,
        "--test-container",
        help="After the push, run the image under podman (runc) and replay --test-data against it; "
        "needs --base.",
    ),
) -> None:
    """Package a model into an OCI image, smoke-test it, push it and (optionally) record it in GitOps.

    Steps go to stderr; the result to stdout (-o json: one line, {"digest": ..., "image": ...})."""
    fmt = choose(output, as_json)
    ref, *extra = [ImageReference.parse(text) for text in image]
    ca = ca or renamed(ca_file, "--ca-file", "--ca")
    credentials = registry_credentials(username, password, password_file)
    if not is_remote(path) and not Path(path).exists():
        raise SourceError(f"{path}: no such file or folder")
    request = BuildRequest(
        model=path if is_remote(path) else Path(path),
        name=name,
        image=ref,
        extra_images=tuple(extra),
        insecure=True if insecure else None,
        ca_file=ca,
        credentials=credentials,
        test_data=test_data,
        exact=exact,
        mlflow=_mlflow_access(mlflow_uri, mlflow_token, mlflow_username, mlflow_password),
        protocol=protocol,
        gitops_dir=gitops,
        app=app,
        s3_endpoint=s3_endpoint,
        sign_key=sign,
        key_password=key_password,
        base=ImageReference.parse(base) if base else None,
        provenance=provenance,
        test_container=test_container,
        update_model_name=update_model_name,
        allow_pickle=allow_pickle,
        reference_data=reference_data,
    )
    result = asyncio.run(run_build(request, ConsoleReporter()))
    if fmt in ("json", "yaml"):
        emit({"digest": result.digest, "image": result.image}, fmt)
    else:
        print(_summary(result), flush=True)


def keygen_command(
    out: Path = typer.Option(Path(), "--out", help="Folder for cosign.key and cosign.pub."),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar="AIEDGE_KEY_PASSWORD",
        hidden=True,
        help="Encrypt the private key with this password (set AIEDGE_KEY_PASSWORD).",
    ),
) -> None:
    """Make an ECDSA P-256 key pair for signing images (cosign reads both files).

    Set AIEDGE_KEY_PASSWORD to encrypt the private key with that password."""
    private, public = generate_key_pair(out, password or None)
    print(f"private key {private}{' (encrypted)' if password else ''}")
    print(f"public key  {public}")


def verify_command(
    image: str = typer.Argument(..., help="REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:..."),
    key: Path = typer.Option(..., "--key", help="Public key (cosign.pub) the signature must verify with."),
    insecure: bool = REGISTRY_INSECURE,
    ca: Path | None = REGISTRY_CA,
    ca_file: Path | None = CA_FILE,
    username: str | None = USERNAME,
    password_file: Path | None = PASSWORD_FILE,
    password: str | None = PASSWORD,
) -> None:
    """Check an image's cosign signature with a public key: exit 0 "verified", exit 1 with why not."""
    ref = ImageReference.parse(image)
    try:
        pem = key.read_bytes()
    except OSError as e:
        raise SignatureError(f"{key}: cannot read the public key: {e.strerror or e}") from e
    ca = ca or renamed(ca_file, "--ca-file", "--ca")
    credentials = registry_credentials(username, password, password_file)

    async def check() -> None:
        async with RegistryClient(
            ref.registry, insecure=True if insecure else None, ca_file=ca, credentials=credentials
        ) as client:
            await verify_signature(client, ref, pem)

    asyncio.run(check())
    print(f"verified {ref}")
