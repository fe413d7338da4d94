"""scikit-learn models the serve and build tests write themselves: an MLflow model directory as
`mlflow.sklearn.save_model` writes it, and a pickle that runs a command when it is loaded (what
any pickle can do; the reason pickles need an opt-in)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

BIKE_COLUMNS = [
    "day",
    "mnth",
    "year",
    "season",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "hum",
    "windspeed",
]


def write_mlflow_sklearn(dest: Path) -> tuple[Any, np.ndarray[Any, Any]]:
    """``dest/MLmodel`` + ``dest/model.pkl`` (a GradientBoostingRegressor over the bike-rental
    columns); returns the estimator and three rows to ask it about."""
    import joblib
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(3)
    x = rng.random((300, len(BIKE_COLUMNS))) * 10
    y = x @ rng.random(len(BIKE_COLUMNS)) * 20
    est = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x, y)
    dest.mkdir(parents=True)
    joblib.dump(est, dest / "model.pkl")
    signature = json.dumps([{"type": "double", "name": c, "required": True} for c in BIKE_COLUMNS])
    (dest / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
        f'signature:\n  inputs: \'{signature}\'\n  outputs: \'[{{"type": "tensor", "tensor-spec": '
        '{"dtype": "float64", "shape": [-1]}}]\'\n'
    )
    return est, x[:3]


class _RunsACommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def write_pickle_that_runs(path: Path, marker: Path) -> None:
    """A ``.joblib`` file that, when unpickled, creates ``marker`` through ``os.system``."""
    import joblib

    joblib.dump(_RunsACommand(f"touch {marker}"), path)
