"""Captured requests to the core's bucket: every ``capture_interval`` seconds, the closed capture
files the apps' servers wrote (``DATA/capture/APP/DIGEST-HEX/*.jsonl``, see
:mod:`aiedge.serve.capture`) are uploaded, oldest first, to the S3-compatible bucket of
``--capture-to s3://BUCKET/PREFIX``, partitioned as training code reads them::

    PREFIX/site=SITE/app=APP/digest=HEX/hour=YYYY-MM-DDTHH/FILE.jsonl

A file is deleted once the bucket has it. While the bucket is unreachable (or refuses) nothing is
lost: files wait in the site's buffer, which the servers keep under the App's
``maxBufferBytes`` (what does not fit is dropped there and counted), and the next round starts
with the oldest. Uploads share the agent's ``--max-bandwidth`` with its downloads. Folders of apps
no longer running are uploaded too, then removed once empty.

boto3 is imported only when capture is configured; its calls run in worker threads, with one
attempt each (this loop is the retry) and short timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiedge.agent.link import LinkMeter
from aiedge.oci.bandwidth import TokenBucket
from aiedge.serve.capture import CLOSED

log = logging.getLogger(__name__)

_APP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pending:
    app: str
    digest: str  # hex
    path: Path

    def key(self, prefix: str, site: str) -> str:
        name = self.path.name
        hour = f"{name[0:4]}-{name[4:6]}-{name[6:8]}T{name[9:11]}"
        return f"{prefix}site={site}/app={self.app}/digest={self.digest}/hour={hour}/{name}"


def pending(root: Path) -> list[Pending]:
    """Closed capture files under ``root``, oldest first; nothing outside it, no links followed."""
    out: list[tuple[float, Pending]] = []
    if not root.is_dir():
        return []
    for app_dir in root.iterdir():
        if not _APP.match(app_dir.name) or app_dir.is_symlink() or not app_dir.is_dir():
            continue
        for digest_dir in app_dir.iterdir():
            if not _DIGEST.match(digest_dir.name) or digest_dir.is_symlink() or not digest_dir.is_dir():
                continue
            for f in digest_dir.iterdir():
                if CLOSED.match(f.name) and not f.is_symlink() and f.is_file():
                    out.append((f.stat().st_mtime, Pending(app_dir.name, digest_dir.name, f)))
    return [p for _, p in sorted(out, key=lambda x: (x[0], x[1].path.name))]


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class CaptureUploader:
    def __init__(
        self,
        site: str,
        root: Path,
        url: str,
        endpoint: str | None,
        interval: float,
        limiter: TokenBucket | None = None,
        writing: Callable[[], set[tuple[str, str]]] = set,
        meter: LinkMeter | None = None,
    ) -> None:
        """``writing``: the (app, digest hex) of the versions running now, whose folders stay;
        ``meter``: the site's link, whose budget the uploads keep to."""
        self.site, self.root, self.interval, self.limiter = site, root, interval, limiter
        self.meter = meter
        self.writing = writing
        self.bucket, self.prefix = split_url(url)
        self.endpoint = endpoint
        self.uploaded = 0
        self._client: Any = None
        self._failing: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.upload_round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def upload_round(self) -> int:
        """Upload what is pending, oldest first, until done or the bucket fails; how many went."""
        files = await asyncio.to_thread(pending, self.root)
        sent = 0
        for p in files:
            try:
                size = p.path.stat().st_size
                if self.meter is not None and not self.meter.captures_allowed(size):
                    break  # the rest waits at the site for the link budget
                if self.limiter is not None:
                    await self.limiter.take(size)
                await asyncio.to_thread(self._put, p)
                if self.meter is not None:
                    self.meter.add("captures", sent=size)
            except FileNotFoundError:
                continue
            except Exception as e:  # botocore's errors: the endpoint down, a refusal, a missing bucket
                why = f"{type(e).__name__}: {e}"
                if why != self._failing:
                    log.warning(
                        "captured data: s3://%s not reachable (%s); %d file(s) wait at the site",
                        self.bucket,
                        why,
                        len(files) - sent,
                    )
                self._failing = why
                return sent
            sent += 1
            self.uploaded += 1
        if self._failing is not None and sent:
            log.info("captured data: uploading to s3://%s again", self.bucket)
            self._failing = None
        await asyncio.to_thread(self._tidy, self.writing())
        return sent

    def _put(self, p: Pending) -> None:
        body = p.path.read_bytes()
        self._s3().put_object(
            Bucket=self.bucket,
            Key=p.key(self.prefix, self.site),
            Body=body,
            ContentType="application/x-ndjson",
        )
        p.path.unlink()

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
            )
            self._client = boto3.client("s3", endpoint_url=self.endpoint, config=config)
        return self._client

    def _tidy(self, writing: set[tuple[str, str]]) -> None:
        """Remove the emptied folders of versions no longer running (and quiet for ten minutes:
        a version starting up is not running yet)."""
        quiet = time.time() - 600
        if not self.root.is_dir():
            return
        for app_dir in self.root.iterdir():
            if app_dir.is_symlink() or not app_dir.is_dir():
                continue
            for digest_dir in app_dir.iterdir():
                if (
                    (app_dir.name, digest_dir.name) in writing
                    or digest_dir.is_symlink()
                    or not digest_dir.is_dir()
                    or digest_dir.stat().st_mtime > quiet
                ):
                    continue
                names = {f.name for f in digest_dir.iterdir()}
                if not any(n.endswith((".part", ".jsonl")) for n in names):
                    with contextlib.suppress(OSError):
                        for n in names:
                            (digest_dir / n).unlink()
                        digest_dir.rmdir()
