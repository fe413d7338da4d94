"""`aiedge build` end to end, as a real child process, against a real registry: reproducible
digests, what the image holds, the smoke test (pass and fail), GitOps commits that keep the App
consistent (its test written with the digest, its model name checked before any work), and other
tools (skopeo, umoci) reading our images."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aiedge.demo.model import predict as demo_predict
from aiedge.gitops import load_repo, read_git_head
from aiedge.oci.image import (
    MODEL_FORMAT_LABEL,
    MODEL_NAME_LABEL,
    MODEL_PATH_LABEL,
    MODEL_SIGNATURE_LABEL,
    read_config_labels,
    read_manifest_layers,
    unpack_layers,
)
from aiedge.oci.registry import RegistryClient
from tests.cli.helpers import GIT_IDENTITY, HOUSING, HOUSING_TD, build, last_json
from tests.gitops.helpers import git, make_repo


def test_housing_builds_reproducibly_and_unpacks(shared: Path, registry: str, tmp_path: Path) -> None:
    image = f"{registry}/aiedge/housing:1"
    first = build(str(shared / HOUSING), "--name", "tensorflow-housing", "--image", image,
                  "--test-data", str(shared / HOUSING_TD), "--json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "smoke test passed" in first.stderr
    second = build(str(shared / HOUSING), "--name", "tensorflow-housing", "--image", image, "--json")
    assert second.returncode == 0, second.stderr
    one, two = last_json(first.stdout), last_json(second.stdout)
    assert one == two and set(one) == {"digest", "image"}
    assert one["image"] == f"{registry}/aiedge/housing@{one['digest']}"

    async def pull() -> dict[str, str]:
        async with RegistryClient(registry) as reg:
            manifest, _ = await reg.get_manifest("aiedge/housing", one["digest"])
            assert (await reg.get_manifest("aiedge/housing", "1"))[0] == manifest
            config_digest, layers = read_manifest_layers(manifest)
            await reg.fetch_blob("aiedge/housing", config_digest, tmp_path / "config")
            paths = []
            for i, d in enumerate(layers):
                await reg.fetch_blob("aiedge/housing", d, tmp_path / f"layer{i}")
                paths.append(tmp_path / f"layer{i}")
            unpack_layers(paths, tmp_path / "root")
            assert json.loads(manifest)["annotations"]["org.opencontainers.image.created"] == (
                "2023-11-14T22:13:20Z"
            )
            return read_config_labels((tmp_path / "config").read_bytes())

    labels = asyncio.run(pull())
    assert labels[MODEL_NAME_LABEL] == "tensorflow-housing"
    assert labels[MODEL_FORMAT_LABEL] == "tf-savedmodel"
    assert labels[MODEL_PATH_LABEL] == "models/tensorflow-housing"
    assert json.loads(labels[MODEL_SIGNATURE_LABEL])["inputs"][0]["datatype"] == "FP32"
    model = tmp_path / "root" / "models" / "tensorflow-housing"
    assert (model / "saved_model.pb").is_file()
    assert (model / "variables" / "variables.index").is_file()


def test_a_wrong_answer_fails_the_build_with_a_diff(shared: Path, registry: str, tmp_path: Path) -> None:
    td = tmp_path / "td.json"
    td.write_text(json.dumps({"request": {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]},
                              "response": {"predictions": [-20.5]}}))  # fmt: skip
    r = build(
        str(shared / HOUSING), "--name", "h", "--image", f"{registry}/aiedge/bad:1", "--test-data", str(td)
    )
    assert r.returncode == 1
    error = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "smoke test of h failed" in error[0]
    assert "$.predictions[0]: expected -20.5, got -28.76" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""  # nothing pushed, nothing reported


@pytest.mark.parametrize(("filename", "content"), [("empty", None), ("model.onnx", b"not onnx")])
def test_a_broken_model_is_refused_in_one_line(
    registry: str, tmp_path: Path, filename: str, content: bytes | None
) -> None:
    path = tmp_path / filename
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    r = build(str(path), "--name", "m", "--image", f"{registry}/aiedge/broken:1")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {path}: not a model aiedge can serve")


def test_gitops_commit_names_model_and_digest(shared: Path, registry: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "gitops")
    image = f"{registry}/aiedge/housing-gitops:1"
    r = build(str(shared / HOUSING), "--name", "tensorflow-housing", "--image", image,
              "--gitops", str(repo), "--app", "housing", "--json",
              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.invalid",
                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e.invalid"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    digest = last_json(r.stdout)["digest"]
    message = git(repo, "log", "-1", "--format=%s")
    assert "tensorflow-housing" in message and digest in message
    assert digest in (repo / "apps" / "housing.yaml").read_text()


@pytest.mark.skipif(shutil.which("skopeo") is None or shutil.which("umoci") is None, reason="no skopeo/umoci")
def test_skopeo_and_umoci_read_the_image(shared: Path, registry: str, tmp_path: Path) -> None:
    r = build(
        str(shared / HOUSING),
        "--name",
        "tensorflow-housing",
        "--image",
        f"{registry}/aiedge/tools:1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    digest = last_json(r.stdout)["digest"]
    ref = f"docker://{registry}/aiedge/tools@{digest}"
    info = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", ref],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert info["Digest"] == digest and info["Labels"][MODEL_NAME_LABEL] == "tensorflow-housing"
    layout = tmp_path / "layout"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", ref, f"oci:{layout}:m"],
                   capture_output=True, text=True, check=True)  # fmt: skip
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:m", str(tmp_path / "bundle")],
                   capture_output=True, text=True, check=True)  # fmt: skip
    assert (tmp_path / "bundle" / "rootfs" / "models" / "tensorflow-housing" / "saved_model.pb").is_file()


def _demo_app_repo(tmp_path: Path) -> Path:
    """The example GitOps repo with its App serving the demo's ONNX model (answers computable)."""
    repo = make_repo(tmp_path / "gitops")
    app = repo / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("model: tensorflow-housing", "model: housing-demo"))
    git(repo, "commit", "-q", "-am", "the demo model")
    return repo


def test_new_test_data_is_committed_with_the_digest(onnx_model: Path, registry: str, tmp_path: Path) -> None:
    repo = _demo_app_repo(tmp_path)
    row = [2.0, 1.0, 0.5, 3.0, 1.5, 2.5, 0.25, 4.0]
    expected = float(demo_predict(np.asarray([row], dtype=np.float32))[0])
    td = tmp_path / "new-test.json"
    td.write_text(json.dumps({"request": {"instances": [row]}, "response": {"predictions": [expected]}}))
    before = git(repo, "rev-parse", "HEAD")
    r = build(str(onnx_model), "--name", "housing-demo", "--image", f"{registry}/aiedge/demo-gitops:1",
              "--test-data", str(td), "--gitops", str(repo), "--app", "housing", "--json",
              env=GIT_IDENTITY)  # fmt: skip
    assert r.returncode == 0, r.stderr
    digest = last_json(r.stdout)["digest"]
    assert git(repo, "rev-list", "--count", f"{before}..HEAD") == "1"  # digest and test: one commit
    assert git(repo, "status", "--porcelain") == ""
    text = (repo / "apps" / "housing.yaml").read_text()
    assert "# every site replays this request before the new model takes traffic" in text  # comments kept
    app = load_repo(read_git_head(repo)).apps["housing"]
    assert app.spec.image.digest == digest
    assert app.spec.test is not None
    assert app.spec.test.request == {"instances": [row]}
    assert app.spec.test.response == {"predictions": [expected]}
    assert app.spec.test.path is None and app.spec.test.rtol == 1e-4  # default path; the App's rtol kept
    assert "-28.7639923" not in text


def test_a_name_that_differs_from_the_apps_model_is_refused_before_any_work(
    onnx_model: Path, registry: str, tmp_path: Path
) -> None:
    repo = _demo_app_repo(tmp_path)
    before = git(repo, "rev-parse", "HEAD")
    image = f"{registry}/aiedge/renamed:1"
    r = build(str(onnx_model), "--name", "housing-demo2", "--image", image,
              "--gitops", str(repo), "--app", "housing", env=GIT_IDENTITY)  # fmt: skip
    assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "error: --name housing-demo2 differs from App housing's spec.model housing-demo "
        "(apps/housing.yaml:9:10): sites would ask the server for a model it does not have; build "
        "with --name housing-demo, or give --update-model-name to write housing-demo2 there"
    )
    assert "packed" not in r.stderr  # refused before the model was even read
    assert git(repo, "rev-parse", "HEAD") == before
    ok = build(str(onnx_model), "--name", "housing-demo2", "--image", image, "--update-model-name",
               "--gitops", str(repo), "--app", "housing", env=GIT_IDENTITY)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert load_repo(read_git_head(repo)).apps["housing"].spec.model == "housing-demo2"


def test_gitops_errors_name_no_internals(onnx_model: Path, registry: str, tmp_path: Path) -> None:
    plain = tmp_path / "not-git"
    shutil.copytree(make_repo(tmp_path / "src"), plain, ignore=shutil.ignore_patterns(".git"))
    r = build(str(onnx_model), "--name", "tensorflow-housing", "--image", f"{registry}/aiedge/x:1",
              "--gitops", str(plain), "--app", "housing")  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: {plain} is not a Git work tree: the App's new image is committed there"
    )
