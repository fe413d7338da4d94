"""Site secrets in the GitOps repo: the SiteSecret kind and the Site's ageRecipient validate with
file:line:col problems (plaintext, bad names, unknown site or app, a stale recipient, two for one
pair); each site's desired state holds its own ciphertexts and never another site's; the JSON
Schema includes the kind; `aiedge secret encrypt` writes ciphertext only, from the Site's
recipient, and updates the file in place."""

from __future__ import annotations

import base64
import subprocess
import textwrap
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from aiedge.gitops import RepoInvalid, Snapshot, desired_for_site, load_repo, read_directory
from aiedge.gitops.age import ARMOR_BEGIN, ARMOR_END, encrypt
from aiedge.gitops.jsonschema import kinds_schema
from tests.gitops.helpers import EXAMPLES
from tests.support import aiedge_cmd

DIGEST = "sha256:" + "cd" * 32
KEY_A = x25519.Identity.generate()
KEY_B = x25519.Identity.generate()
RECIPIENT_A = str(KEY_A.to_public())
RECIPIENT_B = str(KEY_B.to_public())

BASE = f"""\
apiVersion: aiedge.io/v1alpha1
kind: App
metadata: {{name: m}}
spec:
  model: mod
  image: {{repository: reg.example.com/team/m, digest: "{DIGEST}"}}
---
apiVersion: aiedge.io/v1alpha1
kind: Placement
metadata: {{name: p}}
spec:
  siteSelector: {{matchLabels: {{tier: edge}}}}
  apps: [m]
---
apiVersion: aiedge.io/v1alpha1
kind: Site
metadata: {{name: a, labels: {{tier: edge}}}}
spec:
  ageRecipient: {RECIPIENT_A}
---
apiVersion: aiedge.io/v1alpha1
kind: Site
metadata: {{name: b, labels: {{tier: edge}}}}
spec:
  ageRecipient: {RECIPIENT_B}
"""


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.strip().splitlines())


def _secret(site: str, app: str, values: dict[str, str], name: str = "", recipient: str = "") -> str:
    data = "".join(f"    {k}: |\n{_indent(v, 6)}" for k, v in values.items())
    extra = f"  recipient: {recipient}\n" if recipient else ""
    return (
        "apiVersion: aiedge.io/v1alpha1\nkind: SiteSecret\n"
        f"metadata:\n  name: {name or f'{site}-{app}'}\n"
        f"spec:\n  site: {site}\n  app: {app}\n{extra}  data:\n{data}"
    )


def _load(files: dict[str, str]) -> object:
    return load_repo(Snapshot("main@sha1:" + "1" * 40, {k: v.encode() for k, v in files.items()}))


def _problems(files: dict[str, str]) -> list[str]:
    with pytest.raises(RepoInvalid) as e:
        _load(files)
    return [str(p) for p in e.value.problems]


def test_each_site_gets_its_own_ciphertexts_only() -> None:
    ct_a = encrypt(b"token-for-a", RECIPIENT_A)
    ct_b = encrypt(b"token-for-b", RECIPIENT_B)
    repo = load_repo(
        Snapshot(
            "main@sha1:" + "1" * 40,
            {
                "base.yaml": BASE.encode(),
                "secrets/a.yaml": _secret("a", "m", {"TOKEN": ct_a}, recipient=RECIPIENT_A).encode(),
                "secrets/b.yaml": _secret("b", "m", {"TOKEN": ct_b}).encode(),
            },
        )
    )
    assert repo.summary() == "1 app, 2 sites, 1 placement, 2 site secrets"
    (app_a,) = desired_for_site(repo, "a").apps
    (app_b,) = desired_for_site(repo, "b").apps
    assert app_a.secrets == {"TOKEN": ct_a} and app_b.secrets == {"TOKEN": ct_b}
    wire_b = desired_for_site(repo, "b").model_dump_json()
    assert ct_a not in wire_b and "token-for" not in wire_b
    # the hub holds no identity; the site's own key opens its own value only
    assert pyrage.decrypt(app_a.secrets["TOKEN"].encode(), [KEY_A]) == b"token-for-a"
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(app_a.secrets["TOKEN"].encode(), [KEY_B])


def test_an_app_without_secrets_keeps_its_wire_form_and_digest() -> None:
    repo = load_repo(Snapshot("r", {"base.yaml": BASE.encode()}))
    state = desired_for_site(repo, "a")
    assert "secrets" not in state.model_dump_json()
    assert state.apps[0].secrets == {}


def test_plaintext_and_bad_names_point_at_the_value() -> None:
    ct = encrypt(b"x", RECIPIENT_A)
    text = _secret("a", "m", {"GOOD": ct, "PLAIN": "hunter2", "1BAD": ct})
    problems = _problems({"base.yaml": BASE, "s.yaml": text})
    lines = text.splitlines()
    plain, bad = lines.index("    PLAIN: |") + 1, lines.index("    1BAD: |") + 1
    assert problems == [
        f"s.yaml:{plain}:12: SiteSecret: spec.data.PLAIN: Value error, not an ASCII-armored age ciphertext "
        "(-----BEGIN AGE ENCRYPTED FILE-----); encrypt values with `aiedge secret encrypt`, never "
        "commit plaintext",
        f"s.yaml:{bad}:5: SiteSecret: spec.data.1BAD: the name: String should match pattern "
        "'^[A-Za-z_][A-Za-z0-9_]*$'",
    ]
    assert "hunter2" not in "\n".join(problems)


def test_damaged_or_passphrase_ciphertexts_are_refused() -> None:
    good = encrypt(b"x", RECIPIENT_A)
    lines = good.splitlines()
    damaged = "\n".join([lines[0], "!!!not base64!!!", *lines[2:]])
    body = base64.b64encode(pyrage.passphrase.encrypt(b"x", "pw")).decode()
    scrypt = "\n".join([ARMOR_BEGIN, *textwrap.wrap(body, 64), ARMOR_END])  # a site has no passphrase
    problems = _problems({"base.yaml": BASE, "s.yaml": _secret("a", "m", {"D": damaged, "S": scrypt})})
    assert "spec.data.D: Value error, armored age ciphertext whose body is not valid base64" in problems[0]
    assert "spec.data.S: Value error, not encrypted to an X25519 recipient" in problems[1]


def test_references_recipients_and_duplicates() -> None:
    ct = encrypt(b"x", RECIPIENT_A)
    files = {
        "base.yaml": BASE,
        "s1.yaml": _secret("a", "m", {"K": ct}, recipient=RECIPIENT_B),
        "s2.yaml": _secret("a", "m", {"K": ct}, name="again"),
        "s3.yaml": _secret("zz", "nope", {"K": ct}),
    }
    problems = _problems(files)
    assert problems == [
        f"s1.yaml:8:14: SiteSecret: spec.recipient: encrypted to {RECIPIENT_B}, but Site 'a' has "
        f"ageRecipient {RECIPIENT_A}; encrypt the values again with `aiedge secret encrypt`",
        "s2.yaml:4:9: SiteSecret: site 'a' and app 'm' already have a SiteSecret at s1.yaml:4:9 "
        "(one per site and app)",
        "s3.yaml:6:9: SiteSecret: spec.site: no Site named 'zz'",
        "s3.yaml:7:8: SiteSecret: spec.app: no App named 'nope'",
    ]


def test_a_site_needs_a_valid_recipient() -> None:
    bad = BASE.replace(RECIPIENT_B, "age1notakey")
    assert _problems({"base.yaml": bad}) == [
        "base.yaml:25:17: Site: spec.ageRecipient: Value error, not an age X25519 recipient: "
        "invalid Bech32 encoding"
    ]
    no_key = BASE.replace(f"spec:\n  ageRecipient: {RECIPIENT_A}\n", "")
    ct = encrypt(b"x", RECIPIENT_A)
    (problem,) = _problems({"base.yaml": no_key, "s.yaml": _secret("a", "m", {"K": ct})})
    assert problem.startswith("s.yaml:6:9: SiteSecret: spec.site: Site 'a' has no spec.ageRecipient")


def test_json_schema_includes_site_secret() -> None:
    schema = kinds_schema()
    defs = schema["$defs"]
    assert "SiteSecret" in defs and "SiteSecretSpec" in defs
    assert defs["SiteSpec"]["properties"]["ageRecipient"]
    assert {"site", "app", "data"} <= set(defs["SiteSecretSpec"]["required"])


def _encrypt_cli(
    repo: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        aiedge_cmd("secret", "encrypt", "--gitops", str(repo), *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_secret_encrypt_writes_ciphertext_to_the_sites_recipient(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    site_file = repo / "sites" / "site-a.yaml"
    site_file.write_text(site_file.read_text() + f"spec:\n  ageRecipient: {RECIPIENT_A}\n")

    r = _encrypt_cli(
        repo,
        "--site",
        "site-a",
        "--app",
        "housing",
        "API_KEY=hunter2",
        "FROM_ENV",
        env={"FROM_ENV": "from-the-env"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("wrote secrets/site-a/housing.yaml: API_KEY, FROM_ENV encrypted to age1")
    written = repo / "secrets" / "site-a" / "housing.yaml"
    text = written.read_text()
    assert "hunter2" not in text and "from-the-env" not in text and "hunter2" not in r.stdout + r.stderr
    loaded = load_repo(read_directory(repo))
    data = loaded.secret_data("site-a", "housing")
    assert pyrage.decrypt(data["API_KEY"].encode(), [KEY_A]) == b"hunter2"
    assert pyrage.decrypt(data["FROM_ENV"].encode(), [KEY_A]) == b"from-the-env"

    # an update keeps the other names and a comment, replaces the one given
    written.write_text("# rotated quarterly\n" + text)
    r = _encrypt_cli(repo, "--site", "site-a", "--app", "housing", "API_KEY=second")
    assert r.returncode == 0, r.stderr
    assert written.read_text().startswith("# rotated quarterly\n")
    data = load_repo(read_directory(repo)).secret_data("site-a", "housing")
    assert pyrage.decrypt(data["API_KEY"].encode(), [KEY_A]) == b"second"
    assert pyrage.decrypt(data["FROM_ENV"].encode(), [KEY_A]) == b"from-the-env"

    # the site's key changed: values encrypted to the old one must be given again or dropped
    site_file.write_text(site_file.read_text().replace(RECIPIENT_A, RECIPIENT_B))
    r = _encrypt_cli(repo, "--site", "site-a", "--app", "housing", "API_KEY=third")
    assert r.returncode == 1
    assert "FROM_ENV was encrypted to" in r.stderr and "--replace" in r.stderr
    r = _encrypt_cli(repo, "--site", "site-a", "--app", "housing", "--replace", "API_KEY=third")
    assert r.returncode == 0, r.stderr
    data = load_repo(read_directory(repo)).secret_data("site-a", "housing")
    assert list(data) == ["API_KEY"]
    assert pyrage.decrypt(data["API_KEY"].encode(), [KEY_B]) == b"third"

    # a site without a recipient: one clear line
    r = _encrypt_cli(repo, "--site", "site-b", "--app", "housing", "K=v")
    assert r.returncode == 1
    assert r.stderr.startswith("error: Site 'site-b' (sites/site-b.yaml) has no spec.ageRecipient")
