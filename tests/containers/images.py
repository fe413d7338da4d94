"""Images for the container tests: the base images, built once per pytest run and shared by
every xdist worker (a file lock and a folder beside the workers' temp folders), and runnable model
images, a model's layers (``aiedge.builder.pack``) stacked on a base layout without a registry,
entrypoint ``aiedge serve /models/NAME``, ports 8080/8081, user 1000 (what ``aiedge build --base``
makes from a pushed base).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiedge.builder.pack import ImageMeta, pack
from aiedge.containers.base_image import BaseSpec, build_base, find_source
from aiedge.containers.layout import LayoutImage, blob_paths, read_platform, write_layout
from aiedge.containers.wheels import build_wheel
from aiedge.oci.manifest import canonical_json, config_descriptor, layer_descriptor
from aiedge.oci.platform import AMD64, Platform
from tests.support import aiedge_cmd


def stack_model(
    base: Path, model: Path, name: str, out: Path, *, note: str = "", platform: Platform = AMD64
) -> LayoutImage:
    """Write ``base``'s image (for ``platform``) plus ``model`` under ``/models/NAME`` into the
    layout ``out``; a ``note`` label makes another digest of the same image."""
    base_manifest = read_platform(base, platform).manifest
    blobs = blob_paths(base, base_manifest)
    base_config = json.loads(blobs[-1][1].read_bytes())
    packed = pack(model, ImageMeta(name, "test", "{}", created=0), out.parent / f"{out.name}-work")
    config = dict(base_config)
    inner = dict(config["config"])
    inner["Entrypoint"] = [
        "/opt/aiedge/bin/aiedge",
        "serve",
        f"/models/{name}",
        "--name",
        name,
        "--host",
        "0.0.0.0",
    ]
    inner["Cmd"] = []
    inner["ExposedPorts"] = {"8080/tcp": {}, "8081/tcp": {}}
    inner["Labels"] = {**inner.get("Labels", {}), **json.loads(packed.config)["config"]["Labels"]}
    if note:
        inner["Labels"]["io.aiedge.test.note"] = note
    config["config"] = inner
    config["rootfs"] = {
        "type": "layers",
        "diff_ids": [*base_config["rootfs"]["diff_ids"], *(x.diff_id for x in packed.layers)],
    }
    config_bytes = canonical_json(config)
    config_path = out.parent / f"{out.name}-config.json"
    config_path.write_bytes(config_bytes)
    base_layers = json.loads(base_manifest)["layers"]
    layers = [layer_descriptor(d["digest"], d["size"]) for d in base_layers] + [
        layer_descriptor(x.digest, x.size) for x in packed.layers
    ]
    from aiedge.oci.manifest import build_manifest

    manifest = build_manifest(config_descriptor(config_bytes), layers, {})
    files = [p for _, p in blobs[:-1]] + [x.path for x in packed.layers] + [config_path]
    return write_layout(out, manifest, files, tag=name)


TEST_DATA = "seed-gitops/examples/tekton/aiedge-e2e/test-data/tensorflow-housing-test-data-cm.yaml"


def build_housing(
    shared: Path, registry: str, *args: str, env: dict[str, str], image: str = "models/housing:1"
) -> subprocess.CompletedProcess[str]:
    """``aiedge build`` of the seed's housing model into ``REGISTRY/image`` with the seed's test
    request, plus ``args`` (``--base ...``, ``--json``)."""
    model = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    cmd = aiedge_cmd(
        "build",
        str(model),
        "--name",
        "tensorflow-housing",
        "--image",
        f"{registry}/{image}",
        "--test-data",
        str(shared / TEST_DATA),
        *args,
    )
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)


CREATED = 1700000000  # SOURCE_DATE_EPOCH of every test base: the reproducibility test rebuilds one


def require_tools(*tools: str) -> None:
    """Fail (not skip) with what to install: the container tests are part of the suite."""
    missing = [t for t in tools if shutil.which(t) is None]
    if os.geteuid() != 0:
        missing.append("root")
    if missing:
        pytest.fail(
            f"the container tests need root and {', '.join(tools)}; missing: {', '.join(missing)} "
            "(./dev test installs them: apt-get install debootstrap podman runc)",
            pytrace=False,
        )


def base_cache() -> Path:
    """The download cache of base builds (Debian packages, wheels), kept between runs, as for users."""
    return Path.home() / ".cache" / "aiedge" / "base"


def run_dir(factory: pytest.TempPathFactory, config: pytest.Config) -> Path:
    """A folder shared by every worker of this pytest run (the workers' temp folders' parent)."""
    root = factory.getbasetemp()
    return (root.parent if hasattr(config, "workerinput") else root) / "shared-images"


def _locked_once(folder: Path, make: Callable[[Path], None]) -> Path:
    """``make(folder/out)`` once per run: the first worker builds under the lock, the others wait
    and reuse it; a failure is remembered so the others fail fast with its message."""
    folder.mkdir(parents=True, exist_ok=True)
    out, done, failed = folder / "out", folder / "done", folder / "failed"
    with (folder / "lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if failed.exists():
            why = failed.read_text()
            pytest.fail(f"building {folder.name} failed earlier in this run: {why}", pytrace=False)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            try:
                make(out)
            except Exception as e:
                failed.write_text(f"{type(e).__name__}: {e}")
                raise
            done.write_text("")
    return out


def shared_wheel(shared: Path) -> Path:
    """aiedge's wheel, built once per run: every test base installs the same bytes."""

    def make(out: Path) -> None:
        build_wheel(find_source(), out)

    return next(_locked_once(shared / "wheel", make).glob("aiedge-*.whl"))


def shared_base(shared: Path, *, runtimes: bool, platform: Platform = AMD64) -> Path:
    """The base image (``runtimes=False``: the slim variant) for ``platform`` as an OCI layout
    folder, tag ``latest``, built once per run; ``AIEDGE_TEST_BASE_LAYOUT`` names a ready full amd64
    one instead (``AIEDGE_TEST_ARM64_BASE_LAYOUT`` a full arm64 one). Another platform than the
    host's needs qemu-user-static (the build registers its binfmt handler)."""
    variable = (
        "AIEDGE_TEST_BASE_LAYOUT"
        if platform == AMD64
        else f"AIEDGE_TEST_{platform.architecture.upper()}_BASE_LAYOUT"
    )
    if runtimes and (given := os.environ.get(variable)):
        return Path(given)
    require_tools("debootstrap")
    wheel = shared_wheel(shared)
    name = f"base-{'full' if runtimes else 'slim'}{'' if platform == AMD64 else f'-{platform.architecture}'}"

    def make(out: Path) -> None:
        built = build_base(base_spec(out, wheel, runtimes=runtimes, platforms=(platform,)))
        print(f"{name}: {built.size / 1e6:.0f} MB, {built.seconds:.0f}s")

    return _locked_once(shared / name, make)


def base_spec(
    out: Path, wheel: Path, *, runtimes: bool, platforms: tuple[Platform, ...] = (AMD64,)
) -> BaseSpec:
    return BaseSpec(
        out=out, wheel=wheel, with_runtimes=runtimes, created=CREATED, cache=base_cache(), platforms=platforms
    )


@contextlib.contextmanager
def private_storage(extra_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Environment additions that give the podman of a child process (``aiedge build``, the demo's
    agent) a private image storage (podman's own ``CONTAINERS_STORAGE_CONF``) in a short folder of
    its own (podman refuses run roots over 50 characters); its containers and images are removed,
    then the folder."""
    root = Path(tempfile.mkdtemp(prefix="aiedge-podman-", dir="/tmp"))
    conf = root / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/root"\nrunroot = "{root}/run"\n')
    env = {"CONTAINERS_STORAGE_CONF": str(conf)}
    try:
        yield env
    finally:
        full = {**os.environ, **(extra_env or {}), **env}
        for args in (("rm", "--all", "--force"), ("rmi", "--all", "--force")):
            podman = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", *args]
            subprocess.run(podman, env=full, capture_output=True, timeout=300, check=False)
        shutil.rmtree(root, ignore_errors=True)
