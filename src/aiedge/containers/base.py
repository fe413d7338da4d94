"""``aiedge base build``: the runtime base image that model images stack on, built without a
container daemon: debootstrap (Debian ``minbase`` + python3) into a folder, a venv at
``/opt/aiedge`` holding aiedge and its runtime dependencies, user 1000, normalised, written as one
reproducible layer into an OCI image layout folder, pushed when asked.

Reproducible: the same source, pinned dependency versions, Debian mirror state and
``SOURCE_DATE_EPOCH`` give the same digest. Pins come from the building environment (``pip
freeze`` of the running Python), so the image runs what was tested.
"""

from __future__ import annotations

import contextlib
import email.parser
import fcntl
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import aiedge
from aiedge.containers import rootfs as rf
from aiedge.containers.errors import ContainerError
from aiedge.containers.layout import LayoutImage, write_layout
from aiedge.containers.rootfs_layer import write_rootfs_layer
from aiedge.oci.digest import sha256_bytes
from aiedge.oci.manifest import build_manifest as oci_manifest
from aiedge.oci.manifest import (
    canonical_json,
    config_descriptor,
    layer_descriptor,
    rfc3339,
)

ML_RUNTIMES = frozenset({"onnx", "onnxruntime", "openvino", "lightgbm", "scikit-learn", "skl2onnx", "joblib"})
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


@dataclass(frozen=True)
class BaseImage:
    image: LayoutImage
    size: int  # compressed bytes of the layer
    unpacked: int  # bytes of the root filesystem
    seconds: float


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


def build_wheel(source: Path, out: Path) -> Path:
    """A wheel of ``source``, built from a clean copy (the tree itself gets no build/ folders)."""
    with tempfile.TemporaryDirectory(prefix="aiedge-wheel-") as tmp:
        copy = Path(tmp) / "src-copy"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        copy.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg"):
            if (source / name).is_file():
                shutil.copy2(source / name, copy / name)
        shutil.copytree(source / "src", copy / "src", ignore=ignore)
        out.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                "-w",
                str(out),
                str(copy),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ContainerError(f"building aiedge's wheel failed: {done.stderr.strip()[-500:]}")
    wheels = sorted(out.glob("aiedge-*.whl"))
    if not wheels:
        raise ContainerError(f"pip wheel made no aiedge wheel in {out}")
    return wheels[-1]


def _name(requirement: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return m.group(1).lower().replace("_", "-") if m else ""


def wheel_requirements(wheel: Path) -> list[str]:
    """``Requires-Dist`` of a wheel: what the source it was built from declares (the running
    environment's install of aiedge may be older than the source)."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        if not names:
            raise ContainerError(f"{wheel.name}: no .dist-info/METADATA in the wheel")
        meta = email.parser.BytesHeaderParser().parsebytes(zf.read(names[0]))
    return list(meta.get_all("Requires-Dist") or [])


def runtime_requirements(with_runtimes: bool, declared: list[str] | None = None) -> list[str]:
    """aiedge's runtime dependencies (no extras), optionally without the ML runtimes; ``declared``
    (a wheel's) or else the installed aiedge's."""
    declared = declared if declared is not None else metadata.requires("aiedge") or []
    reqs = [r for r in declared if "extra ==" not in r]
    return sorted(r.split(";")[0].strip() for r in reqs if with_runtimes or _name(r) not in ML_RUNTIMES)


def pinned_constraints() -> str:
    """``name==version`` for every distribution in this environment except aiedge itself."""
    pins = {
        _name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"] and _name(d.metadata["Name"]) != "aiedge"
    }
    return "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))


def image_config(*, diff_id: str, created: int, labels: dict[str, str]) -> bytes:
    return canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
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


@contextlib.contextmanager
def _cache_lock(cache: Path, say: Callable[[str], None]) -> Iterator[None]:
    """One build at a time per download cache: the wheelhouse moves into the image during a build,
    and two debootstraps writing one package cache would corrupt it."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".build.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another base build using {cache}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def build_base(spec: BaseSpec, say: Callable[[str], None] = lambda _: None) -> BaseImage:
    """Build the base image into ``spec.out`` (an OCI layout folder). Blocking; needs root; builds
    sharing a download cache run one after the other."""
    rf.check_tools()
    with _cache_lock(spec.cache, say):
        return _build_base(spec, say)


def _build_base(spec: BaseSpec, say: Callable[[str], None]) -> BaseImage:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="work-", dir=spec.cache))
    try:
        wheel = spec.wheel or build_wheel(spec.source or find_source(), work / "wheel")
        say(f"aiedge wheel {wheel.name}")
        rootfs = work / "rootfs"
        mirror = spec.mirror or configured_mirror()
        rf.debootstrap(rootfs, suite=spec.suite, mirror=mirror, cache=spec.cache / "debs", say=say)
        requirements = runtime_requirements(spec.with_runtimes, wheel_requirements(wheel))
        rf.download_wheels(requirements, pinned_constraints(), spec.cache / "wheels", say=say)
        rf.install_venv(rootfs, wheel, requirements, wheelhouse=spec.cache / "wheels", say=say)
        rf.add_user(rootfs)
        rf.normalise(rootfs)
        unpacked = _tree_size(rootfs)
        say(f"writing the layer ({unpacked / (1 << 20):.0f} MiB unpacked)")
        layer = write_rootfs_layer(rootfs, work / "layer.tar.gz", mtime=spec.created)
        labels = {
            "org.opencontainers.image.title": "aiedge-base",
            "org.opencontainers.image.version": aiedge.__version__,
            "io.aiedge.base.suite": spec.suite,
            VARIANT_LABEL: "full" if spec.with_runtimes else "slim",
        }
        config = image_config(diff_id=layer.diff_id, created=spec.created, labels=labels)
        config_path = work / "config.json"
        config_path.write_bytes(config)
        manifest = oci_manifest(
            config_descriptor(config),
            [layer_descriptor(layer.digest, layer.size)],
            {"org.opencontainers.image.created": rfc3339(spec.created)},
        )
        image = write_layout(spec.out, manifest, [layer.path, config_path], tag=spec.tag)
        assert image.digest == sha256_bytes(manifest)
        return BaseImage(image, layer.size, unpacked, time.monotonic() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
