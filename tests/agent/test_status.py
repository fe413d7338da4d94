"""What the agent reports, as a real process against the fake hub and the real registry: a typed
reason for every state, the digest it works towards, and download progress.

A digest the registry does not have is ``ImageNotFound`` with "not found in the registry:
REG/REPO@sha256:..." (not a bare HTTP 404), retried with backoff until a push makes it exist. A
slow download (``--max-bandwidth``) is ``Downloading`` with bytes done/total, rate and ETA that
grow from report to report, and a log line every interval; the site stays ``progressing``
throughout, never ``degraded`` or ``failed``, also while the previous version keeps serving."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from aiedge.contracts import AppHealth, AppReason, StatusReport
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, push_model_image, smoke_test
from tests.agent.running import agent_proc, healthy_on, serving, state
from tests.support import wait_until

SITE = "site-status"


@pytest.fixture
def hub(fake_hub: Callable[..., FakeHub]) -> FakeHub:
    return fake_hub(SITE)


@pytest.mark.timeout(300)
def test_not_found_then_a_slow_download_reported_as_it_goes(
    tmp_path: Path, registry: str, hub: FakeHub
) -> None:
    # the digest exists in agent/tiny, not yet in agent/late: the same bytes are pushed there later
    digest = push_model_image(registry, "agent/tiny", "tiny", 1.0).split("@", 1)[1]
    late = f"{registry}/agent/late@{digest}"
    v1 = app("tiny-app", late, "tiny", smoke_test("tiny", 1.0))
    hub.set_desired(state(SITE, 1, v1))
    env = {"AIEDGE_AGENT_BACKOFF_MAX": "2", "AIEDGE_AGENT_PROGRESS_LOG_INTERVAL": "1"}
    agent = agent_proc(
        hub.url, SITE, tmp_path / "data", tmp_path / "agent.log", "--max-bandwidth", "1MiB/s", env=env
    )
    try:
        missing = hub.wait_report(
            lambda r: bool(r.apps) and r.apps[0].reason is AppReason.IMAGE_NOT_FOUND,
            timeout=90,
            what="ImageNotFound",
        )
        status = missing.apps[0]
        assert f"not found in the registry: {late}" in status.message, status.message
        assert status.health is AppHealth.FAILED and status.digest is None
        assert status.target_digest == digest
        assert "HTTP 404" not in status.message
        # retried with backoff: the push alone (same desired state) brings it up
        wait_until(lambda: agent.log().count("not found in the registry") >= 2, timeout=60, what="retries")
        assert push_model_image(registry, "agent/late", "tiny", 1.0) == late
        ready = hub.wait_report(healthy_on(digest), timeout=90, what="v1 healthy once pushed")
        assert ready.apps[0].reason is AppReason.READY and ready.apps[0].target_digest is None

        # a 6 MiB layer at 1 MiB/s while v1 serves: Downloading, growing, never degraded
        slow = push_model_image(registry, "agent/slow", "tiny", 2.0, extra=os.urandom(6 << 20))
        v2 = v1.model_copy(update={"image": slow, "smoke_test": smoke_test("tiny", 2.0)})
        since = len(hub.reports)
        hub.set_desired(state(SITE, 2, v2))
        hub.wait_report(healthy_on(v2.digest), timeout=120, what="v2 healthy after a slow download")
        reports = hub.reports[since:]
        downloading = [r.apps[0] for r in reports if r.apps and r.apps[0].reason is AppReason.DOWNLOADING]
        assert len(downloading) >= 3, [r.apps[0].message for r in reports if r.apps]
        done = [a.progress.done_bytes for a in downloading if a.progress is not None]
        assert len(done) == len(downloading) and done == sorted(done) and done[-1] > done[0]
        last = downloading[-1]
        assert last.progress is not None and last.progress.total_bytes is not None
        assert last.progress.total_bytes > 6 << 20
        assert last.progress.rate_bps is not None and 0 < last.progress.rate_bps < 2 << 20
        assert last.progress.eta_seconds is not None
        assert all(a.target_digest == v2.digest and a.digest == digest for a in downloading), [
            (a.digest, a.target_digest) for a in downloading
        ]
        assert serving(v1.port, answer(1.0)) or serving(v1.port, answer(2.0))

        def never_bad(r: StatusReport) -> bool:
            return all(a.health in (AppHealth.PROGRESSING, AppHealth.HEALTHY) for a in r.apps)

        assert all(never_bad(r) for r in reports), [
            (a.health, a.message) for r in reports for a in r.apps if not never_bad(r)
        ]
        lines = re.findall(r"tiny-app: sha256:\w+: downloading, .* of .* MiB \(\d+%\)", agent.log())
        assert len(lines) >= 3, agent.log()[-3000:]
        assert "downloaded" in agent.log()
    finally:
        assert agent.stop() == 0, agent.log()
