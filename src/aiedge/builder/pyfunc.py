"""MLflow pyfunc models at build time: the model's pinned requirements installed into its own
environment (``.pyfunc-env`` beside its ``MLmodel``, see ``serve/runtimes/pyfunc.py``), so that the
image carries everything the model imports and the site needs no network.

The requirements are the model's ``requirements.txt`` (what ``mlflow.pyfunc.save_model`` writes,
and what its ``python_env.yaml`` points at). Each line must pin one version (``name==X.Y``): no pip
options, URLs or paths, which would fetch or build from elsewhere. Only wheels are taken
(``--only-binary=:all:``): building an sdist runs its ``setup.py`` on the build host. Wheels are
downloaded into a wheel cache (reused by later builds), then installed from it alone
(``--no-index``). A requirement that no index has, or that conflicts with another, refuses the
build with pip's own line naming it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from aiedge.builder.errors import ModelInvalid
from aiedge.builder.inspect import version_dir
from aiedge.errors import AiedgeError
from aiedge.serve import formats
from aiedge.serve.errors import CodeRefused
from aiedge.serve.mlmodel import PYFUNC
from aiedge.serve.runtimes.pyfunc import ENV_DIR, PYTHON_FILE, SITE_DIR, python_tag

REQUIREMENTS = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 64 * 1024
PIP_TIMEOUT = 900.0


@dataclass(frozen=True)
class PyfuncEnv:
    path: Path  # the model's .pyfunc-env
    requirements: tuple[str, ...]  # as pinned in requirements.txt

    def summary(self) -> str:
        return (
            f"MLflow pyfunc model: installed {len(self.requirements)} pinned requirement(s) into {self.path}"
        )


def read_requirements(model_dir: Path) -> tuple[str, ...]:
    """The pinned requirements of ``model_dir/requirements.txt``; ModelInvalid names the line."""
    file = model_dir / REQUIREMENTS
    if not file.is_file() or file.is_symlink():
        raise ModelInvalid(
            f"{model_dir}: an MLflow pyfunc model needs its {REQUIREMENTS} (mlflow.pyfunc.save_model "
            "writes one) to be installed into its environment"
        )
    if file.stat().st_size > MAX_REQUIREMENTS_BYTES:
        raise ModelInvalid(f"{file}: larger than {MAX_REQUIREMENTS_BYTES} bytes")
    pins: list[str] = []
    for number, raw in enumerate(file.read_text(errors="replace").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        where = f"{file}:{number}"
        if line.startswith("-"):
            raise ModelInvalid(
                f"{where}: {line[:80]!r}: pip options are not taken; pin each package (name==X.Y)"
            )
        try:
            req = Requirement(line)
        except InvalidRequirement as e:
            raise ModelInvalid(f"{where}: {line[:80]!r} is not a requirement: {e}") from e
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
            raise ModelInvalid(f"{where}: {line[:80]!r}: pin exactly one version (name==X.Y), from an index")
        pins.append(str(req))
    if not pins:
        raise ModelInvalid(f"{file}: no requirements (the model needs at least mlflow to load)")
    return tuple(pins)


def _pip(args: list[str], what: str, file: Path) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "-q"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as e:
        raise ModelInvalid(f"{file}: pip {what} took more than {PIP_TIMEOUT:.0f} s") from e
    if done.returncode != 0:
        raise ModelInvalid(f"{file}: the model's requirements cannot be met: {_pip_reason(done.stderr)}")


def _pip_reason(stderr: str) -> str:
    """pip's one line that names the failing requirement (and a conflict's causes)."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip()]
    errors = [x.removeprefix("ERROR: ") for x in lines if x.startswith("ERROR:")]
    found = [e for e in errors if e.startswith("No matching distribution found for")]
    if found:
        return found[0]
    if "The conflict is caused by:" in lines:
        start = lines.index("The conflict is caused by:") + 1
        causes = [x for x in lines[start:] if not x.startswith(("To fix", "ERROR", "Additionally"))][:4]
        head = next((e for e in errors if e.startswith("Cannot install")), "conflicting requirements")
        return f"{head.rstrip('.')}: {'; '.join(causes)}"
    return (errors or lines or ["pip failed without a message"])[0][:400]


def prepare_env(model_dir: Path, wheel_cache: Path) -> PyfuncEnv:
    """Install the pinned requirements of the pyfunc model in ``model_dir`` (a copy the build owns)
    into ``model_dir/.pyfunc-env``, wheels via ``wheel_cache``."""
    pins = read_requirements(model_dir)
    file = model_dir / REQUIREMENTS
    env = model_dir / ENV_DIR
    shutil.rmtree(env, ignore_errors=True)
    wheel_cache.mkdir(parents=True, exist_ok=True)
    only_wheels = ["--only-binary=:all:", "--no-build-isolation"]
    _pip(["download", *only_wheels, "-d", str(wheel_cache), "-r", str(file)], "download", file)
    site = env / SITE_DIR
    _pip(
        [
            "install",
            *only_wheels,
            "--no-index",
            "--find-links",
            str(wheel_cache),
            "--target",
            str(site),
            "--no-warn-script-location",
            "--no-compile",  # the image skips __pycache__ folders, so compiling is wasted
            "-r",
            str(file),
        ],
        "install",
        file,
    )
    (env / PYTHON_FILE).write_text(python_tag() + "\n")
    return PyfuncEnv(env, pins)


def _is_pyfunc(path: Path) -> bool:
    try:
        return formats.resolve(path).format == PYFUNC
    except AiedgeError:
        return False  # not a model: inspect says why


def pyfunc_environments(
    path: Path, dest: Path, *, allow_code: bool, runnable: bool, wheel_cache: Path
) -> tuple[Path, list[PyfuncEnv]] | None:
    """None when the model at ``path`` is no pyfunc model; else a copy of it in ``dest`` with each
    pyfunc version's environment installed. Refused without the opt-in or without ``--base``."""
    versioned = version_dir(path) != path
    versions = sorted(c for c in path.iterdir() if c.is_dir() and c.name.isdigit()) if versioned else [path]
    found = [v for v in versions if _is_pyfunc(v)]
    if not found:
        return None
    if not allow_code:
        raise ModelInvalid(str(CodeRefused(found[0])))
    if not runnable:
        raise ModelInvalid(
            f"{found[0]}: an MLflow pyfunc model runs in its own Python environment, which only a "
            "runnable image holds: give --base IMAGE (a base from `aiedge base build`)"
        )
    ignore = shutil.ignore_patterns(ENV_DIR, "__pycache__", ".git")
    shutil.copytree(path, dest, ignore=ignore, symlinks=True)
    envs = [prepare_env(dest / v.relative_to(path), wheel_cache) for v in found]
    return dest, envs
