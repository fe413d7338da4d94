"""A Site's link budget at a real hub: the digest the hub stores for a site's desired state (what
rollouts compare a site's report with) is the one the site computes from what it received, link
included, and a commit that changes only the budget gives the site a new desired state."""

from __future__ import annotations

from pathlib import Path

import httpx

from aiedge.contracts import DesiredState
from aiedge.gitops import set_app_image
from aiedge.hub.store import Store, open_engine
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub
from tests.support import wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
D1 = "sha256:" + "1" * 64


def _budget(repo: Path, site: str, budget: str) -> None:
    path = repo / "sites" / f"{site}.yaml"
    text = path.read_text().split("spec:\n")[0].rstrip("\n")
    path.write_text(f"{text}\nspec:\n  link: {{budget: {budget}}}\n")
    git(repo, "commit", "-qam", f"{site}: link budget {budget}")


def _desired(url: str, site: str) -> tuple[DesiredState, str]:
    r = httpx.get(f"{url}/api/v1/sites/{site}/desired", timeout=30)
    assert r.status_code == 200, r.text
    return DesiredState.model_validate_json(r.content), r.headers["X-Aiedge-Digest"]


def _stored(data: Path) -> dict[str, str]:
    store = Store(open_engine(f"sqlite:///{data / 'hub.db'}"))
    try:
        with store.transaction() as tx:
            return tx.desired_digests()
    finally:
        store.close()


def test_the_stored_digest_is_the_sites_own_with_its_link(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    _budget(repo, "site-a", "20MB/day")
    hub = start_hub(repo, "--insecure-no-auth")
    state, header = _desired(hub.url, "site-a")
    assert state.link is not None and state.link.budget == 20_000_000 and state.apps
    plain, plain_header = _desired(hub.url, "site-b")  # no link: the digest it always had
    assert plain.link is None and plain.digest == plain_header
    stored = _stored(hub.data)
    assert stored["site-a"] == state.digest == header, (stored, state.digest, header)
    assert stored["site-b"] == plain.digest

    _budget(repo, "site-a", "5MB/day")  # only the budget changes: a new desired state for site-a
    wait_until(
        lambda: _desired(hub.url, "site-a")[0].link == state.link.model_copy(update={"budget": 5_000_000}),
        timeout=60,
        what="site-a's new budget",
    )
    again, header = _desired(hub.url, "site-a")
    assert again.digest == header != state.digest
    assert _stored(hub.data)["site-a"] == again.digest
    assert _desired(hub.url, "site-b")[1] == plain_header
