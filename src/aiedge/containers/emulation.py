"""The platforms a base image can be built for, and running another architecture's programs here.

A foreign root filesystem (arm64 on an amd64 build host) runs its Debian second stage and its
``pip install`` under qemu-user: Debian's ``qemu-user-static`` with the kernel's binfmt_misc handler
for that architecture. The handler is registered here when missing, from the file the Debian
package ships, with its ``F`` flag: the kernel opens the interpreter once at registration, so it
works inside a chroot and a container that do not have it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiedge.containers.errors import ContainerError, ToolMissing
from aiedge.oci.platform import Platform, host_platform

BINFMT = Path("/proc/sys/fs/binfmt_misc")
BINFMT_CONFS = Path("/usr/lib/binfmt.d")


@dataclass(frozen=True)
class Target:
    """One platform in the words of each tool that needs it."""

    platform: Platform
    debian: str  # debootstrap --arch, dpkg
    machine: str  # uname -m, wheel platform tags, qemu's name

    def __str__(self) -> str:
        return str(self.platform)


TARGETS = (
    Target(Platform("linux", "amd64"), "amd64", "x86_64"),
    Target(Platform("linux", "arm64"), "arm64", "aarch64"),
)


def target(platform: Platform) -> Target:
    for t in TARGETS:
        if platform.accepts(t.platform) and t.platform.accepts(platform):
            return t
    names = ", ".join(str(t) for t in TARGETS)
    raise ContainerError(f"cannot build a base image for {platform}: aiedge builds {names}")


def is_native(t: Target) -> bool:
    return host_platform().accepts(t.platform)


def ensure_emulation(t: Target) -> None:
    """Make ``t``'s programs run here: nothing to do for the host's own platform; otherwise mount
    binfmt_misc when it is not, and register qemu's handler when it is missing. Needs root."""
    if is_native(t):
        return
    entry = BINFMT / f"qemu-{t.machine}"
    if not entry.exists():
        conf = BINFMT_CONFS / f"qemu-{t.machine}.conf"
        if not conf.is_file():
            raise ToolMissing(
                f"building for {t} needs qemu-user emulation: apt-get install qemu-user-static binfmt-support"
            )
        _mount_binfmt()
        try:
            (BINFMT / "register").write_text(conf.read_text().strip() + "\n")
        except FileExistsError:
            pass  # registered by someone else meanwhile
        except OSError as e:
            raise ContainerError(f"cannot register the qemu-{t.machine} binfmt handler: {e}") from e
    _check_entry(t, entry)


def _mount_binfmt() -> None:
    if (BINFMT / "register").exists():
        return
    done = subprocess.run(
        ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 and not (BINFMT / "register").exists():
        why = done.stderr.strip() or f"exit {done.returncode}"
        raise ContainerError(
            f"cannot mount binfmt_misc on {BINFMT} (needed to run other architectures): {why}"
        )


def _check_entry(t: Target, entry: Path) -> None:
    try:
        text = entry.read_text()
    except OSError as e:
        raise ContainerError(f"the qemu-{t.machine} binfmt handler is not readable: {e}") from e
    lines = text.splitlines()
    if not lines or lines[0].strip() != "enabled":
        raise ContainerError(f"the qemu-{t.machine} binfmt handler is disabled: echo 1 > {entry}")
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if "F" not in flags:
        # without F the kernel looks the interpreter up inside the chroot, where it is not
        raise ContainerError(
            f"the qemu-{t.machine} binfmt handler lacks the F (fix binary) flag: remove it "
            f"(echo -1 > {entry}) and build again, aiedge registers it from {BINFMT_CONFS}"
        )
