"""Where a model comes from: a local path, a Git repo, an HTTP(S) URL or an S3 prefix.

:func:`fetch_source` brings a remote model onto local disk under ``dest`` and says what it was
(the URL to record, the commit, the commit time). One file per kind of source; this module only
picks one. Everything here blocks (git, sockets, boto3): the pipeline runs it in a thread.

Spec forms, each with an optional ``#subdir=PATH`` naming the model folder inside the source:

- ``git+https://host/repo.git@REF``, ``git+file:///path/repo@REF`` (REF: branch, tag or commit)
- ``https://host/model.onnx``, ``https://host/model.tar.gz``, ``https://host/model.zip``
- ``s3://bucket/prefix`` (endpoint and credentials: ``--s3-endpoint`` and the AWS variables)
- ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``: a version in an MLflow model registry
  (``--mlflow-uri``); no ``#subdir``, the version's artifacts are the model
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from aiedge.builder.errors import SourceError

if TYPE_CHECKING:
    from aiedge.builder.sources.mlflow import MlflowAccess, ModelVersionRef


class TransferProgress(Protocol):
    def step(self, text: str) -> None: ...
    def transfer_started(self, total: int) -> None: ...
    def transferred(self, n: int) -> None: ...
    def transfer_done(self) -> None: ...


@dataclass(frozen=True)
class FetchedSource:
    path: Path  # the model on local disk (a folder or a file)
    url: str | None  # what to record as the image's source (no credentials); None for local paths
    revision: str | None = None  # Git commit SHA
    epoch: int | None = None  # commit time, the default SOURCE_DATE_EPOCH
    digest: str | None = None  # sha256 of a downloaded file or archive, when there was one
    model_version: ModelVersionRef | None = None  # a model registry's version, tagged after the push


REMOTE_PREFIXES = ("git+", "http://", "https://", "s3://", "models:/")


def is_remote(spec: str) -> bool:
    return spec.startswith(REMOTE_PREFIXES)


def split_subdir(spec: str) -> tuple[str, str | None]:
    """``URL#subdir=PATH`` -> (URL, PATH); other fragments are refused, not ignored."""
    if "#" not in spec:
        return spec, None
    url, fragment = spec.split("#", 1)
    params = parse_qs(fragment, keep_blank_values=True)
    if set(params) - {"subdir"} or len(params.get("subdir", [])) != 1:
        raise SourceError(f"{spec}: the only fragment understood is #subdir=PATH")
    subdir = params["subdir"][0].strip("/")
    if not subdir or subdir.startswith("/") or ".." in subdir.split("/"):
        raise SourceError(f"{spec}: subdir {subdir!r} must be a relative path inside the source")
    return url, subdir


def redact(url: str) -> str:
    """The URL without user name, password or query (tokens live there); kept for labels and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def within(root: Path, subdir: str | None, spec: str) -> Path:
    if subdir is None:
        return root
    path = root / subdir
    if not path.exists():
        raise SourceError(f"{spec}: subdir {subdir!r} is not in the source")
    return path


def fetch_source(
    spec: str,
    dest: Path,
    progress: TransferProgress,
    *,
    s3_endpoint: str | None = None,
    mlflow: MlflowAccess | None = None,
) -> FetchedSource:
    """Fetch ``spec`` into the empty-or-missing folder ``dest``; local paths are used in place."""
    if not is_remote(spec):
        path = Path(spec)
        if not path.exists():
            raise SourceError(f"{spec}: no such file or folder")
        return FetchedSource(path, None)
    if spec.startswith("models:/"):
        from aiedge.builder.sources.mlflow import fetch_mlflow

        dest.mkdir(parents=True, exist_ok=True)
        return fetch_mlflow(spec, dest, progress, mlflow, s3_endpoint=s3_endpoint)
    url, subdir = split_subdir(spec)
    dest.mkdir(parents=True, exist_ok=True)
    if url.startswith("git+"):
        from aiedge.builder.sources.git import fetch_git

        return fetch_git(url, subdir, dest, progress)
    if url.startswith("s3://"):
        from aiedge.builder.sources.s3 import fetch_s3

        return fetch_s3(url, subdir, dest, progress, endpoint=s3_endpoint)
    from aiedge.builder.sources.http import fetch_http

    return fetch_http(url, subdir, dest, progress)
