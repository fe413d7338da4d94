"""Attacks on unpacking (oci/extract.py through oci/image.py's unpack_layers): symlink chains that
resolve above the destination, a folder entry chmod-ing through a link, a model file linking to
a host file, later entries writing through earlier links, a link redirected out by a later
entry, decompression bombs (bytes, entries, a giant tar header), and the per-file digests kept
for re-verification. Nothing outside the destination may change, whatever the layer says."""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from pathlib import Path

import pytest

from aiedge.oci.errors import ArchiveTooLarge, UnsafeLayer
from aiedge.oci.extract import Limits, verify_files
from aiedge.oci.image import unpack_layers
from tests.oci.tars import dir_entry, file_entry, layer, link, zeros_bomb


@pytest.fixture
def nest(tmp_path: Path) -> tuple[Path, Path]:
    """(destination, a 0700 folder with a host file two levels above it)."""
    outside = tmp_path / "host"
    outside.mkdir(mode=0o700)
    (outside / "secret").write_text("host secret\n")
    dest = outside / "agent" / "unpacked"
    dest.parent.mkdir()
    return dest, outside


def _unchanged(outside: Path) -> None:
    assert stat.S_IMODE(outside.stat().st_mode) == 0o700
    assert (outside / "secret").read_text() == "host secret\n"
    assert sorted(p.name for p in outside.iterdir()) == ["agent", "secret"]
    assert stat.S_IMODE((outside / "agent").stat().st_mode) != 0o777


def test_a_symlink_chain_cannot_chmod_a_folder_above(tmp_path: Path, nest: tuple[Path, Path]) -> None:
    """l0 -> ., lN -> l(N-1)/.. reads as inside when checked as text; the OS resolves it above."""
    dest, outside = nest
    chain = layer(
        tmp_path / "chain.tgz",
        (link("l0", "."), None),
        (link("l1", "l0/.."), None),
        (link("l2", "l1/.."), None),
        (dir_entry("l2", 0o777), None),
        (dir_entry("l1", 0o777), None),
    )
    with pytest.raises(UnsafeLayer, match="leaves the destination"):
        unpack_layers([chain], dest)
    _unchanged(outside)


def test_a_model_file_cannot_link_to_a_host_file(tmp_path: Path, nest: tuple[Path, Path]) -> None:
    _, outside = nest
    for i, members in enumerate(
        [
            [(link("models/m/model.onnx", "../../../../secret"), None)],
            [
                (link("l0", "."), None),
                (link("l1", "l0/.."), None),
                (link("model.onnx", "l1/../secret"), None),
            ],
            [(link("models/m/model.onnx", "/etc/passwd"), None)],
        ]
    ):
        with pytest.raises(UnsafeLayer, match="leaves the destination"):
            unpack_layers([layer(tmp_path / f"{i}.tgz", *members)], tmp_path / f"out{i}")
    _unchanged(outside)


def test_no_entry_writes_through_an_earlier_link(tmp_path: Path, nest: tuple[Path, Path]) -> None:
    """Even a link that points inside may not be written through: a later entry (or layer) could
    redirect it, and the archive has no reason to."""
    dest, outside = nest
    one = layer(tmp_path / "1.tgz", (dir_entry("d"), None), (link("in", "d"), None))
    unpack_layers([one], dest)
    for i, member in enumerate(
        [
            (file_entry("in/x"), b"x"),
            (dir_entry("in/sub"), None),
            (link("in/l", "."), None),
        ]
    ):
        with pytest.raises(UnsafeLayer, match="goes through the link 'in'"):
            unpack_layers([one, layer(tmp_path / f"2-{i}.tgz", member)], tmp_path / f"out{i}")
    # a hard link through a link (to a host file, by name) is refused the same way
    sneaky = layer(
        tmp_path / "h.tgz",
        (link("up", "."), None),
        (link("h", "up/x", tarfile.LNKTYPE), None),
    )
    with pytest.raises(UnsafeLayer, match="link"):
        unpack_layers([sneaky], tmp_path / "hard")
    _unchanged(outside)


def test_a_link_redirected_out_by_a_later_entry_is_refused(tmp_path: Path, nest: tuple[Path, Path]) -> None:
    """``l1 -> d/..`` is inside while ``d`` is a folder; replacing ``d`` by ``d -> .`` sends l1 out."""
    dest, outside = nest
    redirect = layer(
        tmp_path / "redirect.tgz",
        (dir_entry("d"), None),
        (link("l1", "d/.."), None),
        (link("d", "."), None),
    )
    with pytest.raises(UnsafeLayer, match=r"'l1' .* resolves outside"):
        unpack_layers([redirect], dest)
    _unchanged(outside)


def test_modes_never_follow_links_and_lose_special_bits(tmp_path: Path, nest: tuple[Path, Path]) -> None:
    dest, outside = nest
    one = layer(tmp_path / "1.tgz", (link("d", "sub"), None), (dir_entry("sub"), None))
    # a folder entry on a name that is a link: the link is replaced by a folder, nothing followed
    two = layer(tmp_path / "2.tgz", (dir_entry("d", 0o777), None), (file_entry("run", 0o6777), b"#!"))
    unpack_layers([one, two], dest)
    assert (dest / "d").is_dir() and not (dest / "d").is_symlink()
    assert stat.S_IMODE((dest / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "run").stat().st_mode) == 0o755
    _unchanged(outside)


def test_a_decompression_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tgz"
    bomb.write_bytes(zeros_bomb(2 << 30))
    assert bomb.stat().st_size < 3 << 20  # a 2 MiB layer that says 2 GiB
    with pytest.raises(ArchiveTooLarge, match=r"more than 16\.0 MiB \(the test's cap\)") as e:
        unpack_layers([bomb], tmp_path / "out", limits=Limits(16 << 20, 100, "the test's cap"))
    assert e.value.limit == "bytes"
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 16 << 20


def test_too_many_entries_and_a_giant_header_are_refused(tmp_path: Path) -> None:
    many = layer(tmp_path / "many.tgz", *((file_entry(f"f{i}"), b"") for i in range(50)))
    with pytest.raises(ArchiveTooLarge, match="more than 20 entries"):
        unpack_layers([many], tmp_path / "out", limits=Limits(1 << 20, 20))
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 2 << 30  # tarfile would read 2 GiB into memory to parse it
    giant = tmp_path / "giant.tgz"
    giant.write_bytes(gzip.compress(header.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 4096))
    with pytest.raises(UnsafeLayer, match="tar header of 2147483648 bytes"):
        unpack_layers([giant], tmp_path / "out2")


def test_file_digests_follow_layers_and_whiteouts(tmp_path: Path) -> None:
    one = layer(
        tmp_path / "1.tgz", (file_entry("m/a"), b"a1"), (file_entry("m/b"), b"b"), (file_entry("d/x"), b"x")
    )
    two = layer(
        tmp_path / "2.tgz",
        (file_entry("m/a"), b"a2"),
        (file_entry("m/.wh.b"), b""),
        (file_entry("d/.wh..wh..opq"), b""),
        (link("m/h", "m/a", tarfile.LNKTYPE), None),
    )
    out = tmp_path / "out"
    files = unpack_layers([one, two], out)
    assert sorted(files) == ["m/a", "m/h"]
    assert files["m/a"] == files["m/h"] and files["m/a"].size == 2
    assert verify_files(out, files) == []
    (out / "m" / "a").write_bytes(b"a3")  # a flipped byte, same size
    os.unlink(out / "m" / "h")
    assert verify_files(out, files) == ["m/a", "m/h"]
