"""Signatures and attestations stored the way cosign stores them, so ``cosign verify --key`` and
``cosign verify-attestation --key`` accept what we push, and we accept what cosign pushes.

For an image ``REPO@sha256:HEX``:

- the signature image is tagged ``sha256-HEX.sig`` in the same repository; each of its layers is a
  simple-signing payload (``application/vnd.dev.cosign.simplesigning.v1+json``) naming the image
  digest, with the base64 ECDSA-P256/SHA-256 signature of those bytes in the layer annotation
  ``dev.cosignproject.cosign/signature``. New signatures are appended (several signers may sign).
- the attestation image is tagged ``sha256-HEX.att``; each layer is a DSSE envelope
  (``application/vnd.dsse.envelope.v1+json``) holding an in-toto statement, with a
  ``predicateType`` annotation. A new attestation replaces the old one of the same predicate type.

Verification checks the signature over the payload bytes and that the payload names the digest
being verified; like cosign's default, it does not insist on the ``docker-reference`` (images are
copied between registries with their signatures).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from aiedge.oci.digest import sha256_bytes
from aiedge.oci.errors import ImageFormatError, SignatureError
from aiedge.oci.image import CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from aiedge.oci.keys import load_public_key, sign_bytes, signature_ok
from aiedge.oci.manifest import Descriptor, build_manifest, canonical_json
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_TYPE_ANNOTATION = "predicateType"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
SIGNATURE_TYPE = "cosign container image signature"
_ZERO_TIME = "0001-01-01T00:00:00Z"


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def attestation_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".att"


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """``repository`` is ``REGISTRY/REPO``; cosign writes the same fields in the same order."""
    doc = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signatures sign."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def dsse_envelope(statement: bytes, key: ec.EllipticCurvePrivateKey | None) -> bytes:
    sigs = []
    if key is not None:
        sig = sign_bytes(key, pae(IN_TOTO_PAYLOAD_TYPE, statement))
        sigs.append({"keyid": "", "sig": base64.b64encode(sig).decode()})
    envelope = {
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": base64.b64encode(statement).decode(),
        "signatures": sigs,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


@dataclass(frozen=True)
class AttachReport:
    tag: str
    manifest_digest: str
    bytes_sent: int


async def sign_image(
    client: RegistryClient, ref: ImageReference, key: ec.EllipticCurvePrivateKey
) -> AttachReport:
    """Sign ``ref`` (which must carry its digest) and push the signature under ``sha256-HEX.sig``."""
    digest = _digest_of(ref)
    payload = simple_signing_payload(f"{ref.registry}/{ref.repository}", digest)
    signature = base64.b64encode(sign_bytes(key, payload)).decode()
    layer = _Layer(payload, SIMPLE_SIGNING_MEDIA_TYPE, {SIGNATURE_ANNOTATION: signature})
    return await _attach(client, ref.repository, signature_tag(digest), layer, replace=None)


async def attach_attestation(
    client: RegistryClient,
    ref: ImageReference,
    statement: bytes,
    predicate_type: str,
    key: ec.EllipticCurvePrivateKey | None,
) -> AttachReport:
    """Push an in-toto ``statement`` about ``ref`` as a DSSE envelope under ``sha256-HEX.att``,
    signed when ``key`` is given (unsigned envelopes have an empty ``signatures`` list)."""
    digest = _digest_of(ref)
    annotations = {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type}
    layer = _Layer(dsse_envelope(statement, key), DSSE_MEDIA_TYPE, annotations)
    return await _attach(client, ref.repository, attestation_tag(digest), layer, replace=predicate_type)


class ManifestSource(Protocol):
    """What verifying reads: a registry (:class:`RegistryClient`) or an OCI layout on disk
    (:class:`aiedge.oci.layout.LayoutSource`)."""

    async def find_manifest(self, repository: str, reference: str) -> tuple[bytes, str] | None: ...

    async def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]: ...

    async def get_blob_bytes(self, repository: str, digest: str, *, limit: int = ...) -> bytes: ...


async def verify_signature(client: ManifestSource, ref: ImageReference, public_key_pem: bytes) -> None:
    """Raise :class:`SignatureError` unless a signature under ``sha256-HEX.sig`` verifies with the
    key and names this image's digest. A tag in ``ref`` is resolved to its digest first."""
    key = load_public_key(public_key_pem, "public key")
    digest = ref.digest or await _resolve(client, ref)
    where = f"{ref.registry}/{ref.repository}@{digest}"
    found = await client.find_manifest(ref.repository, signature_tag(digest))
    if found is None:
        raise SignatureError(f"{where}: not signed (no {signature_tag(digest)} in {ref.repository})")
    layers = _layers(found[0], where)
    seen = 0
    for layer in layers:
        if layer.get("mediaType") != SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        seen += 1
        sig_b64 = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, "")
        try:
            sig = base64.b64decode(sig_b64, validate=True)
        except ValueError:
            continue
        payload = await client.get_blob_bytes(ref.repository, layer["digest"], limit=1 << 20)
        if not signature_ok(key, sig, payload):
            continue
        if _signed_digest(payload) == digest:
            return
    if not seen:
        raise SignatureError(f"{where}: {signature_tag(digest)} holds no simple-signing layers")
    raise SignatureError(f"{where}: none of its {seen} signature(s) is verified by this key for this digest")


# -- plumbing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    data: bytes
    media_type: str
    annotations: dict[str, str]

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, sha256_bytes(self.data), len(self.data), self.annotations)


def _digest_of(ref: ImageReference) -> str:
    if not ref.digest:
        raise SignatureError(f"{ref}: sign or attest an image by digest (REPO@sha256:...)")
    return ref.digest


async def _resolve(client: ManifestSource, ref: ImageReference) -> str:
    body, _ = await client.get_manifest(ref.repository, ref.tag or "latest")
    return sha256_bytes(body)


def _layers(manifest: bytes, where: str) -> list[dict[str, Any]]:
    try:
        doc = json.loads(manifest)
        layers = doc["layers"]
        if not isinstance(layers, list) or not all(
            isinstance(x, dict) and isinstance(x.get("digest"), str) for x in layers
        ):
            raise TypeError("layers")
    except (ValueError, KeyError, TypeError) as e:
        raise ImageFormatError(f"{where}: signature manifest is not an OCI image manifest") from e
    return layers


def _signed_digest(payload: bytes) -> str | None:
    try:
        critical = json.loads(payload)["critical"]
        if critical.get("type") != SIGNATURE_TYPE:
            return None
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return digest if isinstance(digest, str) else None


async def _attach(
    client: RegistryClient, repository: str, tag: str, layer: _Layer, *, replace: str | None
) -> AttachReport:
    """Add ``layer`` to the image under ``tag`` (creating it), keeping the others; with ``replace``,
    layers of that predicate type go. Blobs first, the manifest last."""
    kept: list[dict[str, Any]] = []
    found = await client.find_manifest(repository, tag)
    if found is not None:
        for old in _layers(found[0], f"{client.registry}/{repository}:{tag}"):
            if (
                replace is not None
                and (old.get("annotations") or {}).get(PREDICATE_TYPE_ANNOTATION) == replace
            ):
                continue
            kept.append(old)
    new = layer.descriptor().to_json()
    if new not in kept:
        kept.append(new)
    sent = 0
    _, was_sent = await client.push_blob_bytes(repository, layer.data)
    sent += len(layer.data) if was_sent else 0
    config = canonical_json(
        {
            "architecture": "",
            "config": {},
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in kept]},
        }
    )
    _, was_sent = await client.push_blob_bytes(repository, config)
    sent += len(config) if was_sent else 0
    descriptors = [
        Descriptor(x["mediaType"], x["digest"], int(x["size"]), dict(x.get("annotations") or {}))
        for x in kept
    ]
    manifest = build_manifest(
        Descriptor(CONFIG_MEDIA_TYPE, sha256_bytes(config), len(config)), descriptors, {}
    )
    manifest_digest = await client.push_manifest(repository, manifest, MANIFEST_MEDIA_TYPE, tag=tag)
    return AttachReport(tag, manifest_digest, sent)
