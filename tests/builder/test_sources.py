"""Model sources other than a local folder, against real servers: Git repos over file:// (commit
SHA and source in the labels, commit time as SOURCE_DATE_EPOCH), a real HTTP server serving a
file, a .tar.gz and a .zip (and refusing archives that escape or expand past the configured cap),
and S3 via a real moto_server."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from aiedge.builder.errors import SourceError
from aiedge.builder.pipeline import BuildRequest
from aiedge.builder.sources import split_subdir
from aiedge.builder.sources.git import parse_git_url
from aiedge.oci.reference import ImageReference
from tests.builder.helpers import build, pull
from tests.gitops.helpers import GIT_ENV
from tests.support import Proc, free_port, wait_http


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV, **(env or {})}, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def model_repo(tmp_path: Path, onnx_model: Path) -> Path:
    """A Git repo with the model under models/housing, two commits (tag v1 is the first)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(onnx_model, repo / "models" / "housing")
    git(repo, "add", ".")
    when = {"GIT_COMMITTER_DATE": "1700000000 +0000", "GIT_AUTHOR_DATE": "1700000000 +0000"}
    git(repo, "commit", "-q", "-m", "one", env=when)
    git(repo, "tag", "v1")
    (repo / "models" / "housing" / "README.md").write_text("second\n")
    git(repo, "commit", "-q", "-am", "two", env={k: "1700000500 +0000" for k in when})
    return repo


def test_spec_parsing() -> None:
    assert split_subdir("git+https://h/r.git@v1#subdir=a/b") == ("git+https://h/r.git@v1", "a/b")
    assert parse_git_url("git+https://u:t@h/r.git@feature/x") == ("https://u:t@h/r.git", "feature/x")
    assert parse_git_url("git+file:///tmp/r") == ("file:///tmp/r", None)
    with pytest.raises(SourceError, match="subdir"):
        split_subdir("https://h/m.tar.gz#subdir=../x")
    with pytest.raises(SourceError, match="only fragment"):
        split_subdir("https://h/m.tar.gz#egg=x")


def test_git_source_records_commit_and_is_reproducible(
    model_repo: Path, registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first_sha = git(model_repo, "rev-parse", "v1")
    spec = f"git+file://{model_repo}@v1#subdir=models/housing"
    ref = ImageReference.parse(f"{registry}/src/git:1")
    one = build(BuildRequest(model=spec, name="housing", image=ref, provenance=False))
    two = build(BuildRequest(model=spec, name="housing", image=ref, provenance=False))
    assert one.digest == two.digest and one.revision == first_sha
    manifest, config = pull(registry, "src/git", one.digest)
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == first_sha
    assert labels["org.opencontainers.image.source"] == f"file://{model_repo}"
    assert manifest["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    head = build(BuildRequest(model=f"git+file://{model_repo}#subdir=models/housing", name="housing",
                              image=ref, provenance=False))  # fmt: skip
    assert head.revision == git(model_repo, "rev-parse", "HEAD") and head.digest != one.digest
    by_sha = build(BuildRequest(model=f"git+file://{model_repo}@{first_sha}#subdir=models/housing",
                                name="housing", image=ref, provenance=False))  # fmt: skip
    assert by_sha.digest == one.digest


def test_git_errors_name_the_ref_and_subdir(model_repo: Path, registry: str) -> None:
    ref = ImageReference.parse(f"{registry}/src/git-bad:1")
    with pytest.raises(SourceError, match="nope"):
        build(BuildRequest(model=f"git+file://{model_repo}@nope", name="m", image=ref))
    with pytest.raises(SourceError, match="subdir 'missing' is not in the source"):
        build(BuildRequest(model=f"git+file://{model_repo}#subdir=missing", name="m", image=ref))


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real HTTP server (python -m http.server) on loopback serving a temp folder."""
    root = tmp_path_factory.mktemp("www")
    port = free_port()
    proc = Proc([sys_python(), "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(root)],
                root.parent / f"http-{port}.log")  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=20)
        yield root, f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def sys_python() -> str:
    import sys

    return sys.executable


def test_http_file_tarball_and_zip(http_root: tuple[Path, str], onnx_model: Path, registry: str) -> None:
    root, url = http_root
    shutil.copy(onnx_model / "model.onnx", root / "model.onnx")
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(onnx_model, arcname="housing")
    with zipfile.ZipFile(root / "model.zip", "w") as z:
        for p in sorted(onnx_model.iterdir()):
            z.write(p, f"pkg/housing/{p.name}")
    ref = ImageReference.parse(f"{registry}/src/http:1")
    single = build(BuildRequest(model=f"{url}/model.onnx", name="h", image=ref, provenance=False))
    assert single.format == "onnx" and single.source == f"{url}/model.onnx"
    tarball = build(BuildRequest(model=f"{url}/model.tar.gz", name="h", image=ref, provenance=False))
    zipped = build(BuildRequest(model=f"{url}/model.zip#subdir=pkg/housing", name="h", image=ref,
                                provenance=False))  # fmt: skip
    # same files under models/h: same layers; only the source label differs
    m_tar, _ = pull(registry, "src/http", tarball.digest)
    m_zip, _ = pull(registry, "src/http", zipped.digest)
    assert [x["digest"] for x in m_tar["layers"]] == [x["digest"] for x in m_zip["layers"]]


def test_http_errors(http_root: tuple[Path, str], registry: str) -> None:
    root, url = http_root
    ref = ImageReference.parse(f"{registry}/src/http-bad:1")
    with pytest.raises(SourceError, match=r"/missing.onnx: HTTP 404"):
        build(BuildRequest(model=f"{url}/missing.onnx", name="h", image=ref))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.onnx", b"x")
    (root / "evil.zip").write_bytes(buf.getvalue())
    with pytest.raises(SourceError, match="leaves the destination"):
        build(BuildRequest(model=f"{url}/evil.zip", name="h", image=ref))


def test_http_archives_that_escape_or_explode_are_refused(
    http_root: tuple[Path, str], registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, url = http_root
    ref = ImageReference.parse(f"{registry}/src/http-evil:1")
    # the symlink chain l0 -> ., l1 -> l0/..: text checks pass it, the OS resolves it above
    with tarfile.open(root / "chain.tar.gz", "w:gz") as tar:
        for name, target in [("l0", "."), ("l1", "l0/.."), ("l2", "l1/..")]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    with pytest.raises(SourceError, match=r"chain\.tar\.gz: cannot unpack: .*leaves the destination"):
        build(BuildRequest(model=f"{url}/chain.tar.gz", name="h", image=ref))
    # bombs: 64 MiB of zeros in a zip and a tar.gz, against a 4 MiB cap
    monkeypatch.setenv("AIEDGE_BUILD_ARCHIVE_MAX_BYTES", str(4 << 20))
    with zipfile.ZipFile(root / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/zeros.bin", b"\0" * (64 << 20))
    with tarfile.open(root / "bomb.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model/zeros.bin")
        info.size = 64 << 20
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    for name in ("bomb.zip", "bomb.tar.gz"):
        assert (root / name).stat().st_size < 1 << 20
        with pytest.raises(SourceError, match=r"more than 4\.0 MiB \(AIEDGE_BUILD_ARCHIVE_MAX_BYTES\)"):
            build(BuildRequest(model=f"{url}/{name}", name="h", image=ref))
    monkeypatch.setenv("AIEDGE_BUILD_ARCHIVE_MAX_ENTRIES", "10")
    with zipfile.ZipFile(root / "many.zip", "w") as z:
        for i in range(20):
            z.writestr(f"model/{i}.txt", b"")
    with pytest.raises(SourceError, match="20 entries, more than 10"):
        build(BuildRequest(model=f"{url}/many.zip", name="h", image=ref))


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real moto_server (S3 API) on loopback; AWS credentials for it in the environment."""
    exe = shutil.which("moto_server") or str(Path(sys_python()).parent / "moto_server")
    if not Path(exe).exists():
        pytest.fail("moto_server is not installed (pip install 'moto[server]>=5,<6')", pytrace=False)
    port = free_port()
    proc = Proc([exe, "-H", "127.0.0.1", "-p", str(port)], tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def test_s3_prefix_and_single_object(
    s3: str, onnx_model: Path, registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="models")
    for p in sorted(onnx_model.iterdir()):
        client.upload_file(str(p), "models", f"housing/v1/{p.name}")
    client.upload_file(str(onnx_model / "model.onnx"), "models", "housing/v10/model.onnx")
    ref = ImageReference.parse(f"{registry}/src/s3:1")
    folder = build(BuildRequest(model="s3://models/housing/v1", name="h", image=ref, s3_endpoint=s3,
                                provenance=False))  # fmt: skip
    manifest, config = pull(registry, "src/s3", folder.digest)
    assert config["config"]["Labels"]["org.opencontainers.image.source"] == "s3://models/housing/v1"
    assert len(manifest["layers"]) == 1  # v10 not mixed in: model.onnx + README.md only
    one = build(BuildRequest(model="s3://models/housing/v1/model.onnx", name="h", image=ref,
                             s3_endpoint=s3, provenance=False))  # fmt: skip
    assert one.format == "onnx"
    with pytest.raises(SourceError, match="no objects under that prefix"):
        build(BuildRequest(model="s3://models/nothing", name="h", image=ref, s3_endpoint=s3))
    with pytest.raises(SourceError, match=r"NoSuchBucket|does not exist"):
        build(BuildRequest(model="s3://absent/x", name="h", image=ref, s3_endpoint=s3))
