"""The model-health fields of an App (``spec.drift``, ``spec.capture``, ``spec.rollout.shadow``):
what reaches the sites' desired state, that an App without them keeps its desired state's digest,
and that a wrong value is one ``file:line:col`` problem naming the field."""

from __future__ import annotations

import pytest

from aiedge.gitops import RepoInvalid, Snapshot, desired_for_site, load_repo

DIGEST = "sha256:" + "cd" * 32
BASE = (
    "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata: {name: m}\nspec:\n  model: mod\n"
    f"  image: {{repository: reg.example.com/team/m, digest: {DIGEST}}}\n"
)
REST = (
    "---\napiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p}\nspec:\n"
    "  siteSelector: {matchLabels: {tier: edge}}\n  apps: [m]\n"
    "---\napiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: a, labels: {tier: edge}}\n"
)


def _load(extra: str) -> Snapshot:
    return Snapshot("main@sha1:" + "0" * 40, {"all.yaml": (BASE + extra + REST).encode()})


def test_the_health_fields_reach_the_desired_state_and_leave_others_unchanged() -> None:
    plain = desired_for_site(load_repo(_load("")), "a")
    doc = plain.apps[0].model_dump(mode="json")
    assert not {"drift", "capture", "shadow"} & set(doc)  # an App without them: digest as before

    extra = (
        "  drift: {threshold: 0.3, outputThreshold: 0.5, sample: 0.5, window: 400}\n"
        "  capture: {sample: 0.01, maxBytesPerDay: 50MiB, drop: [ssn]}\n"
        "  rollout:\n    shadow: {share: 0.5, minSamples: 50, argmax: true, maxLatencyRatio: 3}\n"
    )
    state = desired_for_site(load_repo(_load(extra)), "a")
    (app,) = state.apps
    assert state.digest != plain.digest
    assert app.drift is not None and app.drift.sample == 0.5 and app.drift.window == 400
    assert app.capture is not None and app.capture.max_bytes_per_day == 50 * 1024 * 1024
    assert app.capture.drop == ["ssn"]
    assert app.shadow is not None and app.shadow.argmax and app.shadow.min_samples == 50
    assert app.shadow.max_latency_ratio == 3 and app.shadow.share == 0.5


@pytest.mark.parametrize(
    ("extra", "where", "words"),
    [
        ("  rollout:\n    shadow: {share: 1.5}\n", "all.yaml:", "share"),
        ("  rollout:\n    shadow: {argmax: true, tolerance: {rtol: 0.1}}\n", "all.yaml:", "not both"),
        ("  rollout:\n    shadow: {minSamples: 0}\n", "all.yaml:", "minSamples"),
        ("  drift: {threshold: -1}\n", "all.yaml:", "threshold"),
        ("  capture: {sample: 0.1, maxBytesPerDay: lots}\n", "all.yaml:", "maxBytesPerDay"),
    ],
)
def test_a_wrong_health_field_is_one_problem_at_its_line(extra: str, where: str, words: str) -> None:
    with pytest.raises(RepoInvalid) as e:
        load_repo(_load(extra))
    problems = [str(p) for p in e.value.problems]
    assert len(problems) == 1 and problems[0].startswith(where) and words in problems[0], problems
    line = int(problems[0].split(":")[1])
    assert 7 <= line <= 9, problems  # the App's health lines, not the document's start
