"""Models from HTTP(S): one file (``model.onnx``), a ``.tar.gz`` or a ``.zip``.

The body streams to disk in 1 MiB pieces, hashed on the way (never held in memory whole), with
byte progress when the server sends a length. Archives are then unpacked safely.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from aiedge.builder.errors import SourceError
from aiedge.builder.sources import FetchedSource, TransferProgress, redact, within
from aiedge.builder.sources.archive import archive_kind, unpack_archive

CHUNK = 1 << 20


def _file_name(url: str, response: httpx.Response) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip('"'):
            return PurePosixPath(value.strip('"')).name
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name or name in (".", ".."):
        raise SourceError(f"{redact(url)}: the URL names no file (end it with the file name)")
    return name


def fetch_http(url: str, subdir: str | None, dest: Path, progress: TransferProgress) -> FetchedSource:
    shown = redact(url)
    progress.step(f"downloading {shown}")
    download = dest / "download"
    download.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0)) as http,
            http.stream("GET", url) as r,
        ):
            if r.status_code != 200:
                raise SourceError(f"{shown}: HTTP {r.status_code}")
            name = _file_name(url, r)
            target = download / name
            total = int(r.headers.get("Content-Length", "0") or 0)
            progress.transfer_started(total)
            size = 0
            try:
                with target.open("wb") as out:
                    for chunk in r.iter_bytes(CHUNK):
                        sha.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        progress.transferred(len(chunk))
            finally:
                progress.transfer_done()
    except httpx.HTTPError as e:
        raise SourceError(f"{shown}: download failed: {e or type(e).__name__}") from e
    if total and size != total:
        raise SourceError(f"{shown}: got {size} bytes of {total}")
    digest = "sha256:" + sha.hexdigest()
    progress.step(f"downloaded {name}: {size} bytes, {digest}")
    if archive_kind(name) is None:
        if subdir is not None:
            raise SourceError(f"{url}: #subdir= needs an archive (.tar.gz or .zip), not {name}")
        return FetchedSource(target, shown, digest=digest)
    # #subdir= counts from the archive's top, so no folder is stripped then.
    root = unpack_archive(target, dest / "unpacked", shown, strip=subdir is None)
    return FetchedSource(within(root, subdir, url), shown, digest=digest)
