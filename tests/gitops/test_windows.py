"""Maintenance windows and prefetch in the GitOps repo: a Placement's windows (and prefetch) reach
the desired state of the apps it places, in the Site's time zone, replacing the Site's own; a
bad cron expression, duration or time zone is refused at its file:line:col; apps without windows
keep the desired state (and digest) they had."""

from __future__ import annotations

import pytest

from aiedge.contracts import DesiredState
from aiedge.gitops import RepoInvalid, Snapshot, desired_for_site, load_repo

DIGEST = "sha256:" + "ab" * 32
HEAD = "apiVersion: aiedge.io/v1alpha1\n"


def _text(placement_extra: str = "", site_extra: str = "") -> str:
    return (
        f"{HEAD}kind: App\nmetadata: {{name: m}}\nspec:\n  model: mod\n  image:\n"
        f"    repository: reg.example.com/team/m\n    digest: {DIGEST}\n"
        f"---\n{HEAD}kind: App\nmetadata: {{name: other}}\nspec:\n  model: o\n  image:\n"
        f"    repository: reg.example.com/team/o\n    digest: {DIGEST}\n"
        f"---\n{HEAD}kind: Placement\nmetadata: {{name: p}}\nspec:\n  siteSelector: {{}}\n  apps: [m]\n"
        f"{placement_extra}"
        f"---\n{HEAD}kind: Placement\nmetadata: {{name: q}}\nspec:\n  siteSelector: {{}}\n  apps: [other]\n"
        f"---\n{HEAD}kind: Site\nmetadata: {{name: a}}\n{site_extra}"
    )


def _state(placement_extra: str = "", site_extra: str = "") -> DesiredState:
    repo = load_repo(
        Snapshot("main@sha1:" + "0" * 40, {"all.yaml": _text(placement_extra, site_extra).encode()})
    )
    return desired_for_site(repo, "a")


def _problems(placement_extra: str = "", site_extra: str = "") -> list[str]:
    with pytest.raises(RepoInvalid) as e:
        _state(placement_extra, site_extra)
    return [str(p) for p in e.value.problems]


def test_placement_windows_and_prefetch_reach_its_apps_in_the_sites_zone() -> None:
    state = _state(
        "  prefetch: true\n  windows:\n  - {start: '0 2 * * *', duration: 2h}\n"
        "  - {start: '30 13 * * 6', duration: 900}\n",
        "spec:\n  timeZone: Asia/Kathmandu\n  windows: [{start: '0 4 * * *', duration: 1h}]\n",
    )
    apps = {a.name: a for a in state.apps}
    m, other = apps["m"], apps["other"]
    assert [(w.start, w.duration) for w in m.windows] == [("0 2 * * *", 7200.0), ("30 13 * * 6", 900.0)]
    assert m.time_zone == "Asia/Kathmandu" and m.prefetch is True
    # the app whose placement says nothing gets the Site's windows, and no prefetch
    assert [(w.start, w.duration) for w in other.windows] == [("0 4 * * *", 3600.0)]
    assert other.prefetch is False


def test_no_windows_leaves_the_wire_form_and_digest_as_they_were() -> None:
    plain = _state()
    for app in plain.apps:
        dumped = app.model_dump(mode="json")
        assert not {"windows", "time_zone", "prefetch"} & dumped.keys()
    assert plain.digest != _state(site_extra="spec: {windows: [{start: '0 2 * * *', duration: 1h}]}\n").digest


@pytest.mark.parametrize(
    ("placement_extra", "site_extra", "problem"),
    [
        (
            "  windows: [{start: '0 2 * *', duration: 1h}]\n",
            "",
            "all.yaml:25:21: Placement: spec.windows.0.start: Value error, want a 5-field cron expression",
        ),
        (
            "  windows: [{start: '0 25 * * *', duration: 1h}]\n",
            "",
            "all.yaml:25:21: Placement: spec.windows.0.start: Value error, '0 25 * * *' is not a valid cron",
        ),
        (
            "  windows: [{start: '0 2 * * *', duration: 8d}]\n",
            "",
            "all.yaml:25:44: Placement: spec.windows.0.duration: Input should be less than or equal to",
        ),
        (
            "",
            "spec: {timeZone: Mars/Olympus}\n",
            "all.yaml:36:18: Site: spec.timeZone: Value error, 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            "  prefetch: sometimes\n",
            "",
            "all.yaml:25:13: Placement: spec.prefetch: Input should be a valid boolean",
        ),
    ],
)
def test_bad_windows_are_refused_where_they_are_written(
    placement_extra: str, site_extra: str, problem: str
) -> None:
    (found,) = _problems(placement_extra, site_extra)
    assert found.startswith(problem), found
