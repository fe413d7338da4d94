"""Air-gapped delivery, end to end with real processes: the seed's housing model built, signed and
pushed to a real registry; a real hub; an agent enrolled with it (learning the hub's key). Then
the hub and the registry go away, `aiedge bundle export` (at the core) writes the site's signed
desired state with every blob, and `aiedge agent import` (at the site) verifies it and the agent
serves the seed's answer -28.7639923 with neither reachable; when the hub is back, the site
reports what it runs. A bundle that was tampered with, is for another site, or whose images are
unsigned is refused whole. ``--registry-mirror`` pulls from a site-local registry."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import enrolled_agent
from tests.gitops.helpers import git
from tests.hub.helpers import operator_token
from tests.support import Proc, aiedge_cmd, free_port, start_registry, wait_http, wait_until

REQUEST = {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}


def _gitops(root: Path, registry: str, port: int, tier: str) -> Path:
    root.mkdir(parents=True)
    head = "apiVersion: aiedge.io/v1alpha1\n"
    (root / "housing.yaml").write_text(
        f"{head}kind: App\nmetadata: {{name: housing}}\nspec:\n  model: tensorflow-housing\n"
        f"  protocol: tfserving\n  port: {port}\n  image:\n    repository: {registry}/seed/housing\n"
        f"  test:\n    request: {json.dumps(REQUEST)}\n    response: {{predictions: [-28.7639923]}}\n"
        "    rtol: 1.0e-4\n"
    )
    (root / "placement.yaml").write_text(
        f"{head}kind: Placement\nmetadata: {{name: p}}\nspec:\n"
        "  siteSelector: {matchLabels: {tier: near-edge}}\n  apps: [housing]\n"
    )
    _site(root, tier)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "housing")
    return root


def _site(root: Path, tier: str) -> None:
    head = "apiVersion: aiedge.io/v1alpha1\n"
    (root / "site.yaml").write_text(
        f"{head}kind: Site\nmetadata: {{name: site-a, labels: {{tier: {tier}}}}}\n"
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=300, check=False)


def _ok(*args: str) -> str:
    out = _run(*args)
    assert out.returncode == 0, f"aiedge {' '.join(args)}: {out.stderr}"
    return out.stdout


def _predict(url: str) -> float:
    r = httpx.post(f"{url}/v1/models/tensorflow-housing/versions/1:predict", json=REQUEST, timeout=10)
    assert r.status_code == 200, r.text
    return float(r.json()["predictions"][0])


def _answers(url: str) -> bool:
    try:
        return _predict(url) == pytest.approx(-28.7639923, rel=1e-4)
    except (httpx.HTTPError, AssertionError):
        return False


@pytest.mark.timeout(600)
def test_an_air_gapped_site_serves_the_seed_from_a_bundle(tmp_path: Path, shared: Path) -> None:
    reg_proc, registry = start_registry(tmp_path / "registry")
    site_port = free_port()
    gitops = _gitops(tmp_path / "gitops", registry, site_port, tier="far")
    keys = tmp_path / "keys"
    _ok("keygen", "--out", str(keys))
    built = _ok(
        "build",
        str(shared / "seed-models" / "tensorflow-housing" / "tf2model"),
        "--name",
        "tensorflow-housing",
        "--image",
        f"{registry}/seed/housing:1",
        "--gitops",
        str(gitops),
        "--app",
        "housing",
        "--sign",
        str(keys / "cosign.key"),
        "--json",
    )
    digest = json.loads(built.strip().splitlines()[-1])["digest"]

    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub_data = tmp_path / "hub"
    hub_cmd = aiedge_cmd(
        "hub",
        "--gitops",
        str(gitops),
        "--data",
        str(hub_data),
        "--port",
        str(hub_port),
        "--poll-interval",
        "1",
    )
    hub = Proc(hub_cmd, tmp_path / "hub.log")
    agent: Proc | None = None
    data = tmp_path / "site-a"
    try:
        wait_http(f"{hub_url}/api/v1/health")
        agent = enrolled_agent(
            hub_url,
            hub_data,
            "site-a",
            data,
            tmp_path / "agent.log",
            "--verify-key",
            str(keys / "cosign.pub"),
        )
        wait_until((data / "hub-key.pub").exists, timeout=60, what="enrolled, hub key kept")
        assert (data / "hub-key.pub").read_text() == (hub_data / "hub-signing.pub").read_text()

        # the link goes: no hub, no registry; Git places housing on site-a meanwhile
        assert hub.stop() == 0
        _site(gitops, "near-edge")
        git(gitops, "commit", "-qam", "site-a gets housing")
        bundle = tmp_path / "site-a.bundle"
        report = json.loads(
            _ok(
                "bundle",
                "export",
                "--site",
                "site-a",
                "-o",
                str(bundle),
                "--gitops",
                str(gitops),
                "--data",
                str(hub_data),
                "--json",
            )
        )
        assert report["apps"] == [f"housing@{digest}"] and report["signatures"] == 1
        assert report["attestations"] == 1  # the build's provenance travels too
        # one app's images only: the digest must be the one Git places there
        export = ("bundle", "export", "--site", "site-a", "--gitops", str(gitops), "--data", str(hub_data))
        one = json.loads(_ok(*export, f"housing@{digest}", "-o", str(tmp_path / "one.bundle"), "--json"))
        assert one["apps"] == [f"housing@{digest}"] and one["blobs"] == report["blobs"]
        stale = _run(*export, "housing@sha256:" + "0" * 64, "-o", str(tmp_path / "x.bundle"))
        assert stale.returncode == 1 and "a bundle carries what Git says" in stale.stderr, stale.stderr
        assert not (tmp_path / "x.bundle").exists()
        reg_proc.stop()

        # hostile bundles first: each refused whole, nothing applied
        _refused(tmp_path, bundle, data, keys)

        t0 = time.monotonic()
        imported = _ok(
            "agent",
            "import",
            str(bundle),
            "--data",
            str(data),
            "--site",
            "site-a",
            "--verify-key",
            str(keys / "cosign.pub"),
        )
        import_s = time.monotonic() - t0
        assert f"housing@{digest[:19]}" in imported
        url = f"http://127.0.0.1:{site_port}"
        wait_until(lambda: _answers(url), timeout=180, what="site-a serving the seed from the bundle")
        serving_s = time.monotonic() - t0
        print(
            f"\nbundle of the seed's housing model: {bundle.stat().st_size:,} bytes; "
            f"aiedge agent import {import_s:.2f}s; serving {serving_s:.1f}s after the import began"
        )
        assert _predict(url) == pytest.approx(-28.7639923, rel=1e-4)
        assert "imported bundle: desired state" in agent.log()

        # the hub comes back: the site reports what it runs
        hub = Proc(hub_cmd, tmp_path / "hub-2.log")
        wait_http(f"{hub_url}/api/v1/health")

        reader = {"Authorization": f"Bearer {operator_token(hub_data, 'read')}"}

        def reported() -> bool:
            site = httpx.get(f"{hub_url}/api/v1/sites/site-a", headers=reader, timeout=5).json()
            return bool(site["apps"]) and site["apps"][0].get("digest") == digest

        wait_until(reported, timeout=90, what="the hub sees what site-a runs")
    finally:
        if agent is not None:
            agent.stop()
        hub.stop()
        reg_proc.stop()


def _refused(tmp_path: Path, bundle: Path, data: Path, keys: Path) -> None:
    def tampered(name: str, change: Callable[[str, bytes], bytes]) -> Path:
        out = tmp_path / f"bad-{name}.bundle"
        with tarfile.open(bundle) as src, tarfile.open(out, "w:") as dst:
            for m in src:
                f = src.extractfile(m)
                body = f.read() if f else b""
                body = change(m.name, body)
                m.size = len(body)
                dst.addfile(m, io.BytesIO(body))
        return out

    def flip_layer(name: str, body: bytes) -> bytes:
        return body[:-1] + bytes([body[-1] ^ 1]) if name.startswith("blobs/") else body

    def other_site(name: str, body: bytes) -> bytes:
        return body.replace(b'"site":"site-a"', b'"site":"site-b"') if name == "aiedge/desired.json" else body

    def hostile(name: str, member: tarfile.TarInfo) -> Path:
        out = tmp_path / f"bad-{name}.bundle"
        with tarfile.open(bundle) as src, tarfile.open(out, "w:") as dst:
            for m in src:
                dst.addfile(m, src.extractfile(m))
            dst.addfile(member, io.BytesIO(b"x" * member.size))
        return out

    escape = tarfile.TarInfo("../../outside")
    escape.size = 1
    link = tarfile.TarInfo("blobs/sha256/" + "a" * 64)
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    cases = [
        (tampered("layer", flip_layer), "has another digest: the bundle is damaged"),
        (tampered("state", other_site), "not signed by this hub's key"),
        (hostile("escape", escape), "unexpected entry '../../outside'"),
        (hostile("link", link), "is not a regular file (links are refused)"),
    ]
    for path, why in cases:
        out = _run("agent", "import", str(path), "--data", str(data), "--site", "site-a")
        assert out.returncode == 1 and why in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = _run("agent", "import", str(bundle), "--data", str(data), "--site", "site-b")
    assert out.returncode == 1 and "the bundle is for site 'site-a'" in out.stderr, out.stderr
    other = tmp_path / "other-keys"
    _ok("keygen", "--out", str(other))
    out = _run(
        "agent",
        "import",
        str(bundle),
        "--data",
        str(data),
        "--site",
        "site-a",
        "--verify-key",
        str(other / "cosign.pub"),
    )
    assert out.returncode == 1 and "not signed by a trusted key" in out.stderr, out.stderr
    assert not (data / "import" / "bundle.json").exists()
