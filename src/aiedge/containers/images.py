"""Images into podman's storage: loaded from an OCI layout folder, or pulled from a registry
with credentials and a CA that never reach a command line."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from aiedge.containers.engine import Podman, load_args, platform_args
from aiedge.oci.platform import Platform


async def load_image(podman: Podman, image_ref: str, *, platform: Platform | None = None) -> str:
    """An image podman can run: ``oci:LAYOUT[:TAG]`` is loaded (pulled from the folder; of an
    index, ``platform``'s image), anything else (an image id or name already in podman's storage)
    is used as is."""
    if image_ref.startswith("oci:"):
        out = await podman.arun(*load_args(image_ref, platform), what=f"podman pull {image_ref}")
        return out.strip().splitlines()[-1]
    return image_ref


async def pull_image(
    podman: Podman,
    ref: str,
    *,
    tls_verify: bool = True,
    credentials: tuple[str, str] | None = None,
    ca_file: Path | None = None,
    certs_dir: Path | None = None,
    platform: Platform | None = None,
) -> str:
    """``podman pull REF`` from its registry (of an index, ``platform``'s image; default the
    host's); returns the image id. Credentials go to podman in an auth file beside its
    containers.conf (mode 0600, never on a command line); ``ca_file`` as a certificates folder
    (``certs_dir``, written here)."""
    options = [*([] if tls_verify else ["--tls-verify=false"]), *platform_args(platform)]
    if credentials is not None:
        auth = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        registry = ref.split("/", 1)[0]
        authfile = podman.conf.parent / "auth.json"
        authfile.touch(mode=0o600)
        authfile.write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
        options += ["--authfile", str(authfile)]
    if ca_file is not None and tls_verify:
        folder = certs_dir or podman.conf.parent / "certs"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca_file, folder / "ca.crt")
        options += ["--cert-dir", str(folder)]
    out = await podman.arun("pull", "--quiet", *options, ref, what=f"podman pull {ref}")
    return out.strip().splitlines()[-1]
