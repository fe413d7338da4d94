"""`--base IMAGE`: runnable images with the model layers on top of a base image built here from a
tar layer and pushed to a real registry; the config (entrypoint, ports, user, health check, the
base's env and diff_ids kept), cross-repository mounts in one registry and copies across two."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aiedge.builder.errors import BuildError
from aiedge.builder.pipeline import BuildRequest
from aiedge.oci.layers import LayerEntry, write_layer
from aiedge.oci.manifest import build_manifest, canonical_json, config_descriptor, layer_descriptor
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from tests.builder.helpers import build, pull
from tests.support import start_registry


def push_base(registry: str, tmp_path: Path) -> tuple[str, str]:
    """A one-layer base image (``etc/base-release``) with Env and Cmd; returns (ref, layer digest)."""
    (tmp_path / "release").write_text("tiny base 1\n")
    layer = write_layer(
        [LayerEntry("etc/base-release", tmp_path / "release")], tmp_path / "base.tar.gz", mtime=0
    )
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "config": {"Env": ["PATH=/usr/bin", "BASE=1"], "Cmd": ["sh"],
                                        "Labels": {"base": "tiny"}},
                             "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                             "history": [{"created_by": "test base"}]})  # fmt: skip
    manifest = build_manifest(config_descriptor(config), [layer_descriptor(layer.digest, layer.size)], {})

    async def go() -> None:
        async with RegistryClient(registry) as client:
            await client.push_blob("base/tiny", layer.digest, layer.path)
            await client.push_blob_bytes("base/tiny", config)
            await client.push_manifest(
                "base/tiny", manifest, "application/vnd.oci.image.manifest.v1+json", "1"
            )

    asyncio.run(go())
    return f"{registry}/base/tiny:1", layer.digest


def test_runnable_image_on_a_base(onnx_model: Path, registry: str, tmp_path: Path) -> None:
    base, base_layer = push_base(registry, tmp_path)
    ref = ImageReference.parse(f"{registry}/runnable/housing:1")
    req = BuildRequest(model=onnx_model, name="housing", image=ref, base=ImageReference.parse(base))
    first = build(req)
    assert first.push.blobs_mounted == 1  # the base layer was linked, not sent
    manifest, config = pull(registry, "runnable/housing", first.digest)
    assert manifest["layers"][0]["digest"] == base_layer and len(manifest["layers"]) == 2
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == f"{registry}/base/tiny"
    inner = config["config"]
    assert inner["Entrypoint"] == ["aiedge", "serve", "/models/housing", "--name", "housing",
                                   "--host", "0.0.0.0"]  # fmt: skip
    assert "Cmd" not in inner and inner["User"] == "1000"
    assert set(inner["ExposedPorts"]) == {"8080/tcp", "8081/tcp"}
    assert "/v2/health/ready" in " ".join(inner["Healthcheck"]["Test"])
    assert inner["Env"] == ["PATH=/usr/bin", "BASE=1"] and inner["Labels"]["base"] == "tiny"
    assert inner["Labels"]["io.aiedge.model.name"] == "housing"
    assert len(config["rootfs"]["diff_ids"]) == 2 and len(config["history"]) == 2

    again = build(req)
    assert again.digest == first.digest and again.push.bytes_sent == 0 and again.push.blobs_mounted == 0


def test_base_from_another_registry_is_copied(onnx_model: Path, registry: str, tmp_path: Path) -> None:
    proc, other = start_registry(tmp_path / "other-registry")
    try:
        base, base_layer = push_base(other, tmp_path)
        ref = ImageReference.parse(f"{registry}/runnable/copied:1")
        result = build(BuildRequest(model=onnx_model, name="m", image=ref, base=ImageReference.parse(base),
                                    provenance=False))  # fmt: skip
        assert result.push.blobs_mounted == 0 and result.push.blobs_sent >= 3
        manifest, _ = pull(registry, "runnable/copied", result.digest)
        assert manifest["layers"][0]["digest"] == base_layer
        with pytest.raises(BuildError, match=r"base image .*/base/absent:1"):
            build(BuildRequest(model=onnx_model, name="m", image=ref,
                               base=ImageReference.parse(f"{other}/base/absent:1")))  # fmt: skip
    finally:
        proc.stop()
