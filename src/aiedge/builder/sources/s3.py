"""Models from S3 (or any S3-compatible store): ``s3://bucket/prefix``.

A prefix that is one object's key fetches that file; otherwise every object under ``prefix/``
is downloaded, keeping its path below the prefix. boto3 reads credentials and region the usual
way (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, profiles...);
``endpoint`` points it at MinIO, Ceph or another store. boto3 is imported only when used.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from aiedge.builder.errors import SourceError
from aiedge.builder.sources import FetchedSource, TransferProgress, within
from aiedge.extras import install_hint


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    if not bucket:
        raise SourceError(f"{url}: expected s3://BUCKET/PREFIX")
    return bucket, prefix


def fetch_s3(
    url: str, subdir: str | None, dest: Path, progress: TransferProgress, *, endpoint: str | None
) -> FetchedSource:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ModuleNotFoundError as e:
        raise SourceError(f"{url}: s3:// sources need boto3: {install_hint(e)}") from None
    bucket, prefix = parse_s3_url(url)
    where = f"{url}{' at ' + endpoint if endpoint else ''}"
    progress.step(f"listing {where}")
    root = dest / "s3"
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        objects: list[tuple[str, int]] = []
        folder = prefix.rstrip("/") + "/" if prefix else ""
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/")):
            for obj in page.get("Contents", []):
                key, size = obj["Key"], obj["Size"]
                if key == prefix.rstrip("/") or key.startswith(folder):
                    objects.append((key, size))
        single = [o for o in objects if o[0] == prefix]
        if single and subdir is None:
            objects = single
        else:
            objects = [o for o in objects if o[0].startswith(folder) and not o[0].endswith("/")]
        if not objects:
            raise SourceError(f"{where}: no objects under that prefix")
        progress.transfer_started(sum(size for _, size in objects))
        try:
            for key, _ in objects:
                rel = PurePosixPath(key).name if objects == single else key[len(folder) :]
                parts = [p for p in rel.split("/") if p]
                if not parts or ".." in parts:
                    raise SourceError(f"{where}: object key {key!r} is not a usable path")
                target = root.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(target), Callback=progress.transferred)
        finally:
            progress.transfer_done()
    except (BotoCoreError, ClientError) as e:
        raise SourceError(f"{where}: {e}") from e
    progress.step(f"downloaded {len(objects)} object(s) from {url}")
    path = root / PurePosixPath(single[0][0]).name if objects == single else within(root, subdir, url)
    return FetchedSource(path, url)
