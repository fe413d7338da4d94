"""The images the core's manifests (``deploy/kubernetes``) run beside the hub, built here from
Debian's packages the way the base image is (debootstrap, normalised, one layer with fixed mtimes,
an OCI layout folder), for machines that reach a Debian mirror but no image registry. Not
byte-for-byte reproducible: package scripts make keys and certificates (ssl-cert's snakeoil pair)
when they install. The images:

- ``postgres``: Debian's ``postgresql-15`` with an entrypoint that honours the official postgres
  image's variables (``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_DB``, ``PGDATA``);
  runs as Debian's ``postgres`` user;
- ``git-sync``: git with a script that honours git-sync v4's ``GITSYNC_*`` variables the
  manifests set (repo, ref, root, link, period); runs as user 1000, the hub's, so the hub's git
  reads the checkout as its own.

The hub's own image is the base image with git added (``aiedge base build --no-runtimes --package
git``). Blocking and root-only, as the base build.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiedge.containers import rootfs as rf
from aiedge.containers.base_image import configured_mirror
from aiedge.containers.errors import ContainerError
from aiedge.containers.layout import LayoutImage, write_layout
from aiedge.containers.rootfs_layer import write_rootfs_layer
from aiedge.oci.manifest import build_manifest, canonical_json, config_descriptor, layer_descriptor, rfc3339

_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]{1,100}$")


@dataclass(frozen=True)
class Service:
    """What one service image holds and how it starts."""

    name: str
    packages: tuple[str, ...]
    script: str  # package data in aiedge.containers.scripts, installed as /usr/local/bin/NAME
    user: str  # "uid:gid", or a user name of the image's /etc/passwd
    env: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()  # made and given to ``user``: volumes mounted there inherit it
    ports: tuple[int, ...] = ()


SERVICES = {
    "postgres": Service(
        "postgres",
        ("postgresql-15",),
        "postgres-entrypoint.sh",
        "postgres",
        env=(
            "PGDATA=/var/lib/postgresql/data",
            "PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        dirs=("var/lib/postgresql/data", "run/postgresql"),
        ports=(5432,),
    ),
    "git-sync": Service(
        "git-sync",
        ("git", "ca-certificates", "openssh-client"),
        "git-sync.sh",
        f"{rf.USER_ID}:{rf.USER_ID}",
        env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"HOME={rf.HOME}"),
        dirs=(rf.HOME.lstrip("/"), "git"),
    ),
}


@dataclass(frozen=True)
class ServiceSpec:
    service: str  # a key of SERVICES
    out: Path
    suite: str = "bookworm"
    mirror: str | None = None
    created: int = 0
    cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "aiedge" / "base")
    tag: str = "latest"


@dataclass(frozen=True)
class ServiceImage:
    image: LayoutImage
    size: int  # compressed bytes of the layer
    seconds: float


def check_packages(names: Iterable[str]) -> list[str]:
    """Debian package names as given to ``--package``, checked (they reach debootstrap's command line)."""
    out = []
    for name in names:
        if not _PACKAGE.match(name):
            raise ContainerError(f"--package {name!r}: not a Debian package name")
        out.append(name)
    return out


def _numeric_user(rootfs: Path, user: str) -> tuple[int, int]:
    if ":" in user:
        uid, gid = user.split(":", 1)
        return int(uid), int(gid)
    for line in (rootfs / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise ContainerError(f"the image has no user {user!r} (/etc/passwd)")


def _config(service: Service, diff_id: str, created: int, uid: int, gid: int) -> bytes:
    return canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": rfc3339(created),
            "config": {
                "User": f"{uid}:{gid}",
                "Env": ["LANG=C.UTF-8", *service.env],
                "Entrypoint": [f"/usr/local/bin/{service.name}"],
                "ExposedPorts": {f"{p}/tcp": {} for p in service.ports},
                "Labels": {
                    "org.opencontainers.image.title": f"aiedge-{service.name}",
                    "io.aiedge.service": service.name,
                },
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": rfc3339(created), "created_by": f"aiedge base service {service.name}"}],
        }
    )


def build_service(spec: ServiceSpec, say: Callable[[str], None] = lambda _: None) -> ServiceImage:
    """Build the service image ``spec.service`` into the OCI layout ``spec.out``; builds sharing a
    download cache take turns (two debootstraps must not write one package cache)."""
    service = SERVICES.get(spec.service)
    if service is None:
        raise ContainerError(f"no service image {spec.service!r} (have: {', '.join(sorted(SERVICES))})")
    rf.check_tools()
    debs = spec.cache / "debs-services"
    debs.mkdir(parents=True, exist_ok=True)
    with (debs / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(service, spec, debs, say)


def _build(service: Service, spec: ServiceSpec, debs: Path, say: Callable[[str], None]) -> ServiceImage:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"service-{service.name}-", dir=spec.cache))
    try:
        rootfs = work / "rootfs"
        rf.debootstrap(
            rootfs,
            suite=spec.suite,
            mirror=spec.mirror or configured_mirror(),
            cache=debs,
            say=say,
            packages=service.packages,
        )
        if ":" in service.user:
            rf.add_user(rootfs)
        uid, gid = _numeric_user(rootfs, service.user)
        script = rootfs / "usr" / "local" / "bin" / service.name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_bytes(resources.files("aiedge.containers.scripts").joinpath(service.script).read_bytes())
        script.chmod(0o755)
        rf.normalise(rootfs, spec.created)
        for rel in service.dirs:
            folder = rootfs / rel
            folder.mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, uid, gid)
            folder.chmod(0o700 if rel.startswith("var/lib/postgresql") else 0o755)
        say(f"writing the {service.name} layer")
        layer = write_rootfs_layer(rootfs, work / "layer.tar.gz", mtime=spec.created)
        config = _config(service, layer.diff_id, spec.created, uid, gid)
        config_path = work / "config.json"
        config_path.write_bytes(config)
        manifest = build_manifest(
            config_descriptor(config),
            [layer_descriptor(layer.digest, layer.size)],
            {"org.opencontainers.image.created": rfc3339(spec.created)},
        )
        image = write_layout(spec.out, manifest, [layer.path, config_path], tag=spec.tag)
        return ServiceImage(image, layer.size, time.monotonic() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
