"""The root filesystem layer writer: reproducible bytes, links, hard links, owners and modes kept,
engine-provided folders left empty, devices left out."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from aiedge.containers.rootfs_layer import write_rootfs_layer


def _tree(root: Path) -> None:
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "usr" / "bin" / "tool").chmod(0o4755)
    os.link(root / "usr" / "bin" / "tool", root / "usr" / "bin" / "tool2")
    (root / "bin").symlink_to("usr/bin")
    (root / "etc").mkdir()
    (root / "etc" / "alt").symlink_to("/usr/bin/tool")
    (root / "home" / "u").mkdir(parents=True)
    os.chown(root / "home" / "u", 1000, 1000)
    (root / "dev").mkdir()
    (root / "dev" / "junk").write_text("x")
    os.mkfifo(root / "etc" / "fifo")


def test_same_tree_same_digest_and_entries(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        _tree(root)
    os.utime(a / "usr" / "bin" / "tool", (1, 1))
    one = write_rootfs_layer(a, tmp_path / "a.tar.gz", mtime=7)
    two = write_rootfs_layer(b, tmp_path / "b.tar.gz", mtime=7)
    assert (one.digest, one.diff_id) == (two.digest, two.diff_id)
    with tarfile.open(one.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == sorted(members)
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["etc/alt"].linkname == "/usr/bin/tool"
    assert members["usr/bin/tool"].mode == 0o4755
    assert members["usr/bin/tool2"].islnk() and members["usr/bin/tool2"].linkname == "usr/bin/tool"
    assert (members["home/u"].uid, members["home/u"].gid) == (1000, 1000)
    assert members["dev"].isdir() and "dev/junk" not in members
    assert "etc/fifo" not in members
    assert {m.mtime for m in members.values()} == {7}
    assert {m.uname for m in members.values()} == {""}


def test_mtime_changes_the_digest(tmp_path: Path) -> None:
    _tree(tmp_path / "t")
    assert (
        write_rootfs_layer(tmp_path / "t", tmp_path / "1.tgz", mtime=0).digest
        != write_rootfs_layer(tmp_path / "t", tmp_path / "2.tgz", mtime=1).digest
    )
