"""`aiedge build` of the seed's model layouts and pipeline habits (issue 15), as a real child
process against a real registry: the versioned ``onnx-mnist`` folder as is, a model repository
(``models/NAME/1/``), every version loaded, three ``--image`` tags on one digest, and ``--exact``
refusing an answer the tolerant comparison lets through."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from aiedge.gitops import load_repo, read_git_head
from aiedge.oci.image import read_manifest_layers, unpack_layers
from aiedge.oci.registry import RegistryClient
from tests.cli.helpers import GIT_IDENTITY, HOUSING, HOUSING_TD, build, last_json
from tests.gitops.helpers import git, make_repo


def _manifest_digest(registry: str, repository: str, tag: str) -> str:
    async def get() -> str:
        async with RegistryClient(registry) as reg:
            body, _ = await reg.get_manifest(repository, tag)
            from aiedge.oci.digest import sha256_bytes

            return sha256_bytes(body)

    return asyncio.run(get())


def _files(registry: str, repository: str, digest: str, out: Path) -> list[str]:
    async def pull() -> list[Path]:
        async with RegistryClient(registry) as reg:
            manifest, _ = await reg.get_manifest(repository, digest)
            _, layers = read_manifest_layers(manifest)
            paths = []
            for i, d in enumerate(layers):
                await reg.fetch_blob(repository, d, out / f"layer{i}")
                paths.append(out / f"layer{i}")
            return paths

    out.mkdir(parents=True, exist_ok=True)
    unpack_layers(asyncio.run(pull()), out / "root")
    root = out / "root"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_onnx_mnist_folder_builds_as_is_with_every_tag(shared: Path, registry: str, tmp_path: Path) -> None:
    repo = f"{registry}/seed/mnist"
    mirror = f"{registry}/mirror/mnist:v1"
    done = build(str(shared / "seed-models" / "onnx-mnist"), "--name", "mnist", "--json",
                 "--image", f"{repo}:1", "--image", f"{repo}:latest", "--image", mirror)  # fmt: skip
    assert done.returncode == 0, done.stderr
    digest = last_json(done.stdout)["digest"]
    assert _manifest_digest(registry, "seed/mnist", "1") == digest
    assert _manifest_digest(registry, "seed/mnist", "latest") == digest
    assert _manifest_digest(registry, "mirror/mnist", "v1") == digest
    assert f"tagged {repo}:latest -> {digest}" in done.stderr
    files = _files(registry, "mirror/mnist", digest, tmp_path)
    assert "models/mnist/1/mnist.onnx" in files and "models/mnist/1/schema/schema.json" in files


def test_model_repository_takes_the_named_model_and_checks_every_version(
    shared: Path, registry: str, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(shared / "seed-models" / "onnx-mnist", models / "mnist")
    shutil.copytree(shared / "seed-models" / "onnx-mnist", models / "digits")
    shutil.copytree(shared / "seed-models" / "onnx-mnist" / "1", models / "mnist" / "2")
    done = build(str(models), "--name", "mnist", "--image", f"{registry}/seed/repo:1", "--json")
    assert done.returncode == 0, done.stderr
    assert "packing mnist" in done.stderr
    files = _files(registry, "seed/repo", last_json(done.stdout)["digest"], tmp_path / "pulled")
    assert {"models/mnist/1/mnist.onnx", "models/mnist/2/mnist.onnx"} <= set(files)
    assert not any("digits" in f for f in files)

    nobody = build(str(models), "--name", "fashion", "--image", f"{registry}/seed/repo:2")
    assert nobody.returncode == 1
    assert "model repository with 2 models (digits, mnist) and none is named 'fashion'" in nobody.stderr

    (models / "mnist" / "3").mkdir()
    (models / "mnist" / "3" / "model.onnx").write_bytes(b"not onnx")
    broken = build(str(models), "--name", "mnist", "--image", f"{registry}/seed/repo:3")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "mnist (version 3)" in broken.stderr


def test_repeated_image_names_are_checked_before_any_work(shared: Path, registry: str) -> None:
    twice = build(str(shared / HOUSING), "--name", "tensorflow-housing",
                  "--image", f"{registry}/x/h:1", "--image", f"{registry}/x/h:1")  # fmt: skip
    assert twice.returncode == 1 and "--image" in twice.stderr and "given twice" in twice.stderr
    pinned = build(str(shared / HOUSING), "--name", "tensorflow-housing", "--image", f"{registry}/x/h:1",
                   "--image", f"{registry}/x/h@sha256:{'a' * 64}")  # fmt: skip
    assert pinned.returncode == 1 and "the digest is what the build makes" in pinned.stderr


def test_exact_refuses_what_the_tolerance_lets_through(shared: Path, registry: str, tmp_path: Path) -> None:
    near = tmp_path / "near.json"
    near.write_text(json.dumps({"request": {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]},
                                "response": {"predictions": [-28.76399]}}))  # fmt: skip
    args = (str(shared / HOUSING), "--name", "tensorflow-housing", "--image", f"{registry}/seed/exact:1")
    tolerant = build(*args, "--test-data", str(near))
    assert tolerant.returncode == 0, tolerant.stderr
    exact = build(*args, "--test-data", str(near), "--exact")
    assert exact.returncode == 1 and "Traceback" not in exact.stderr
    assert "$.predictions[0]: expected -28.76399, got -28.7639923" in exact.stderr

    repo = make_repo(tmp_path / "gitops")
    seed = build(*args, "--test-data", str(shared / HOUSING_TD), "--exact", "--json",
                 "--gitops", str(repo), "--app", "housing", env=GIT_IDENTITY)  # fmt: skip
    assert seed.returncode == 0, seed.stderr
    assert "smoke test passed (exact)" in seed.stderr
    test = load_repo(read_git_head(repo)).apps["housing"].spec.test
    assert test is not None and (test.rtol, test.atol) == (0.0, 0.0)  # sites replay it exactly too
    assert git(repo, "status", "--porcelain") == ""

    alone = build(*args, "--exact")
    assert alone.returncode == 1 and "--exact" in alone.stderr and "--test-data" in alone.stderr
