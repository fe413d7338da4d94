"""ImageReference: parsing, printing and pinning REGISTRY/REPO[:TAG][@DIGEST]."""

from __future__ import annotations

import pytest

from aiedge.oci.errors import BadReference
from aiedge.oci.reference import ImageReference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/aiedge/housing:1", ImageReference("127.0.0.1:5000", "aiedge/housing", "1")),
        ("quay.io/org/m", ImageReference("quay.io", "org/m")),
        (f"localhost:5000/m@{D}", ImageReference("localhost:5000", "m", None, D)),
        (f"reg.example/a/b:v1.2@{D}", ImageReference("reg.example", "a/b", "v1.2", D)),
        ("docker://127.0.0.1:5000/x:y", ImageReference("127.0.0.1:5000", "x", "y")),
    ],
)
def test_parse(text: str, expected: ImageReference) -> None:
    assert ImageReference.parse(text) == expected


def test_round_trip_and_pinned() -> None:
    ref = ImageReference.parse(f"127.0.0.1:5000/aiedge/housing:1@{D}")
    assert str(ref) == f"127.0.0.1:5000/aiedge/housing:1@{D}"
    assert ref.pinned == f"127.0.0.1:5000/aiedge/housing@{D}"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("housing:1", "REGISTRY/REPOSITORY"),
        ("127.0.0.1:5000/Housing:1", "repository"),
        ("127.0.0.1:5000/h:bad tag", "tag"),
        ("127.0.0.1:5000/h@sha256:abc", "digest"),
        ("bad host!/h", "registry"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, word: str) -> None:
    with pytest.raises(BadReference, match=word):
        ImageReference.parse(text)


def test_pinned_needs_a_digest() -> None:
    with pytest.raises(BadReference, match="no digest"):
        _ = ImageReference.parse("127.0.0.1:5000/h:1").pinned
