"""The agent on a disk that fills, for real: a 128 MiB tmpfs mounted under the test's folder holds
its data. Versions neither serving nor kept for rollback are pruned, oldest first, once free space
falls under ``--min-free`` (or the cache passes ``--cache-max``); a version that cannot fit is
refused before any download with ``InsufficientDisk`` and its numbers, the site serving on, and
taken once space is freed. Sizes parse with their units."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiedge.agent.prune import parse_size
from aiedge.contracts import AppHealth, AppReason, StatusReport
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, push_model_image, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, state
from tests.support import wait_until

SITE = "site-disk"
MiB = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 128 MiB tmpfs at ``tmp_path/disk``, unmounted when the test ends."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (the test suite runs as root here)", pytrace=False)
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _hex(image: str) -> str:
    return image.rsplit(":", 1)[1]


def _on_disk(data: Path, image: str) -> bool:
    return (data / "blobs" / "sha256" / _hex(image)).exists() or (
        data / "apps" / "app" / _hex(image)
    ).exists()


def _disk_env() -> dict[str, str]:
    return {"AIEDGE_AGENT_DISK_RESERVE": str(MiB), "AIEDGE_AGENT_BACKOFF_MAX": "2"}


@pytest.mark.timeout(400)
def test_a_filling_disk_prunes_old_versions_and_refuses_what_cannot_fit(
    tmp_path: Path, small_disk: Path, registry: str, fake_hub: Callable[..., FakeHub]
) -> None:
    # 12 MiB of random bytes per version: ~12 MiB of blobs plus ~12 MiB unpacked
    images = {
        n: push_model_image(registry, "disk/tiny", "tiny", float(n), extra=os.urandom(12 * MiB))
        for n in (1, 2, 3, 4)
    }
    hub = fake_hub(SITE)
    data = small_disk / "data"
    apps = {n: app("app", images[n], "tiny", smoke_test("tiny", float(n))) for n in images}
    port = apps[1].port
    apps = {n: a.model_copy(update={"port": port, "grpc_port": apps[1].grpc_port}) for n, a in apps.items()}
    agent = agent_proc(hub.url, SITE, data, tmp_path / "agent.log", "--min-free", "80MiB", env=_disk_env())
    try:
        for n in (1, 2, 3):
            hub.set_desired(state(SITE, n, apps[n]))
            hub.wait_report(healthy_on(apps[n].digest), timeout=120, what=f"v{n} healthy")
        # v3 serves, v2 is its warm rollback: v1 went once free space fell under 80 MiB
        wait_until(
            lambda: not _on_disk(data, images[1]),
            timeout=60,
            what=f"v1 pruned ({shutil.disk_usage(small_disk).free / MiB:.1f} MiB free)",
        )
        assert _on_disk(data, images[2]) and _on_disk(data, images[3])
        assert shutil.disk_usage(small_disk).free >= 76 * MiB  # 80 when pruned; logs grow

        # another tenant fills the disk: v4 cannot fit, and nothing unkept is left to prune
        junk = small_disk / "junk"
        with junk.open("wb") as f:
            f.write(b"\0" * (shutil.disk_usage(small_disk).free - 14 * MiB))
        hub.set_desired(state(SITE, 4, apps[4]))

        def refused(r: StatusReport) -> bool:
            return bool(r.apps) and r.apps[0].reason is AppReason.INSUFFICIENT_DISK

        report = hub.wait_report(refused, timeout=120, what="InsufficientDisk")
        status = report.apps[0]
        assert status.digest == apps[3].digest and status.target_digest == apps[4].digest
        assert status.health is AppHealth.DEGRADED
        assert "needs about 25." in status.message and "MiB free" in status.message, status.message
        assert predict(port) == pytest.approx(answer(3.0))
        assert not (data / "blobs" / "sha256" / f"{_hex(images[4])}.partial").exists()
        layer_blobs = [p for p in (data / "blobs" / "sha256").iterdir() if p.stat().st_size > MiB]
        assert len(layer_blobs) == 2, "v4's layer was downloaded into a full disk"

        # space comes back: v4 is taken on the next try, v2 pruned in its turn
        junk.unlink()
        hub.wait_report(healthy_on(apps[4].digest), timeout=120, what="v4 healthy once space is freed")
        assert predict(port) == pytest.approx(answer(4.0))
        wait_until(lambda: not _on_disk(data, images[2]), timeout=60, what="v2 pruned")
        assert _on_disk(data, images[3]) and _on_disk(data, images[4])
    finally:
        assert agent.stop() == 0, agent.log()


@pytest.mark.timeout(300)
def test_cache_max_keeps_serving_and_previous_only(
    tmp_path: Path, registry: str, fake_hub: Callable[..., FakeHub]
) -> None:
    images = {
        n: push_model_image(registry, "disk/capped", "tiny", float(n), extra=os.urandom(2 * MiB))
        for n in (1, 2, 3)
    }
    hub = fake_hub(SITE)
    data = tmp_path / "data"
    first = app("app", images[1], "tiny", smoke_test("tiny", 1.0))
    agent = agent_proc(hub.url, SITE, data, tmp_path / "agent.log", "--cache-max", "5MiB", env=_disk_env())
    try:
        for n in (1, 2, 3):
            a = first.model_copy(update={"image": images[n], "smoke_test": smoke_test("tiny", float(n))})
            hub.set_desired(state(SITE, n, a))
            hub.wait_report(healthy_on(a.digest), timeout=120, what=f"v{n} healthy")
            # over the cap from v2 on, but serving and previous are never pruned
            assert _on_disk(data, images[n]) and (n == 1 or _on_disk(data, images[n - 1]))
        wait_until(lambda: not _on_disk(data, images[1]), timeout=60, what="v1 pruned")
    finally:
        assert agent.stop() == 0, agent.log()


def test_sizes_parse_with_units_and_refuse_nonsense() -> None:
    assert parse_size("20GiB") == 20 << 30
    assert parse_size("500MB") == 500_000_000
    assert parse_size("1.5 kib") == 1536
    assert parse_size("4096") == 4096
    for bad in ("", "lots", "5Mb/s", "-1GiB", "1e9"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)
