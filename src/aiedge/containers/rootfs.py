"""Making the base image's root filesystem: debootstrap, a venv with aiedge, a non-root user,
then the normalisation that makes two builds of the same inputs byte-identical.

Blocking and root-only (debootstrap and chroot need root); called by ``base.py``. Downloads are
cached between builds in ``cache/debs`` (Debian packages) and ``cache/wheels``, so a warm
build downloads only the package indexes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from aiedge.containers.errors import ContainerError, ToolMissing

VENV = "/opt/aiedge"
USER_ID = 1000
USER_NAME = "aiedge"
HOME = f"/home/{USER_NAME}"
DEBIAN_PACKAGES = ("python3", "python3-venv")
# removed after the build: logs, caches, indexes, docs and anything that records when or where
_REMOVE = (
    "var/log",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/cache/ldconfig/aux-cache",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/available-old",
    "usr/share/man",
    "usr/share/doc",
    "usr/share/info",
    "usr/share/lintian",
    "etc/resolv.conf",
    "etc/hostname",
    "root/.cache",
)
_KEEP_EMPTY = ("var/log", "var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/doc")

Say = Callable[[str], None]


def run_tool(cmd: Sequence[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(list(cmd), env=env, capture_output=True, text=True, check=False)
    except OSError as e:
        raise ContainerError(f"{what}: cannot run {cmd[0]}: {e}") from e
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise ContainerError(f"{what} failed (exit {done.returncode}): {tail}")


def check_tools() -> None:
    if os.geteuid() != 0:
        raise ContainerError("building the base image needs root (debootstrap and chroot)")
    if shutil.which("debootstrap") is None:
        raise ToolMissing("debootstrap is not installed: apt-get install debootstrap")


def debootstrap(
    rootfs: Path,
    *,
    suite: str,
    mirror: str,
    cache: Path,
    say: Say,
    arch: str = "",
    packages: Sequence[str] = DEBIAN_PACKAGES,
) -> None:
    """``debootstrap --variant=minbase`` with ``packages`` (python3 and python3-venv), .debs cached
    in ``cache``; ``arch`` (Debian's word) when not the host's: both stages run, the second under
    qemu-user."""
    cache.mkdir(parents=True, exist_ok=True)
    if rootfs.exists():
        shutil.rmtree(rootfs)
    say(f"debootstrap {suite}{f' ({arch})' if arch else ''} from {mirror}")
    run_tool(
        [
            "debootstrap",
            *([f"--arch={arch}"] if arch else []),
            "--variant=minbase",
            f"--include={','.join(packages)}",
            f"--cache-dir={cache.resolve()}",
            suite,
            str(rootfs),
            mirror,
        ],
        "debootstrap",
        env=_clean_env(),
    )


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/root",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    return {**env, **(extra or {})}


def install_venv(rootfs: Path, wheel: Path, requirements: list[str], *, wheelhouse: Path, say: Say) -> None:
    """A venv at ``/opt/aiedge`` with ``requirements`` from ``wheelhouse`` and then ``wheel`` (no
    deps); pip runs inside the chroot (the image's own Python), offline, without .pyc files."""
    stage = rootfs / "tmp" / "aiedge-install"
    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy2(wheel, stage / wheel.name)
    inner = stage / "wheels"
    shutil.move(wheelhouse, inner)  # a rename on one filesystem: the wheelhouse moves in and back out
    env = _clean_env({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"})
    pip = [
        f"{VENV}/bin/python",
        "-m",
        "pip",
        "install",
        "--no-compile",
        "--no-input",
        "--no-index",
        "--no-warn-script-location",
        "--find-links",
        "/tmp/aiedge-install/wheels",
    ]
    try:
        say(f"python3 -m venv {VENV}")
        run_tool(["chroot", str(rootfs), "/usr/bin/python3", "-m", "venv", VENV], "python3 -m venv", env)
        say(f"pip install {len(requirements)} requirements and {wheel.name} (offline, in the image)")
        if requirements:
            run_tool(["chroot", str(rootfs), *pip, *requirements], "pip install (dependencies)", env)
        run_tool(
            ["chroot", str(rootfs), *pip, "--no-deps", f"/tmp/aiedge-install/{wheel.name}"],
            "pip install (aiedge)",
            env,
        )
    finally:
        shutil.move(inner, wheelhouse)
        shutil.rmtree(stage, ignore_errors=True)


def add_user(rootfs: Path) -> None:
    """User and group 1000 (``aiedge``), written directly: ``useradd`` stamps today's date."""
    etc = rootfs / "etc"
    lines = {
        "passwd": f"{USER_NAME}:x:{USER_ID}:{USER_ID}:aiedge:{HOME}:/usr/sbin/nologin\n",
        "group": f"{USER_NAME}:x:{USER_ID}:\n",
        "shadow": f"{USER_NAME}:!:0:0:99999:7:::\n",
        "gshadow": f"{USER_NAME}:!::\n",
    }
    for name, line in lines.items():
        path = etc / name
        text = path.read_text() if path.exists() else ""
        if not any(row.startswith(f"{USER_NAME}:") for row in text.splitlines()):
            path.write_text(text + line)
    home = rootfs / HOME.lstrip("/")
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, USER_ID, USER_ID)
    home.chmod(0o755)


def _shadow_days(rootfs: Path, created: int) -> None:
    """The "last password change" field of ``/etc/shadow`` is the day of the build (Debian's
    ``passwd`` runs ``pwconv`` at install time): set it to the day of ``SOURCE_DATE_EPOCH``, as the
    reproducible-builds project does, so builds on two dates agree."""
    shadow = rootfs / "etc" / "shadow"
    if not shadow.is_file() or shadow.is_symlink():
        return
    day = str(created // 86400)
    rows = []
    for row in shadow.read_text().splitlines():
        fields = row.split(":")
        if len(fields) == 9 and fields[2] not in ("", "0"):  # 0 means "change at next login": kept
            fields[2] = day
        rows.append(":".join(fields))
    mode = shadow.stat().st_mode
    shadow.write_text("".join(f"{row}\n" for row in rows))
    shadow.chmod(mode)


def normalise(rootfs: Path, created: int) -> None:
    """Remove what differs between two builds of the same inputs (timestamps come later, in the
    tar writer): logs, caches, package indexes, docs, ``__pycache__``, the machine id; dates in
    files set to ``created`` (``SOURCE_DATE_EPOCH``)."""
    _shadow_days(rootfs, created)
    for rel in _REMOVE:
        path = rootfs / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for rel in _KEEP_EMPTY:
        (rootfs / rel).mkdir(parents=True, exist_ok=True)
    for cache in sorted(rootfs.rglob("__pycache__"), reverse=True):
        if cache.is_dir() and not cache.is_symlink():
            shutil.rmtree(cache)
    machine_id = rootfs / "etc" / "machine-id"
    if machine_id.exists():
        machine_id.write_text("")
    for var_tmp in (rootfs / "tmp", rootfs / "var" / "tmp"):
        if var_tmp.is_dir():
            for child in var_tmp.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
