"""Switches that wait: a site-local hold (``aiedge agent hold`` / ``release``, or a file a
line-of-business system writes) and maintenance windows (cron start + duration in the site's
time zone), with prefetch downloading at once. The agent runs as a real process against the fake
hub: a held switch reports Deferred with its reason and happens on release; a version outside its
window is downloaded (prefetch), reported Deferred with the next opening, and switched once the
window opens. The window arithmetic and the hold file's hostile inputs are checked as functions."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aiedge.agent.holds import read_hold, release_hold, write_hold
from aiedge.agent.windows import deferral, next_opening, window_open
from aiedge.contracts import AppHealth, AppReason, DesiredApp, MaintenanceWindow, StatusReport
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, state
from tests.support import aiedge_cmd, wait_until

SITE = "site-w"
ZONE = "Asia/Kathmandu"  # +05:45: a window read in UTC would be wrong by hours and minutes


def _deferred(why: str) -> Callable[[StatusReport], bool]:
    def check(r: StatusReport) -> bool:
        return bool(r.apps) and r.apps[0].reason is AppReason.DEFERRED and why in r.apps[0].message

    return check


def _cli(*args: str) -> str:
    out = subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.timeout(400)
def test_a_hold_and_a_window_defer_switches_until_released_and_open(
    tmp_path: Path, images: dict[str, str], fake_hub: Callable[..., FakeHub]
) -> None:
    hub = fake_hub(SITE)
    data = tmp_path / "data"
    v1 = app("app", images["v1"], "tiny", smoke_test("tiny", 1.0))
    hub.set_desired(state(SITE, 1, v1))
    agent = agent_proc(hub.url, SITE, data, tmp_path / "agent.log")
    try:
        hub.wait_report(healthy_on(v1.digest), timeout=120, what="v1 healthy")

        # held at the site: v2 waits, not even downloaded, v1 serves
        assert "held: night shift" in _cli("agent", "hold", "--reason", "night shift", "--data", str(data))
        v2 = v1.model_copy(update={"image": images["v2"], "smoke_test": smoke_test("tiny", 2.0)})
        hub.set_desired(state(SITE, 2, v2))
        held = hub.wait_report(_deferred("night shift"), timeout=60, what="Deferred by the hold").apps[0]
        assert held.digest == v1.digest and held.target_digest == v2.digest
        assert held.health is AppHealth.PROGRESSING
        assert "held at the site since" in held.message and "aiedge agent release" in held.message
        assert not (data / "blobs" / "sha256" / v2.digest.split(":")[1]).exists()
        assert predict(v1.port) == pytest.approx(answer(1.0))
        assert "released (was: night shift)" in _cli("agent", "release", "--data", str(data))
        hub.wait_report(healthy_on(v2.digest), timeout=120, what="v2 healthy once released")

        # a window a little in the future, in the site's zone, with prefetch
        zone = ZoneInfo(ZONE)
        opens = (datetime.now(zone) + timedelta(seconds=45)).replace(second=0, microsecond=0)
        opens += timedelta(minutes=1)
        window = MaintenanceWindow(start=f"{opens.minute} {opens.hour} * * *", duration=600)
        v3 = v2.model_copy(
            update={
                "image": images["v3"],
                "smoke_test": smoke_test("tiny", 3.0),
                "windows": [window],
                "time_zone": ZONE,
                "prefetch": True,
            }
        )
        hub.set_desired(state(SITE, 3, v3))
        waiting = hub.wait_report(_deferred("outside its maintenance windows"), timeout=60, what="Deferred")
        assert f"the next opens {opens:%Y-%m-%d %H:%M} {ZONE}" in waiting.apps[0].message
        assert waiting.apps[0].digest == v2.digest
        unpacked = data / "apps" / "app" / v3.digest.split(":")[1]
        wait_until(unpacked.is_dir, timeout=30, what="v3 prefetched before its window")
        assert datetime.now(zone) < opens, "the machine was too slow to see the deferral first"
        hub.wait_report(_deferred("downloaded, it switches then"), timeout=30, what="prefetched")
        assert predict(v1.port) == pytest.approx(answer(2.0))

        switched = hub.wait_report(healthy_on(v3.digest), timeout=240, what="v3 healthy in its window")
        assert switched.time >= opens
        assert predict(v1.port) == pytest.approx(answer(3.0))
    finally:
        assert agent.stop() == 0, agent.log()


def _at(text: str, zone: str = ZONE) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_windows_are_read_in_the_sites_zone_and_span_midnight() -> None:
    nightly = [MaintenanceWindow(start="30 23 * * *", duration=2 * 3600)]
    assert window_open(nightly, ZONE, _at("2026-12-01T23:45:00"))
    assert window_open(nightly, ZONE, _at("2026-12-02T01:29:59"))
    assert not window_open(nightly, ZONE, _at("2026-12-02T01:30:00"))
    assert not window_open(nightly, ZONE, _at("2026-12-01T23:29:00"))
    # 23:45 in Kathmandu is 18:00 UTC: the same instant, outside a window read in UTC
    assert not window_open(nightly, "UTC", _at("2026-12-01T23:45:00"))
    assert next_opening(nightly, ZONE, _at("2026-12-02T01:30:00")) == _at("2026-12-02T23:30:00")
    weekends = [MaintenanceWindow(start="0 2 * * 6,0", duration=3600)]
    assert next_opening(weekends, "UTC", _at("2026-12-01T12:00:00", "UTC")) == _at(
        "2026-12-05T02:00:00", "UTC"
    )


def test_deferral_says_why_and_a_hold_comes_first(tmp_path: Path) -> None:
    base = DesiredApp(name="a", model="m", image="r.example/x@sha256:" + "a" * 64)
    assert deferral(base, None) is None
    windowed = base.model_copy(update={"windows": [MaintenanceWindow(start="0 3 * * *", duration=60)]})
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert (
        deferral(windowed, None, noon)
        == "outside its maintenance windows; the next opens 2026-12-02 03:00 UTC"
    )
    assert deferral(windowed, None, noon.replace(hour=3, second=30)) is None
    hold = write_hold(tmp_path, "stock count\nsecond line ignored")
    message = deferral(windowed, hold, noon.replace(hour=3))
    assert message is not None and "stock count" in message and "second line" not in message


def test_the_hold_file_is_hostile_input(tmp_path: Path) -> None:
    assert read_hold(tmp_path) is None and release_hold(tmp_path) is False
    hold = tmp_path / "hold"
    hold.write_bytes(b"\x1b[31mred\x07 " + b"x" * 10_000)  # escapes, a huge line
    found = read_hold(tmp_path)
    assert found is not None and found.reason.startswith("?[31mred?") and len(found.reason) == 200
    hold.write_bytes(b"")
    empty = read_hold(tmp_path)
    assert empty is not None and empty.reason == "(no reason given)"
    hold.unlink()
    secret = tmp_path / "credential"
    secret.write_text("site-credential")
    os.symlink(secret, hold)  # a link is not followed: it still holds, and tells nothing
    linked = read_hold(tmp_path)
    assert linked is not None and "site-credential" not in linked.reason
    assert release_hold(tmp_path) and secret.exists()
