"""Reading manifests and configs, and unpacking layers safely (oci/image.py)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from aiedge.oci.errors import ImageFormatError, UnsafeLayer
from aiedge.oci.image import read_config_labels, read_manifest_layers, unpack_layers
from tests.oci.tars import file_entry as _file
from tests.oci.tars import layer as _layer
from tests.oci.tars import special as _special

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_manifest_shape_is_checked() -> None:
    good = {
        "schemaVersion": 2,
        "config": {"digest": D1},
        "layers": [{"digest": D2, "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}],
    }
    assert read_manifest_layers(json.dumps(good).encode()) == (D1, [D2])
    for bad, word in [
        (b"not json", "not JSON"),
        (b"[]", "object"),
        (json.dumps({**good, "schemaVersion": 1}).encode(), "schemaVersion"),
        (json.dumps({**good, "config": {"digest": "md5:x"}}).encode(), "digest"),
        (json.dumps({**good, "layers": [{"digest": D2, "mediaType": "x"}]}).encode(), "tar\\+gzip"),
    ]:
        with pytest.raises(ImageFormatError, match=word):
            read_manifest_layers(bad)


def test_config_labels() -> None:
    assert read_config_labels(b'{"config": {}}') == {}
    with pytest.raises(ImageFormatError, match="Labels"):
        read_config_labels(b'{"config": {"Labels": {"a": 1}}}')


def test_layers_apply_in_order_with_whiteouts(tmp_path: Path) -> None:
    one = _layer(tmp_path / "1.tgz", (_file("m/a"), b"a1"), (_file("m/b"), b"b"), (_file("d/x"), b"x"))
    two = _layer(
        tmp_path / "2.tgz", (_file("m/a"), b"a2"), (_file("m/.wh.b"), b""), (_file("d/.wh..wh..opq"), b"")
    )
    out = tmp_path / "out"
    unpack_layers([one, two], out)
    assert (out / "m/a").read_bytes() == b"a2"
    assert not (out / "m/b").exists()
    assert (out / "d").is_dir() and list((out / "d").iterdir()) == []


@pytest.mark.parametrize(
    "member",
    [
        (_file("/etc/passwd"), b"x"),
        (_file("../escape"), b"x"),
        (_file("a/../../escape"), b"x"),
        (_special("dev", tarfile.CHRTYPE), None),
        (_special("fifo", tarfile.FIFOTYPE), None),
        (_special("l", tarfile.SYMTYPE, "/etc"), None),
        (_special("l", tarfile.SYMTYPE, "../../etc"), None),
    ],
)
def test_unsafe_entries_are_refused(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None]) -> None:
    with pytest.raises(UnsafeLayer):
        unpack_layers([_layer(tmp_path / "l.tgz", member)], tmp_path / "out")


def test_no_writing_through_a_link_made_by_an_earlier_layer(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    one = _layer(
        tmp_path / "1.tgz",
        (_special("m", tarfile.DIRTYPE), None),
        (_special("m/in", tarfile.SYMTYPE, "."), None),
    )
    unpack_layers([one], tmp_path / "out")
    # a link pointing out can only come from outside the layer; make one by hand
    (tmp_path / "out" / "sneaky").symlink_to(outside)
    two = _layer(tmp_path / "2.tgz", (_file("sneaky/owned"), b"x"))
    with pytest.raises(UnsafeLayer, match="link"):
        unpack_layers([two], tmp_path / "out")
    assert not (outside / "owned").exists()


def test_a_broken_layer_is_a_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ImageFormatError, match=r"bad\.tgz"):
        unpack_layers([bad], tmp_path / "out")
