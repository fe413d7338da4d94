"""`aiedge validate DIR` as a real process: a one-line summary and exit 0 for the examples;
one file:line:col line per error on stderr and exit 1 otherwise; unknown versions of ours and
trees without our documents refused; ignored files listed; warnings for selectors that match
nothing (errors with --strict); --json; --registry against a real registry."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

from aiedge.oci.image import MANIFEST_MEDIA_TYPE
from aiedge.oci.manifest import build_config, build_manifest, config_descriptor
from aiedge.oci.registry import RegistryClient
from tests.gitops.helpers import EXAMPLES
from tests.support import aiedge_cmd, free_port


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("validate", "-g", *args), capture_output=True, text=True, timeout=60, check=False
    )


def test_examples_validate() -> None:
    r = _validate(str(EXAMPLES))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok: 1 app, 3 sites, 1 placement\n"
    assert "housing is awaiting its first build" in r.stderr


def test_errors_are_file_line_col(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES, root)
    app = root / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("port: 8080", "port: eighty"))
    (root / "sites" / "site-a.yaml").write_text(
        "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: [\n"
    )
    r = _validate(str(root))
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("apps/housing.yaml:11:9: App: spec.port: Input should be a valid integer")
    assert lines[1].startswith("sites/site-a.yaml:4:1: invalid YAML:")
    assert len(lines) == 2


def test_missing_directory_is_one_line() -> None:
    r = _validate("/nonexistent/gitops")
    assert r.returncode == 1
    assert r.stderr == "error: /nonexistent/gitops is not a directory\n"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES, root)
    return root


def test_a_misspelt_api_version_is_an_error_not_a_vanished_site(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    site = root / "sites" / "site-b.yaml"
    site.write_text(site.read_text().replace("aiedge.io/v1alpha1", "aiedge.io/v1alpa1"))
    r = _validate(str(root))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines()[0] == (
        "sites/site-b.yaml:3:13: apiVersion: unknown version 'aiedge.io/v1alpa1', "
        "expected 'aiedge.io/v1alpha1'"
    )


def test_a_tree_without_aiedge_documents_fails_and_lists_nothing_as_ok(shared: Path) -> None:
    acm = shared / "seed-gitops" / "acm"
    r = _validate(str(acm))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == (
        f"{acm}: no aiedge.io/v1alpha1 documents (App, Site, Placement, SiteSecret) "
        "in the 34 YAML files read\n"
    )


def test_ignored_files_are_listed(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    )
    (root / "sites" / "link.yaml").symlink_to(root / "sites" / "site-a.yaml")
    r = _validate(str(root))
    assert r.returncode == 0, r.stderr
    assert "note: ignored kustomization.yaml (no aiedge.io documents)\n" in r.stderr
    assert "note: ignored sites/link.yaml (a symbolic link (not followed))\n" in r.stderr


def test_a_selector_typo_warns_and_strict_fails(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    placement = root / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text().replace("tier: near-edge", "tier: near-egde"))
    r = _validate(str(root))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok: 1 app, 3 sites, 1 placement\n"
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: apps/housing.yaml:6:9: App 'housing' is placed on no Site")
    assert "Placement 'near-edge': spec.siteSelector matches no Site, so housing run nowhere" in warnings[1]
    assert "no Site has tier=near-egde; Sites have tier: near-edge" in warnings[1]
    strict = _validate(str(root), "--strict")
    assert strict.returncode == 1 and strict.stdout == ""
    assert [line for line in strict.stderr.splitlines() if line.startswith("error: ")] == [
        w.replace("warning: ", "error: ", 1) for w in warnings
    ]


def test_json_says_everything_on_stdout(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    r = _validate(str(root), "--json")
    assert r.returncode == 0 and r.stderr == ""
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["errors"] == [] and doc["warnings"] == []
    assert doc["counts"] == {"apps": 1, "sites": 3, "placements": 1, "site_secrets": 0}
    assert doc["awaiting_build"] == ["housing"] and doc["revision"].startswith("sha256:")
    (root / "sites" / "site-a.yaml").write_text(
        "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: [\n"
    )
    bad = json.loads(_validate(str(root), "--json").stdout)
    assert bad["ok"] is False and bad["counts"] is None
    assert bad["errors"][0]["file"] == "sites/site-a.yaml" and bad["errors"][0]["line"] == 4


def _push_image(registry: str, repository: str) -> str:
    """A minimal image (config, no layers) pushed to the real registry; its manifest digest."""

    async def push() -> str:
        async with RegistryClient(registry) as client:
            config = build_config(labels={}, diff_ids=[], created=0)
            await client.push_blob_bytes(repository, config)
            manifest = build_manifest(config_descriptor(config), [], {})
            return await client.push_manifest(repository, manifest, MANIFEST_MEDIA_TYPE)

    return asyncio.run(push())


def test_registry_finds_the_digest_that_is_not_there(tmp_path: Path, registry: str) -> None:
    root = _copy(tmp_path)
    digest = _push_image(registry, "aiedge/housing")
    app = root / "apps" / "housing.yaml"
    text = app.read_text().replace("127.0.0.1:5000/aiedge/tensorflow-housing", f"{registry}/aiedge/housing")
    app.write_text(text.replace("    repository:", f"    digest: {digest}\n    repository:"))
    ok = _validate(str(root), "--registry")
    assert ok.returncode == 0, ok.stderr
    missing = "sha256:" + "0" * 64
    app.write_text(app.read_text().replace(digest, missing))
    assert _validate(str(root)).returncode == 0  # without --registry nobody asks
    r = _validate(str(root), "--registry")
    assert r.returncode == 1 and r.stdout == ""
    line, col = _digest_position(app)
    assert r.stderr.splitlines()[0] == (
        f"apps/housing.yaml:{line}:{col}: App 'housing': {registry}/aiedge/housing@{missing} "
        "is not in the registry (HTTP 404)"
    )
    down = app.read_text().replace(registry, f"127.0.0.1:{free_port()}")
    app.write_text(down)
    r = _validate(str(root), "--registry")
    assert r.returncode == 1 and "cannot check 127.0.0.1:" in r.stderr and "Traceback" not in r.stderr


def _digest_position(app: Path) -> tuple[int, int]:
    for i, text in enumerate(app.read_text().splitlines(), start=1):
        if "digest:" in text:
            return i, text.index("sha256:") + 1
    raise AssertionError("no digest line")
