"""``--base IMAGE``: a runnable image, the model layers on top of a base that has aiedge in it.

The base's manifest and config come from its registry; its layers, ``diff_ids``, history and
environment are kept. A base that is an image index (a multi-platform base, ``aiedge base build
--platform``) gives one base per platform it offers: the model is stacked on each and the result
is an index again (``builder/platforms.py``). The config gets the command that serves the model,
its ports, a non-root user and a health check on ``/v2/health/ready``. The base's layer bytes are
never fetched when the target is the same registry: they are mounted across repositories at push
time (``builder/push.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiedge.builder.errors import BuildError
from aiedge.oci.digest import check_digest, sha256_bytes
from aiedge.oci.errors import OciError
from aiedge.oci.image import DOCKER_LAYER_MEDIA_TYPE, LAYER_MEDIA_TYPE
from aiedge.oci.manifest import Descriptor, canonical_json, rfc3339
from aiedge.oci.platform import AMD64, INDEX_MEDIA_TYPES, NoMatchingPlatform, Platform, is_index, read_index
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient

HTTP_PORT, GRPC_PORT = 8080, 8081
USER = "1000"
_SECOND = 1_000_000_000  # Docker's Healthcheck durations are nanoseconds


@dataclass(frozen=True)
class BaseImage:
    """One platform's base image."""

    ref: ImageReference  # with the digest of the image manifest used
    config: dict[str, Any]
    layers: list[Descriptor]
    platform: Platform = AMD64


@dataclass(frozen=True)
class BaseImages:
    """What ``--base`` names: one image, or an index of one image per platform."""

    ref: ImageReference  # with the digest of what was named (the index's, for an index)
    images: list[BaseImage]
    is_index: bool

    def only(self, platform: Platform = AMD64) -> BaseImage:
        """The image for ``platform`` (a single-platform base is itself)."""
        if not self.is_index:
            return self.images[0]
        for image in self.images:
            if platform.accepts(image.platform):
                return image
        offered = [i.platform for i in self.images]
        raise BuildError(str(NoMatchingPlatform(platform, offered, f"base image {self.ref}")))


def _parse(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise BuildError(f"{what}: not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise BuildError(f"{what}: not a JSON object")
    return doc


async def fetch_bases(client: RegistryClient, ref: ImageReference) -> BaseImages:
    """Manifests and configs of the base image, of every platform when it is an index (no layer
    bytes)."""
    where = str(ref)
    try:
        body, media_type = await client.get_manifest(ref.repository, ref.digest or ref.tag or "latest")
        doc = _parse(body, f"base {where}")
        named = ref.with_digest(sha256_bytes(body))
        if not is_index(media_type, doc):
            return BaseImages(named, [await _fetch_image(client, ref, body, doc, where)], False)
        entries = [
            e
            for e in read_index(doc, f"base {where}")
            if e.platform is not None and e.media_type not in INDEX_MEDIA_TYPES
        ]
        if not entries:
            raise BuildError(f"base image {where}: the index lists no image with a platform")
        images = []
        for entry in entries:
            body, _ = await client.get_manifest(ref.repository, entry.digest)
            image = await _fetch_image(client, ref, body, _parse(body, f"base {where}"), where)
            if entry.platform is not None and not entry.platform.accepts(image.platform):
                raise BuildError(
                    f"base image {where}: the index lists {entry.digest[:19]} as {entry.platform}, "
                    f"its config says {image.platform}"
                )
            images.append(image)
    except OciError as e:
        raise BuildError(f"base image {where}: {e}") from e
    return BaseImages(named, images, True)


async def fetch_base(client: RegistryClient, ref: ImageReference, platform: Platform = AMD64) -> BaseImage:
    """The base image for one platform (of an index, or the image itself)."""
    return (await fetch_bases(client, ref)).only(platform)


async def _fetch_image(
    client: RegistryClient, ref: ImageReference, body: bytes, doc: dict[str, Any], where: str
) -> BaseImage:
    try:
        config_digest = check_digest(doc["config"]["digest"])
        config = _parse(await client.get_blob_bytes(ref.repository, config_digest), f"base {where} config")
        layers = []
        for layer in doc["layers"]:
            media = layer["mediaType"]
            if media not in (LAYER_MEDIA_TYPE, DOCKER_LAYER_MEDIA_TYPE):
                raise BuildError(f"base {where}: layer media type {media!r} is not tar+gzip")
            layers.append(Descriptor(LAYER_MEDIA_TYPE, check_digest(layer["digest"]), int(layer["size"])))
        platform = Platform.from_json(config, f"base {where} config") if "architecture" in config else AMD64
    except OciError as e:
        raise BuildError(f"base image {where}: {e}") from e
    except (KeyError, TypeError, ValueError) as e:
        raise BuildError(f"base image {where}: not an image manifest ({e})") from e
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise BuildError(f"base image {where}: {len(layers)} layer(s) but {len(diff_ids)} diff_id(s)")
    return BaseImage(ref.with_digest(sha256_bytes(body)), config, layers, platform)


def serve_command(name: str, *, allow_code: bool = False) -> list[str]:
    """``allow_code``: the model runs its own code (an MLflow pyfunc), as its build allowed."""
    command = ["aiedge", "serve", f"/models/{name}", "--name", name, "--host", "0.0.0.0"]
    return [*command, "--allow-pickle"] if allow_code else command


def runnable_config(
    base: BaseImage,
    *,
    name: str,
    labels: dict[str, str],
    diff_ids: list[str],
    created: int,
    allow_code: bool = False,
) -> bytes:
    """The base's config with the model's layers, labels, command, ports, user and health check."""
    doc = json.loads(json.dumps(base.config))  # a deep copy
    inner: dict[str, Any] = dict(doc.get("config") or {})
    inner.pop("Cmd", None)  # the base's CMD would become arguments of our entrypoint
    inner["Entrypoint"] = serve_command(name, allow_code=allow_code)
    inner["ExposedPorts"] = {
        **(inner.get("ExposedPorts") or {}),
        f"{HTTP_PORT}/tcp": {},
        f"{GRPC_PORT}/tcp": {},
    }
    inner["User"] = USER
    inner["Labels"] = {**(inner.get("Labels") or {}), **labels}
    ready = f"http://127.0.0.1:{HTTP_PORT}/v2/health/ready"
    probe = f"import urllib.request; urllib.request.urlopen('{ready}', timeout=4)"
    inner["Healthcheck"] = {
        "Test": ["CMD", "python3", "-c", probe],
        "Interval": 10 * _SECOND,
        "Timeout": 5 * _SECOND,
        "StartPeriod": 60 * _SECOND,
        "Retries": 3,
    }
    doc["config"] = inner
    doc["created"] = rfc3339(created)
    rootfs = dict(doc.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *diff_ids]
    doc["rootfs"] = rootfs
    doc["history"] = [
        *(doc.get("history") or []),
        *({"created": rfc3339(created), "created_by": f"aiedge build (model {name})"} for _ in diff_ids),
    ]
    doc.setdefault("architecture", "amd64")
    doc.setdefault("os", "linux")
    return canonical_json(doc)
