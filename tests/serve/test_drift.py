"""Drift at the site: the profile format and its PSI (pure), and a real `aiedge serve` that scores
a sample of live requests against the profile in the model folder (or one it learns), exported
as `aiedge_model_drift_score` per feature, with nothing added to the request's answer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import numpy as np
import pytest

from aiedge.demo.model import DEMO_MODEL_NAME, predict, write_demo_model
from aiedge.serve.drift.monitor import DriftMonitor, DriftSettings
from aiedge.serve.drift.profile import (
    FORMAT,
    MAX_FEATURES,
    PROFILE_FILE,
    ProfileInvalid,
    build_profile,
    parse_profile,
)
from tests.serve.helpers import Server
from tests.support import wait_until

HOUSING_ROWS = Path("seed-gitops/acm/odh-edge/apps/tensorflow-housing-app/files/test-data.json")
DRIFT_ENV = {"AIEDGE_SERVE_DRIFT_SAMPLE": "1", "AIEDGE_SERVE_DRIFT_MIN_ROWS": "40"}


def housing_rows(shared: Path) -> np.ndarray:
    return np.asarray(json.loads((shared / HOUSING_ROWS).read_text())["data"], dtype=np.float32)


def scores(url: str) -> dict[tuple[str, str], float]:
    """``(kind, feature) -> score`` from a server's /metrics."""
    out: dict[tuple[str, str], float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("aiedge_model_drift_score{"):
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1 : line.index("}")].split(","))
            out[(labels["kind"].strip('"'), labels["feature"].strip('"'))] = float(line.rsplit(" ", 1)[1])
    return out


def test_profile_round_trips_and_scores_shift(shared: Path) -> None:
    rows = housing_rows(shared)
    profile = build_profile({"x": rows}, {"predictions": predict(rows)})
    assert parse_profile(profile.dumps()) == profile
    doc = json.loads(profile.dumps())
    assert doc["format"] == FORMAT and doc["rows"] == 20
    assert [f["feature"] for f in doc["features"]] == [*(f"x[{i}]" for i in range(8)), "predictions"]
    # 20 rows: 4 bins split at the quartiles, 5 rows each (plus the missing bin)
    assert doc["features"][0]["counts"] == [5, 5, 5, 5] and len(doc["features"][0]["edges"]) == 3

    monitor = DriftMonitor(DriftSettings(sample=1.0, min_rows=50, queue=10_000), {"m": profile})
    rng = np.random.default_rng(7)
    for _ in range(400):
        row = rows[rng.integers(0, 20, size=1)].copy()
        row[:, 3] = np.nan if rng.random() < 0.5 else row[:, 3]  # half of x[3] goes missing
        monitor.offer("m", "1", {"x": row}, {"predictions": predict(np.nan_to_num(row))})
    monitor.fold_pending()
    got = {
        s.labels["feature"]: s.value
        for fam in monitor.collect()
        if fam.name == "aiedge_model_drift_score"
        for s in fam.samples
    }
    assert got["x[3]"] > 1.0, got  # PSI with a missing share of 0.5 where the reference has none
    assert all(v < 0.1 for k, v in got.items() if k not in ("x[3]", "predictions")), got  # x[3] moves it


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"format": "other"}, "format: expected"),
        ({"features": []}, "features: expected a list"),
        ({"features": [{"kind": "input"}] * (MAX_FEATURES + 1)}, "features: expected a list"),
        ({"rows": -1}, "rows: expected a positive integer"),
        ({"f0": {"edges": [2.0, 1.0], "counts": [1, 1, 1]}}, "features[0].edges: expected ascending"),
        ({"f0": {"counts": [1]}}, "features[0].counts: expected 4 counts"),
        ({"f0": {"counts": [-1, 1, 1, 1]}}, "counts: expected non-negative integers"),
        ({"f0": {"name": "x\n"}}, "features[0].name: expected a printable name"),
        ({"f0": {"kind": "sideways"}}, "features[0].kind: expected input or output"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field(shared: Path, change: dict, error: str) -> None:
    rows = housing_rows(shared)
    doc = json.loads(build_profile({"x": rows}, {}).dumps())
    for key, value in change.items():
        if key == "f0":
            doc["features"][0].update(value)
        else:
            doc[key] = value
    with pytest.raises(ProfileInvalid, match=error.replace("[", r"\[").replace("]", r"\]")):
        parse_profile(json.dumps(doc).encode(), "p.json")
    with pytest.raises(ProfileInvalid, match="is more than a profile may be"):
        parse_profile(b" " * (2 << 20))
    nan = json.dumps(json.loads(build_profile({"x": rows}, {}).dumps())).replace("-120.", "NaN", 1)
    with pytest.raises(ProfileInvalid, match="malformed JSON"):
        parse_profile(nan.encode())


def _gauge(url: str, name: str) -> float:
    """The largest value of series ``name`` at a server's /metrics (0 when absent)."""
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    ]
    return max(found, default=0.0)


def _send(url: str, rows: np.ndarray) -> None:
    with httpx.Client(timeout=10) as client:
        for row in rows:
            r = client.post(
                f"{url}/v1/models/{DEMO_MODEL_NAME}/versions/1:predict", json={"instances": [row.tolist()]}
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"predictions": [pytest.approx(float(predict(row[None])[0]), rel=1e-6)]}


def test_serve_scores_live_inputs_against_the_profile_in_the_model_folder(
    shared: Path, tmp_path: Path, serve: Server
) -> None:
    rows = housing_rows(shared)
    model = write_demo_model(tmp_path / "model")
    (model / PROFILE_FILE).write_bytes(build_profile({"x": rows}, {"predictions": predict(rows)}).dumps())
    url = serve(model, DEMO_MODEL_NAME, env=DRIFT_ENV)
    rng = np.random.default_rng(3)
    same = rows[rng.integers(0, 20, size=120)]
    _send(url, same)
    wait_until(lambda: len(scores(url)) == 9, timeout=30, what="drift scores of 8 inputs and 1 output")
    calm = scores(url)
    assert max(calm.values()) < 0.15, calm

    shifted = same.copy()
    shifted[:, 2] += 60.0  # housing_median_age, far above every reference row
    shifted[:, 6] *= 10.0  # median_income
    _send(url, np.concatenate([shifted] * 10))  # fills the whole window (1000 rows)
    wait_until(lambda: scores(url)[("input", "x[2]")] > 1.0, timeout=30, what="x[2] to drift")
    moved = scores(url)
    # (the demo model's answer is dominated by x[3] and x[7]: its output hardly moves)
    assert moved[("input", "x[6]")] > 1.0, moved
    assert all(v < 0.2 for (kind, f), v in moved.items() if kind == "input" and f not in ("x[2]", "x[6]"))
    text = httpx.get(f"{url}/metrics", timeout=10).text
    assert (
        f'aiedge_model_drift_reference_rows{{model="{DEMO_MODEL_NAME}",source="reference",version="1"}} 20.0'
        in text
    )


def test_without_a_profile_serve_learns_one_from_live_requests(
    shared: Path, tmp_path: Path, serve: Server
) -> None:
    rows = housing_rows(shared)
    model = write_demo_model(tmp_path / "model")
    # PSI between two samples of one distribution is about (bins - 1) * (1/n + 1/m): with 60 learned
    # and 80 watched rows that is 0.26 on average and often past 0.5; 200 and 200 give about 0.09
    url = serve(model, DEMO_MODEL_NAME, env={**DRIFT_ENV, "AIEDGE_SERVE_DRIFT_LEARN_ROWS": "200"})
    rng = np.random.default_rng(5)
    _send(url, rows[rng.integers(0, 20, size=200)])  # learned from these
    _send(url, rows[rng.integers(0, 20, size=200)])  # then watched

    seen = [0.0]

    def scored() -> bool:
        # scores of a window of 200 rows, not of its first 40 (the background fold may lag); the
        # tap drops rows when its queue is full (a loaded machine): feed it when the window stalls
        in_window = _gauge(url, "aiedge_model_drift_window_rows")
        if in_window >= 200 and len(scores(url)) == 9:
            return True
        if in_window == seen[0]:
            _send(url, rows[rng.integers(0, 20, size=20)])
        seen[0] = in_window
        return False

    wait_until(scored, timeout=120, what="scores against the learned profile")
    text = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'source="learned"' in text
    assert all(math.isfinite(v) and v < 0.5 for v in scores(url).values()), scores(url)


def test_drift_off_exports_nothing(tmp_path: Path, serve: Server) -> None:
    model = write_demo_model(tmp_path / "model")
    url = serve(model, DEMO_MODEL_NAME, env={"AIEDGE_SERVE_DRIFT": "false"})
    _send(url, np.ones((5, 8), dtype=np.float32))
    assert "aiedge_model_drift" not in httpx.get(f"{url}/metrics", timeout=10).text
