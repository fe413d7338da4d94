"""Platforms and image indexes (``oci/platform.py``, ``build_index`` in ``oci/manifest.py``):
parsing ``linux/arm64`` and the kernel's words, picking a platform's image out of an index (or
``NoMatchingPlatform`` naming what it offers), refusing malformed indexes, and the same images
giving the same index digest in any order."""

from __future__ import annotations

import json

import pytest

from aiedge.oci.digest import sha256_bytes
from aiedge.oci.errors import ImageFormatError
from aiedge.oci.manifest import build_index, manifest_descriptor
from aiedge.oci.platform import (
    AMD64,
    ARM64,
    INDEX_MEDIA_TYPE,
    NoMatchingPlatform,
    Platform,
    parse_index,
    parse_platforms,
    pick_platform,
)

AMD_MANIFEST = b'{"amd64":1}'
ARM_MANIFEST = b'{"arm64":1}'
ZERO = "sha256:" + "0" * 64


def _index(*pairs: tuple[bytes, Platform]) -> bytes:
    return build_index([manifest_descriptor(m, p) for m, p in pairs])


def test_parse_platforms() -> None:
    assert parse_platforms("linux/amd64,linux/arm64") == [AMD64, ARM64]
    assert Platform.parse("linux/aarch64") == ARM64
    assert Platform.parse("Linux/x86_64") == AMD64
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    for bad, why in [
        ("arm64", "expected OS/ARCH"),
        ("linux/arm64/v8/x", "expected OS/ARCH"),
        ("linux/../etc", "expected OS/ARCH"),
        ("linux/arm64,linux/aarch64", "listed twice"),
        (",", "no platform given"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_platforms(bad)


def test_picks_the_platform_asked_for() -> None:
    entries = parse_index(_index((AMD_MANIFEST, AMD64), (ARM_MANIFEST, ARM64)))
    assert pick_platform(entries, ARM64).digest == sha256_bytes(ARM_MANIFEST)
    assert pick_platform(entries, AMD64).digest == sha256_bytes(AMD_MANIFEST)
    # arm64 without a variant is arm64/v8, either way round
    assert pick_platform(entries, Platform.parse("linux/arm64/v8")).digest == sha256_bytes(ARM_MANIFEST)
    v8 = parse_index(_index((ARM_MANIFEST, Platform("linux", "arm64", "v8"))))
    assert pick_platform(v8, ARM64).digest == sha256_bytes(ARM_MANIFEST)


def test_no_matching_platform_names_what_the_image_offers() -> None:
    entries = parse_index(_index((AMD_MANIFEST, AMD64)))
    with pytest.raises(NoMatchingPlatform) as caught:
        pick_platform(entries, ARM64, "registry.local/models/housing@sha256:ab")
    assert str(caught.value) == (
        "registry.local/models/housing@sha256:ab has no linux/arm64 image; it offers linux/amd64"
    )
    assert caught.value.wanted == ARM64 and caught.value.offered == [AMD64]
    with pytest.raises(NoMatchingPlatform, match="it offers no platform at all"):
        pick_platform([], ARM64)


def test_the_same_images_give_the_same_index() -> None:
    one = _index((AMD_MANIFEST, AMD64), (ARM_MANIFEST, ARM64))
    other = _index((ARM_MANIFEST, ARM64), (AMD_MANIFEST, AMD64))
    assert one == other
    doc = json.loads(one)
    assert doc["mediaType"] == INDEX_MEDIA_TYPE
    assert [m["platform"] for m in doc["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64"},
    ]


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"schemaVersion": 1, "manifests": []}, "schemaVersion"),
        ({"schemaVersion": 2}, "no manifests list"),
        ({"schemaVersion": 2, "manifests": ["x"]}, "entry 0: not an object"),
        (
            {
                "schemaVersion": 2,
                "manifests": [{"mediaType": "m", "size": -1, "digest": "sha256:" + "0" * 64}],
            },
            "not a byte count",
        ),
        ({"schemaVersion": 2, "manifests": [{"mediaType": "m", "size": 1, "digest": "md5:x"}]}, "digest"),
        (
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "m",
                        "size": 1,
                        "digest": ZERO,
                        "platform": {"os": "linux", "architecture": "../x"},
                    }
                ],
            },
            "characters a platform cannot have",
        ),
        ({"schemaVersion": 2, "manifests": [{}] * 300}, "more than 256"),
    ],
)
def test_refuses_malformed_indexes(doc: dict[str, object], why: str) -> None:
    with pytest.raises(ImageFormatError, match=why):
        parse_index(json.dumps(doc).encode())
