"""The Python side of a base image: aiedge's wheel, the requirements it declares, their pinned
versions, and downloading the wheels for the image's platform.

For the build host's own platform ``pip download`` picks wheels as for this interpreter. For
another platform (arm64 on an amd64 host) only binary wheels will do (nothing can be compiled for
it here): ``--only-binary=:all:`` with the platform tags the image's glibc accepts
(``manylinux_2_17`` up to its own version) and the image's CPython version, both read from the
image's package database.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from aiedge.containers.emulation import Target, is_native
from aiedge.containers.errors import ContainerError
from aiedge.containers.rootfs import run_tool

# the full image serves every format and runs a hub on PostgreSQL too (deploy/kubernetes)
IMAGE_EXTRAS = frozenset({"openvino", "lightgbm", "sklearn", "postgres"})
ML_RUNTIMES = frozenset({"onnx", "onnxruntime", "openvino", "lightgbm", "scikit-learn", "skl2onnx", "joblib"})
OLDEST_MANYLINUX = 17  # manylinux2014 = manylinux_2_17, the oldest tag wheels for arm64 use

Say = Callable[[str], None]


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


def runtime_requirements(
    with_runtimes: bool, declared: list[str] | None = None, extras: frozenset[str] = frozenset()
) -> list[str]:
    """aiedge's runtime dependencies: the default set and, with the runtimes, the extras of
    :data:`IMAGE_EXTRAS`; without them, no ML runtime at all; ``extras`` in either case (the hub's
    slim image takes ``postgres``). ``declared`` (a wheel's) or else the installed aiedge's."""
    declared = declared if declared is not None else metadata.requires("aiedge") or []
    found = set()
    for line in declared:
        requirement, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", marker)
        wanted = (
            extra is None or extra.group(1) in extras or (with_runtimes and extra.group(1) in IMAGE_EXTRAS)
        )
        if not wanted:
            continue
        if with_runtimes or _name(requirement) not in ML_RUNTIMES:
            found.add(requirement.strip())
    return sorted(found)


def check_extras(names: list[str], wheel: Path) -> list[str]:
    """``names`` if each is an extra ``wheel`` declares (``pip install 'aiedge[NAME]'``)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        headers = email.parser.BytesHeaderParser().parsebytes(zf.read(meta)) if meta else None
    declared = set(headers.get_all("Provides-Extra") or []) if headers else set()
    unknown = [n for n in names if n not in declared]
    if unknown:
        have = ", ".join(sorted(declared)) or "none"
        raise ContainerError(f"--extra {unknown[0]}: aiedge has no such extra (it has: {have})")
    return names


def pinned_constraints() -> str:
    """``name==version`` for every distribution in this environment except aiedge itself."""
    pins = {
        _name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"] and _name(d.metadata["Name"]) != "aiedge"
    }
    return "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))


def installed_version(rootfs: Path, package: str) -> str:
    """The version of Debian package ``package`` in ``rootfs``'s dpkg database."""
    try:
        status = (rootfs / "var" / "lib" / "dpkg" / "status").read_text(errors="replace")
    except OSError as e:
        raise ContainerError(f"{rootfs}: no dpkg database: {e}") from e
    for stanza in status.split("\n\n"):
        if re.search(rf"^Package: {re.escape(package)}$", stanza, re.M):
            m = re.search(r"^Version: (\S+)$", stanza, re.M)
            if m:
                return m.group(1)
    raise ContainerError(f"{rootfs}: Debian package {package} is not installed")


def _major_minor(version: str, what: str) -> tuple[int, int]:
    m = re.match(r"^(?:\d+:)?(\d+)\.(\d+)", version)
    if not m:
        raise ContainerError(f"cannot read {what}'s version from {version!r}")
    return int(m.group(1)), int(m.group(2))


def foreign_wheel_options(rootfs: Path, t: Target) -> list[str]:
    """``pip download`` options that pick wheels the image at ``rootfs`` (built for ``t``) runs."""
    glibc_major, glibc_minor = _major_minor(installed_version(rootfs, "libc6"), "libc6")
    py_major, py_minor = _major_minor(installed_version(rootfs, "python3"), "python3")
    if glibc_major != 2 or glibc_minor < OLDEST_MANYLINUX:
        raise ContainerError(f"the image's glibc {glibc_major}.{glibc_minor} is older than manylinux2014")
    tags = [f"manylinux_2_{v}_{t.machine}" for v in range(glibc_minor, OLDEST_MANYLINUX - 1, -1)]
    return [
        "--only-binary=:all:",
        *(arg for tag in [*tags, f"manylinux2014_{t.machine}"] for arg in ("--platform", tag)),
        "--implementation",
        "cp",
        "--python-version",
        f"{py_major}.{py_minor}",
    ]


def download_wheels(
    requirements: list[str],
    constraints: str,
    wheelhouse: Path,
    *,
    say: Say,
    rootfs: Path | None = None,
    target: Target | None = None,
) -> None:
    """``pip download`` on the build host (its index, proxy and CA settings apply) into
    ``wheelhouse``, which doubles as the warm cache. For the host's platform the host must match
    the image (Debian bookworm's glibc and CPython 3.11; checked by installing offline in the
    chroot); for another ``target`` the tags come from the image at ``rootfs``."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    constraints_file = wheelhouse.parent / f"constraints-{wheelhouse.name}.txt"
    constraints_file.write_text(constraints)
    options = ["--prefer-binary"]
    if target is not None and not is_native(target):
        if rootfs is None:
            raise ContainerError(f"wheels for {target} need the image's root filesystem to pick tags")
        options = foreign_wheel_options(rootfs, target)
    where = f" for {target}" if target is not None else ""
    say(f"pip download {len(requirements)} requirements (pinned){where} into {wheelhouse}")
    run_tool(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            *options,
            "-d",
            str(wheelhouse),
            "-c",
            str(constraints_file),
            *requirements,
        ],
        f"pip download{where}",
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
