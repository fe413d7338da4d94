"""Models from an MLflow model registry: ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS``, as
the seed's ``odh`` CLI builds from a registered version.

Resolves the version through the registry's REST API (``model-versions/get``,
``registered-models/alias``), refuses one that is not ``READY``, downloads its artifacts (served
by the tracking server, ``mlflow-artifacts:/``; or from S3; or a local ``file://`` folder), and,
once the image is pushed, writes the image back onto the version as tags (``aiedge.image``,
``aiedge.digest``), so the registry says which image serves each version.

The artifacts are hostile input: every name is one path component (no ``..``, no ``/``), and
their number, depth and total size are bounded before a byte is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from aiedge.builder.errors import SourceError
from aiedge.builder.sources import FetchedSource, TransferProgress

PREFIX = "models:/"
MAX_FILES = 10_000
MAX_DEPTH = 32
MAX_BYTES = 64 << 30
IMAGE_TAG, DIGEST_TAG = "aiedge.image", "aiedge.digest"
_NAME = re.compile(r"^[^/\x00]{1,256}$")
_VERSION = re.compile(r"^[0-9]{1,12}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True)
class MlflowAccess:
    """Where the registry is (``--mlflow-uri`` / ``MLFLOW_TRACKING_URI``) and how to log in."""

    uri: str
    token: str | None = None
    username: str | None = None
    password: str | None = None

    def client(self) -> httpx.Client:
        auth = httpx.BasicAuth(self.username, self.password or "") if self.username else None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.uri.rstrip("/"), auth=auth, headers=headers, timeout=60.0)


@dataclass(frozen=True)
class ModelVersionRef:
    """One registered version: the name, the version number, and its run."""

    name: str
    version: str
    run_id: str | None = None

    @property
    def uri(self) -> str:
        return f"{PREFIX}{self.name}/{self.version}"


def parse_models_uri(spec: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/VERSION`` -> (NAME, VERSION, None); ``models:/NAME@ALIAS`` -> (NAME, None, ALIAS)."""
    rest = spec.removeprefix(PREFIX)
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        if _NAME.match(name) and _ALIAS.match(alias):
            return name, None, alias
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if _NAME.match(name) and _VERSION.match(version):
            return name, version, None
    raise SourceError(f"{spec}: expected models:/NAME/VERSION or models:/NAME@ALIAS")


def _call(client: httpx.Client, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        r = client.request(method, path, **kwargs)
    except httpx.HTTPError as e:
        raise SourceError(f"MLflow registry {client.base_url}: {what}: {type(e).__name__}: {e}") from e
    if r.status_code != 200:
        try:
            reason = str(r.json().get("message") or r.text)
        except ValueError:
            reason = r.text
        raise SourceError(f"MLflow registry {client.base_url}: {what}: HTTP {r.status_code}: {reason[:300]}")
    try:
        body = r.json()
    except ValueError:
        raise SourceError(f"MLflow registry {client.base_url}: {what}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise SourceError(f"MLflow registry {client.base_url}: {what}: unexpected answer")
    return body


def resolve(client: httpx.Client, spec: str) -> tuple[ModelVersionRef, str]:
    """The version ``spec`` names and its artifacts' URI."""
    name, version, alias = parse_models_uri(spec)
    if alias is not None:
        what = f"alias {alias} of model {name}"
        found = _call(client, "GET", "/api/2.0/mlflow/registered-models/alias", what,
                      params={"name": name, "alias": alias})  # fmt: skip
    else:
        what = f"version {version} of model {name}"
        found = _call(client, "GET", "/api/2.0/mlflow/model-versions/get", what,
                      params={"name": name, "version": version})  # fmt: skip
    mv = found.get("model_version") or {}
    ref = ModelVersionRef(name, str(mv.get("version", version)), mv.get("run_id") or None)
    if mv.get("status", "READY") != "READY":
        raise SourceError(f"{spec}: version {ref.version} of {name} is {mv.get('status')}, not READY")
    where = _call(client, "GET", "/api/2.0/mlflow/model-versions/get-download-uri", f"artifacts of {ref.uri}",
                  params={"name": name, "version": ref.version})  # fmt: skip
    uri = where.get("artifact_uri") or mv.get("source")
    if not isinstance(uri, str) or not uri:
        raise SourceError(f"{spec}: the registry gives no artifact location for {ref.uri}")
    return ref, uri


def fetch_mlflow(
    spec: str, dest: Path, progress: TransferProgress, access: MlflowAccess | None, *, s3_endpoint: str | None
) -> FetchedSource:
    if access is None:
        raise SourceError(
            f"{spec}: which MLflow registry? give --mlflow-uri URL (or set MLFLOW_TRACKING_URI)"
        )
    with access.client() as client:
        ref, artifacts = resolve(client, spec)
        progress.step(f"MLflow registry: {spec} is {ref.uri} ({artifacts})")
        scheme = urlsplit(artifacts).scheme
        if scheme == "mlflow-artifacts":
            path = _download_proxied(client, artifacts, dest / "model", progress)
        elif scheme == "s3":
            from aiedge.builder.sources.s3 import fetch_s3

            path = fetch_s3(artifacts, None, dest / "model", progress, endpoint=s3_endpoint).path
        elif scheme == "file" or (scheme == "" and artifacts.startswith("/")):
            path = Path(urlsplit(artifacts).path)
            if not path.exists():
                raise SourceError(f"{ref.uri}: artifacts at {artifacts} are not on this machine")
        else:
            raise SourceError(
                f"{ref.uri}: artifacts at {artifacts}: only mlflow-artifacts:/ (the tracking server's "
                "proxy), s3:// and file:// locations are supported"
            )
    return FetchedSource(path, ref.uri, model_version=ref)


def _download_proxied(client: httpx.Client, uri: str, dest: Path, progress: TransferProgress) -> Path:
    """Every file under ``uri`` (``mlflow-artifacts:/PATH``) through the server's artifact proxy."""
    root = urlsplit(uri).path.strip("/")
    files = _list(client, root)
    total = sum(size for _, size in files)
    dest.mkdir(parents=True, exist_ok=True)
    progress.transfer_started(total)
    try:
        for rel, size in files:
            target = dest.joinpath(*rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            url = "/api/2.0/mlflow-artifacts/artifacts/" + quote("/".join([root, *rel]))
            got = 0
            with client.stream("GET", url) as r:
                if r.status_code != 200:
                    raise SourceError(f"MLflow artifacts {'/'.join(rel)}: HTTP {r.status_code}")
                with target.open("wb") as out:
                    for chunk in r.iter_bytes(1 << 20):
                        got += len(chunk)
                        if got > size:
                            raise SourceError(f"MLflow artifacts {'/'.join(rel)}: larger than listed")
                        out.write(chunk)
                        progress.transferred(len(chunk))
    finally:
        progress.transfer_done()
    return dest


def _list(client: httpx.Client, root: str) -> list[tuple[list[str], int]]:
    """(path parts, size) of every file under ``root``, checked: names, count, depth, bytes."""
    out: list[tuple[list[str], int]] = []
    pending: list[list[str]] = [[]]
    total = 0
    while pending:
        parts = pending.pop()
        if len(parts) > MAX_DEPTH:
            raise SourceError(f"MLflow artifacts of {root}: folders nested deeper than {MAX_DEPTH}")
        listing = _call(client, "GET", "/api/2.0/mlflow-artifacts/artifacts", "list artifacts",
                        params={"path": "/".join([root, *parts])})  # fmt: skip
        for entry in listing.get("files") or []:
            name = str(entry.get("path", "")).rsplit("/", 1)[-1]
            if name in ("", ".", "..") or "\x00" in name or "\\" in name:
                raise SourceError(f"MLflow artifacts of {root}: refusing the name {entry.get('path')!r}")
            if entry.get("is_dir"):
                pending.append([*parts, name])
                continue
            size = int(entry.get("file_size") or 0)
            total += max(size, 0)
            out.append(([*parts, name], max(size, 0)))
            if len(out) > MAX_FILES or total > MAX_BYTES:
                raise SourceError(
                    f"MLflow artifacts of {root}: over {MAX_FILES} files or {MAX_BYTES >> 30} GiB"
                )
    return sorted(out)


def tag_version(access: MlflowAccess, ref: ModelVersionRef, image: str, digest: str) -> None:
    """Write the built image onto the version: ``aiedge.image`` (pinned) and ``aiedge.digest``."""
    with access.client() as client:
        for key, value in ((IMAGE_TAG, image), (DIGEST_TAG, digest)):
            _call(client, "POST", "/api/2.0/mlflow/model-versions/set-tag", f"tag {ref.uri}",
                  json={"name": ref.name, "version": ref.version, "key": key, "value": value})  # fmt: skip
