"""The offline bundle (``aiedge bundle export`` at the core, ``aiedge agent import`` at a site):
one uncompressed tar holding an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/<hex>``: every image of the site's desired state with its cosign signatures and
provenance) and the site's :class:`~aiedge.contracts.DesiredState` signed by the hub.

Members, in this order: ``oci-layout``, ``aiedge/desired.json`` (the state's JSON, byte for byte
what was signed), ``aiedge/desired.sig.json`` (a :class:`BundleSignature`), ``index.json``, then
the blobs. ``index.json`` names each image ``REPOSITORY@sha256:...`` and each signature or
attestation image by its cosign tag ``REPOSITORY:sha256-HEX.sig`` / ``.att``
(``org.opencontainers.image.ref.name``), with the registry in ``io.aiedge.registry``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BUNDLE_DESIRED = "aiedge/desired.json"
BUNDLE_SIGNATURE = "aiedge/desired.sig.json"
REGISTRY_ANNOTATION = "io.aiedge.registry"
APP_ANNOTATION = "io.aiedge.app"


class BundleSignature(BaseModel):
    """The hub's ed25519 signature over the exact bytes of ``aiedge/desired.json``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str = Field(description="sha256 of the hub's raw public key, hex (which key signed)")
    signature: str = Field(description="base64 of the 64-byte signature")
    site: str = Field(description="the site the desired state is for (also inside it)")
    digest: str = Field(description="the desired state's content digest")
    created: str = Field(description="when the bundle was made, ISO 8601 UTC")
