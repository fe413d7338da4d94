"""One site's desired state: placements select sites by labels (matchLabels and every operator),
images are pinned by digest, the smoke test path defaults by protocol, and apps awaiting their
first build are left out."""

from __future__ import annotations

import pytest

from aiedge.gitops import GitopsRepo, Snapshot, UnknownSite, desired_for_site, load_repo
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
