"""``aiedge base build``: the runtime base image that model images stack on, built without a
container daemon: debootstrap (Debian ``minbase`` + python3) into a folder, a venv at
``/opt/aiedge`` holding aiedge and its runtime dependencies, user 1000, normalised, written as one
reproducible layer into an OCI image layout folder, pushed when asked.

Several platforms (``linux/amd64,linux/arm64``): each gets its own root filesystem (a foreign one
built under qemu-user, ``emulation.py``) and manifest, and the layout's tag names an OCI image
index over them. One platform: the tag names its manifest, as before there were several.

Reproducible: the same source, pinned dependency versions, Debian mirror state and
``SOURCE_DATE_EPOCH`` give the same digest, per platform (and so the same index). Pins come from
the building environment (``pip freeze`` of the running Python), so the image runs what was tested.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiedge
from aiedge.containers import rootfs as rf
from aiedge.containers.emulation import Target, ensure_emulation, is_native, target
from aiedge.containers.errors import ContainerError
from aiedge.containers.layout import LayoutImage, add_image, write_layout
from aiedge.containers.rootfs_layer import write_rootfs_layer
from aiedge.containers.wheels import (
    build_wheel,
    check_extras,
    download_wheels,
    pinned_constraints,
    runtime_requirements,
    wheel_requirements,
)
from aiedge.oci.manifest import (
    build_index,
    canonical_json,
    config_descriptor,
    layer_descriptor,
    manifest_descriptor,
    rfc3339,
)
from aiedge.oci.manifest import build_manifest as oci_manifest
from aiedge.oci.platform import AMD64, INDEX_MEDIA_TYPE, Platform, host_platform

DEFAULT_MIRROR = "http://deb.debian.org/debian"
VARIANT_LABEL = "io.aiedge.base.variant"
_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


@dataclass(frozen=True)
class BaseSpec:
    """What goes into a base image; equal specs (and mirror state) give equal digests."""

    out: Path
    source: Path | None = None  # aiedge's source tree (pyproject.toml); default: this install's
    wheel: Path | None = None  # or a built wheel
    suite: str = "bookworm"
    mirror: str | None = None  # default: the first Debian mirror apt is configured with
    with_runtimes: bool = True  # False: no ONNX Runtime/OpenVINO/LightGBM/sklearn (a small test image)
    created: int = 0  # SOURCE_DATE_EPOCH
    cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "aiedge" / "base")
    tag: str = "latest"
    platforms: tuple[Platform, ...] = field(default_factory=lambda: (host_platform(),))
    packages: tuple[str, ...] = ()  # more Debian packages, e.g. git for the hub's image
    extras: tuple[str, ...] = ()  # aiedge extras installed whatever with_runtimes says, e.g. postgres


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image of a base build."""

    platform: Platform
    digest: str  # of its manifest
    size: int  # compressed bytes of the layer
    unpacked: int  # bytes of the root filesystem
    seconds: float


@dataclass(frozen=True)
class BaseImage:
    image: LayoutImage  # the tag: a manifest (one platform) or an image index (several)
    platforms: list[PlatformImage]
    seconds: float

    @property
    def size(self) -> int:
        return sum(p.size for p in self.platforms)

    @property
    def unpacked(self) -> int:
        return sum(p.unpacked for p in self.platforms)


def configured_mirror() -> str:
    """The Debian mirror apt uses here (deb822 ``URIs:`` or a ``deb`` line), else deb.debian.org."""
    for path in _SOURCES:
        try:
            text = path.read_text()
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", text, re.M
        )
        if m:
            return m.group(1)
    return DEFAULT_MIRROR


def find_source() -> Path:
    """The source tree this aiedge runs from (an editable install or a checkout)."""
    here = Path(aiedge.__file__).resolve().parent
    for candidate in (here.parent.parent, here.parent):
        if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "aiedge").is_dir():
            return candidate
    raise ContainerError("cannot find aiedge's source tree: pass --source DIR or --wheel FILE")


def image_config(*, diff_id: str, created: int, labels: dict[str, str], platform: Platform = AMD64) -> bytes:
    return canonical_json(
        {
            "architecture": platform.architecture,
            "os": platform.os,
            **({"variant": platform.variant} if platform.variant else {}),
            "created": rfc3339(created),
            "config": {
                "User": f"{rf.USER_ID}:{rf.USER_ID}",
                "Env": [
                    f"PATH={rf.VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG=C.UTF-8",
                    f"HOME={rf.HOME}",
                    "PYTHONUNBUFFERED=1",
                ],
                "Entrypoint": [f"{rf.VENV}/bin/aiedge"],
                "Cmd": ["--help"],
                "WorkingDir": rf.HOME,
                "Labels": dict(labels),
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": rfc3339(created), "created_by": "aiedge base build"}],
        }
    )


def _tree_size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def cache_suffix(t: Target) -> str:
    """Download caches and their lock per platform: the host's keep their plain names
    (``debs``, ``wheels``), another platform's are ``debs-arm64``, ``wheels-arm64``."""
    return "" if is_native(t) else f"-{t.debian}"


@contextlib.contextmanager
def _cache_lock(cache: Path, t: Target, say: Callable[[str], None]) -> Iterator[None]:
    """One build at a time per download cache and platform: the wheelhouse moves into the image
    during a build, and two debootstraps writing one package cache would corrupt it."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f".build{cache_suffix(t)}.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another {t} base build using {cache}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def build_base(spec: BaseSpec, say: Callable[[str], None] = lambda _: None) -> BaseImage:
    """Build the base image into ``spec.out`` (an OCI layout folder), one image per platform of
    ``spec.platforms`` and an index over them when there are several. Blocking; needs root; builds
    sharing a download cache run one after the other per platform."""
    if not spec.platforms:
        raise ContainerError("no platform to build the base image for")
    targets = [target(p) for p in spec.platforms]
    rf.check_tools()
    for t in targets:
        ensure_emulation(t)
    started = time.monotonic()
    spec.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=spec.cache))
    try:
        wheel = spec.wheel or build_wheel(spec.source or find_source(), work / "wheel")
        say(f"aiedge wheel {wheel.name}")
        check_extras(list(spec.extras), wheel)  # before minutes of debootstrap
        built: list[tuple[PlatformImage, bytes]] = []
        for t in targets:
            with _cache_lock(spec.cache, t, say):
                built.append(_build_platform(spec, t, wheel, work / t.debian, say))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(built) == 1:
        image = write_layout(spec.out, built[0][1], [], tag=spec.tag)
    else:
        entries = [manifest_descriptor(manifest, p.platform) for p, manifest in built]
        index = build_index(entries, {"org.opencontainers.image.created": rfc3339(spec.created)})
        image = write_layout(spec.out, index, [], tag=spec.tag, media_type=INDEX_MEDIA_TYPE)
    return BaseImage(image, [p for p, _ in built], time.monotonic() - started)


def _build_platform(
    spec: BaseSpec, t: Target, wheel: Path, work: Path, say: Callable[[str], None]
) -> tuple[PlatformImage, bytes]:
    """One platform's root filesystem, layer, config and manifest; its blobs go into the layout."""
    started = time.monotonic()
    say(f"building the {t} image")
    work.mkdir(parents=True, exist_ok=True)
    rootfs = work / "rootfs"
    suffix = cache_suffix(t)
    mirror = spec.mirror or configured_mirror()
    arch = "" if is_native(t) else t.debian
    rf.debootstrap(
        rootfs,
        suite=spec.suite,
        mirror=mirror,
        cache=spec.cache / f"debs{suffix}",
        say=say,
        arch=arch,
        packages=(*rf.DEBIAN_PACKAGES, *spec.packages),
    )
    requirements = runtime_requirements(spec.with_runtimes, wheel_requirements(wheel), frozenset(spec.extras))
    wheelhouse = spec.cache / f"wheels{suffix}"
    download_wheels(requirements, pinned_constraints(), wheelhouse, say=say, rootfs=rootfs, target=t)
    rf.install_venv(rootfs, wheel, requirements, wheelhouse=wheelhouse, say=say)
    rf.add_user(rootfs)
    rf.normalise(rootfs, spec.created)
    unpacked = _tree_size(rootfs)
    say(f"writing the {t} layer ({unpacked / (1 << 20):.0f} MiB unpacked)")
    layer = write_rootfs_layer(rootfs, work / "layer.tar.gz", mtime=spec.created)
    shutil.rmtree(rootfs, ignore_errors=True)  # before the next platform's: they are a GB each
    labels = {
        "org.opencontainers.image.title": "aiedge-base",
        "org.opencontainers.image.version": aiedge.__version__,
        "io.aiedge.base.suite": spec.suite,
        VARIANT_LABEL: "full" if spec.with_runtimes else "slim",
    }
    if spec.packages:
        labels["io.aiedge.base.packages"] = ",".join(spec.packages)
    config = image_config(diff_id=layer.diff_id, created=spec.created, labels=labels, platform=t.platform)
    config_path = work / "config.json"
    config_path.write_bytes(config)
    manifest = oci_manifest(
        config_descriptor(config),
        [layer_descriptor(layer.digest, layer.size)],
        {"org.opencontainers.image.created": rfc3339(spec.created)},
    )
    digest = add_image(spec.out, manifest, [layer.path, config_path])
    return PlatformImage(t.platform, digest, layer.size, unpacked, time.monotonic() - started), manifest


def source_key(source: Path, *, with_runtimes: bool, suite: str) -> str:
    """What a base build depends on, hashed: aiedge's source files, the pinned dependency versions,
    the variant and the suite. Equal keys: a cached base image can stand in for a new build."""
    h = hashlib.sha256(f"{suite}\n{with_runtimes}\n{pinned_constraints()}".encode())
    files = [source / "pyproject.toml", *(source / "src").rglob("*")]
    for path in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
        h.update(f"{path.relative_to(source)}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cached_base(
    cache: Path, say: Callable[[str], None] = lambda _: None, *, with_runtimes: bool = True
) -> Path:
    """An OCI layout of the base image of this aiedge, built into ``cache/images/KEY`` when there is
    none for the current source yet (a minute or two), else reused; returns the layout folder."""
    source = find_source()
    key = source_key(source, with_runtimes=with_runtimes, suite=BaseSpec.suite)
    layout = cache / "images" / key
    if (layout / "index.json").is_file():
        say(f"base image cached in {layout}")
        return layout
    say(f"building the base image (debootstrap + Python + aiedge; a minute or two) into {layout}")
    partial = layout.with_name(f"{key}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    built = build_base(BaseSpec(out=partial, source=source, with_runtimes=with_runtimes, cache=cache), say)
    partial.rename(layout)
    say(f"base image built in {built.seconds:.0f} s: {built.size / (1 << 20):.0f} MiB compressed")
    return layout
