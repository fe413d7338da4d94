"""One site's desired state: placements select sites by labels (matchLabels and every operator),
images are pinned by digest, the smoke test path defaults by protocol, and apps awaiting their
first build are left out."""

from __future__ import annotations

import pytest
from pyrage import x25519

from aiedge.contracts import SiteFacts
from aiedge.gitops import GitopsRepo, Snapshot, UnknownSite, desired_for_site, load_repo
from aiedge.gitops.age import encrypt
from aiedge.gitops.desired import sharing_key
from aiedge.gitops.schema import SiteSelector
from aiedge.gitops.selector import matches

DIGEST = "sha256:" + "ab" * 32


def _repo(expressions: str, digest: str | None = DIGEST, protocol: str = "tfserving") -> GitopsRepo:
    image = "    repository: reg.example.com/team/m\n" + (f"    digest: {digest}\n" if digest else "")
    text = (
        "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata: {name: m}\nspec:\n  model: mod\n"
        f"  protocol: {protocol}\n  grpcPort: 9000\n  image:\n{image}"
        "  test: {request: {x: 1}, response: {y: 2}, rtol: 0.01}\n"
        "---\napiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p}\nspec:\n"
        f"  siteSelector: {{matchLabels: {{tier: edge}}, matchExpressions: {expressions}}}\n  apps: [m]\n"
    )
    for name, labels in (("a", "{tier: edge, region: eu}"), ("b", "{tier: edge, region: us}"), ("c", "{}")):
        text += (
            f"---\napiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {{name: {name}, labels: {labels}}}\n"
        )
    return load_repo(Snapshot("main@sha1:" + "0" * 40, {"all.yaml": text.encode()}))


def _placed(repo: GitopsRepo) -> set[str]:
    return {s for s in repo.sites if desired_for_site(repo, s).apps}


def test_desired_state_pins_digest_and_defaults_test_path() -> None:
    state = desired_for_site(_repo("[]"), "a")
    assert state.revision == "main@sha1:" + "0" * 40
    (app,) = state.apps
    assert app.image == f"reg.example.com/team/m@{DIGEST}" and app.digest == DIGEST
    assert app.grpc_port == 9000 and app.port == 8080 and app.protocol == "tfserving"
    assert app.smoke_test is not None
    assert app.smoke_test.path == "/v1/models/mod/versions/1:predict"
    assert app.smoke_test.rtol == 0.01 and app.smoke_test.atol == 1e-6
    v2 = desired_for_site(_repo("[]", protocol="v2"), "a").apps[0].smoke_test
    assert v2 is not None and v2.path == "/v2/models/mod/infer"


@pytest.mark.parametrize(
    ("expressions", "sites"),
    [
        ("[]", {"a", "b"}),
        ("[{key: region, operator: In, values: [eu]}]", {"a"}),
        ("[{key: region, operator: NotIn, values: [eu]}]", {"b"}),
        ("[{key: region, operator: Exists}]", {"a", "b"}),
        ("[{key: region, operator: DoesNotExist}]", set()),
    ],
)
def test_selectors(expressions: str, sites: set[str]) -> None:
    assert _placed(_repo(expressions)) == sites


def test_empty_selector_matches_every_site() -> None:
    assert matches(SiteSelector(), {}) and matches(SiteSelector(), {"any": "thing"})


def test_awaiting_first_build_is_not_deployed_and_digest_changes_with_content() -> None:
    assert desired_for_site(_repo("[]", digest=None), "a").apps == []
    one = desired_for_site(_repo("[]"), "a").digest
    two = desired_for_site(_repo("[]", digest="sha256:" + "cd" * 32), "a").digest
    assert one != two and one == desired_for_site(_repo("[]"), "b").digest


def test_unknown_site() -> None:
    with pytest.raises(UnknownSite, match="site 'zz' is not defined"):
        desired_for_site(_repo("[]"), "zz")


def test_sites_with_one_sharing_key_get_the_same_apps() -> None:
    """A publish renders the apps once per sharing key (`aiedge.gitops.desired.sharing_key`), so
    every site with that key must get exactly those apps; a site with anything of its own (an
    override, a SiteSecret) has no key; labels, facts, windows and time zone each tell keys apart."""
    recipient = str(x25519.Identity.generate().to_public())
    ct = encrypt(b"token", recipient)
    docs = [
        f"apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata: {{name: {n}}}\nspec:\n  model: {n}\n"
        f"  image: {{repository: reg.example.com/team/{n}, digest: '{DIGEST}'}}\n"
        for n in ("m", "n")
    ]
    docs.append(  # on every edge site
        "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p1}\nspec:\n"
        "  siteSelector: {matchLabels: {tier: edge}}\n  apps: [m]\n"
    )
    docs.append(  # on edge sites with a GPU label, in a window
        "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p2}\nspec:\n"
        "  siteSelector: {matchLabels: {tier: edge, gpu: 'yes'}}\n  apps: [n]\n"
        "  prefetch: true\n  windows: [{start: '0 2 * * *', duration: 2h}]\n"
    )
    docs.append(  # on arm64 sites, by their facts
        "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p3}\nspec:\n"
        "  siteSelector:\n    facts: {arch: arm64}\n  apps: [n]\n"
    )
    sites = {
        "a": "", "b": "", "c": "", "d": "",
        "e": "spec: {timeZone: Asia/Kathmandu}\n",
        "f": "spec: {windows: [{start: '0 4 * * *', duration: 1h}]}\n",
        "g": "spec:\n  overrides:\n    m: {device: gpu}\n",
        "h": f"spec: {{ageRecipient: {recipient}}}\n",
    }  # fmt: skip
    for name, spec in sites.items():
        labels = "{tier: edge, gpu: 'yes'}" if name in "cde" else "{tier: edge}"
        head = f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {{name: {name}, labels: {labels}}}\n"
        docs.append(head + spec)
    docs.append(
        "apiVersion: aiedge.io/v1alpha1\nkind: SiteSecret\nmetadata: {name: h-m}\n"
        "spec:\n  site: h\n  app: m\n  data:\n    TOKEN: |\n"
        + "".join(f"      {x}\n" for x in ct.splitlines())
    )
    repo = load_repo(Snapshot("main@sha1:" + "2" * 40, {"all.yaml": "---\n".join(docs).encode()}))
    arm = SiteFacts(arch="arm64", cpus=4, memory_bytes=2**33, disk_free_bytes=2**35)
    keys = {(s, f is not None): sharing_key(repo, s, f) for s in repo.sites for f in (None, arm)}
    assert keys[("a", False)] == keys[("b", False)]
    assert keys[("c", False)] == keys[("d", False)]
    distinct = [keys[(s, False)] for s in "acef"] + [keys[("a", True)]]
    assert len(set(distinct)) == len(distinct), "labels, time zone, windows and facts each make a key"
    assert keys[("g", False)] is None and keys[("h", True)] is None  # an override, a secret
    by_key: dict[object, list[tuple[str, SiteFacts | None]]] = {}
    for (site, with_facts), key in keys.items():
        if key is not None:
            by_key.setdefault(key, []).append((site, arm if with_facts else None))
    assert max(len(v) for v in by_key.values()) >= 2
    for group in by_key.values():
        rendered = [desired_for_site(repo, s, f).apps for s, f in group]
        assert all(apps == rendered[0] for apps in rendered), group
    assert [a.name for a in desired_for_site(repo, "a", arm).apps] == ["m", "n"]
    assert desired_for_site(repo, "f").apps != desired_for_site(repo, "a").apps  # the Site's own window
