"""cosign-format signatures and attestations against a real registry: key pairs (plain and
password-encrypted), the .sig image's exact shape, verification (good key, wrong key, another
image's signature, unsigned), several signers on one image, and DSSE attestations."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from aiedge.oci.cosign import (
    DSSE_MEDIA_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    attach_attestation,
    pae,
    sign_image,
    verify_signature,
)
from aiedge.oci.errors import SignatureError, SigningKeyError
from aiedge.oci.keys import (
    generate_key_pair,
    load_private_key,
    load_public_key,
    sign_bytes,
    signature_ok,
)
from aiedge.oci.manifest import build_manifest, canonical_json, config_descriptor
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


async def push_tiny(client: RegistryClient, repo: str, text: str) -> ImageReference:
    """An image with an empty layer list and a config naming ``text``; returns it by digest."""
    config = canonical_json({"architecture": "amd64", "os": "linux", "config": {"Labels": {"t": text}},
                             "rootfs": {"type": "layers", "diff_ids": []}})  # fmt: skip
    await client.push_blob_bytes(repo, config)
    manifest = build_manifest(config_descriptor(config), [], {})
    digest = await client.push_manifest(repo, manifest, "application/vnd.oci.image.manifest.v1+json", text)
    return ImageReference(client.registry, repo, None, digest)


def test_key_pairs(tmp_path: Path) -> None:
    private, public = generate_key_pair(tmp_path / "k", "s3cret")
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes() and private.stat().st_mode & 0o777 == 0o600
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    key = load_private_key(private, "s3cret")
    with pytest.raises(SigningKeyError, match="AIEDGE_KEY_PASSWORD"):
        load_private_key(private)
    with pytest.raises(SigningKeyError, match="password is wrong"):
        load_private_key(private, "nope")
    with pytest.raises(SigningKeyError, match="exists already"):
        generate_key_pair(tmp_path / "k")
    plain, _ = generate_key_pair(tmp_path / "p")
    assert b"BEGIN PRIVATE KEY" in plain.read_bytes()
    sig = sign_bytes(key, b"x")
    assert signature_ok(load_public_key(public.read_bytes(), "pub"), sig, b"x")


def test_sign_and_verify(registry: str, tmp_path: Path) -> None:
    priv_a, pub_a = generate_key_pair(tmp_path / "a")
    priv_b, pub_b = generate_key_pair(tmp_path / "b")

    async def go() -> None:
        async with RegistryClient(registry) as client:
            ref = await push_tiny(client, "cosign/one", "one")
            other = await push_tiny(client, "cosign/one", "other")
            with pytest.raises(SignatureError, match="not signed"):
                await verify_signature(client, ref, pub_a.read_bytes())
            report = await sign_image(client, ref, load_private_key(priv_a))
            assert report.tag == ref.digest.replace(":", "-") + ".sig"  # type: ignore[union-attr]
            await verify_signature(client, ref, pub_a.read_bytes())
            await verify_signature(client, ImageReference(registry, "cosign/one", "one"), pub_a.read_bytes())
            with pytest.raises(SignatureError, match="none of its 1 signature"):
                await verify_signature(client, ref, pub_b.read_bytes())

            # the .sig image is exactly what cosign writes and reads
            body, _ = await client.get_manifest("cosign/one", report.tag)
            layer = json.loads(body)["layers"][0]
            assert layer["mediaType"] == SIMPLE_SIGNING_MEDIA_TYPE
            payload = json.loads(await client.get_blob_bytes("cosign/one", layer["digest"]))
            assert payload == {"critical": {"identity": {"docker-reference": f"{registry}/cosign/one"},
                                            "image": {"docker-manifest-digest": ref.digest},
                                            "type": "cosign container image signature"},
                               "optional": None}  # fmt: skip
            base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION], validate=True)

            # a second signer appends; both keys verify; re-signing adds nothing twice
            await sign_image(client, ref, load_private_key(priv_b))
            await verify_signature(client, ref, pub_a.read_bytes())
            await verify_signature(client, ref, pub_b.read_bytes())
            body, _ = await client.get_manifest("cosign/one", report.tag)
            assert len(json.loads(body)["layers"]) == 2

            # a signature copied onto another image does not verify it (it names the first digest)
            assert other.digest is not None
            sig_manifest, media = await client.get_manifest("cosign/one", report.tag)
            await client.push_manifest("cosign/one", sig_manifest, media,
                                       tag=other.digest.replace(":", "-") + ".sig")  # fmt: skip
            with pytest.raises(SignatureError, match="for this digest"):
                await verify_signature(client, other, pub_a.read_bytes())

    asyncio.run(go())


def test_attestation_is_a_signed_dsse_envelope(registry: str, tmp_path: Path) -> None:
    priv, pub = generate_key_pair(tmp_path / "k")
    statement = canonical_json({"_type": "https://in-toto.io/Statement/v1", "predicateType": "p/v1"})

    async def go() -> None:
        async with RegistryClient(registry) as client:
            ref = await push_tiny(client, "cosign/att", "att")
            first = await attach_attestation(client, ref, statement, "p/v1", load_private_key(priv))
            again = await attach_attestation(client, ref, statement, "p/v1", None)
            assert first.tag == again.tag and first.tag.endswith(".att")
            body, _ = await client.get_manifest("cosign/att", again.tag)
            layers = json.loads(body)["layers"]
            assert len(layers) == 1 and layers[0]["mediaType"] == DSSE_MEDIA_TYPE  # replaced, not added
            assert layers[0]["annotations"]["predicateType"] == "p/v1"
            envelope = json.loads(await client.get_blob_bytes("cosign/att", layers[0]["digest"]))
            assert envelope["signatures"] == [] and base64.b64decode(envelope["payload"]) == statement
            signed = await attach_attestation(client, ref, statement, "p/v1", load_private_key(priv))
            body, _ = await client.get_manifest("cosign/att", signed.tag)
            envelope = json.loads(
                await client.get_blob_bytes("cosign/att", json.loads(body)["layers"][0]["digest"])
            )
            sig = base64.b64decode(envelope["signatures"][0]["sig"])
            key = load_public_key(pub.read_bytes(), "pub")
            assert signature_ok(key, sig, pae("application/vnd.in-toto+json", statement))

    asyncio.run(go())
