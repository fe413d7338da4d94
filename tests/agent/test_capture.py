"""The capture uploader's view of the site's buffer: only closed capture files of well-named app
and digest folders, oldest first, never through a link; their keys partitioned by site, app,
digest and hour; a bad --capture-to is one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from aiedge.agent.capture import pending, split_url
from tests.support import aiedge_cmd

HEX = "ab" * 32


def test_pending_files_and_their_keys(tmp_path: Path) -> None:
    root = tmp_path / "capture"
    good = root / "housing" / HEX
    good.mkdir(parents=True)
    (good / "20261201T13-42-2.jsonl").write_text("{}\n")
    (good / "20261201T12-42-1.jsonl").write_text("{}\n")
    os.utime(good / "20261201T12-42-1.jsonl", (1, 1))
    (good / "open-42-3.part").write_text("{}\n")  # still being written
    (good / "budget.json").write_text("{}")
    (good / "notes.jsonl").write_text("{}")  # not a name the server writes
    outside = tmp_path / "secret.jsonl"
    outside.write_text("secret")
    (good / "20261201T14-42-9.jsonl").symlink_to(outside)
    (root / "Bad_App" / HEX).mkdir(parents=True)
    (root / "Bad_App" / HEX / "20261201T12-1-1.jsonl").write_text("{}\n")
    (root / "housing" / "not-a-digest").mkdir()
    (root / "linked").symlink_to(good.parent, target_is_directory=True)

    found = pending(root)
    assert [p.path.name for p in found] == ["20261201T12-42-1.jsonl", "20261201T13-42-2.jsonl"]
    bucket, prefix = split_url("s3://captures/edge/lines/")
    assert (bucket, prefix) == ("captures", "edge/lines/")
    assert found[0].key(prefix, "site-a") == (
        f"edge/lines/site=site-a/app=housing/digest={HEX}/hour=2026-12-01T12/20261201T12-42-1.jsonl"
    )
    assert split_url("s3://captures") == ("captures", "")


def test_a_bad_capture_url_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        aiedge_cmd("agent", "--hub", "http://127.0.0.1:9", "--data", str(tmp_path), "--capture-to", "http://x/y"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: --capture-to: http://x/y: want s3://BUCKET or s3://BUCKET/PREFIX "
        "(a bucket name: a-z, 0-9, . and -)"
    )
