"""MLflow pyfunc models the serve and build tests write themselves, with the installed mlflow:
``mlflow.pyfunc.save_model`` of a tiny PythonModel whose answer depends on the version of a pinned
extra requirement (``six==1.16.0``; the test environment has another), so an answer of 16 proves
the model ran in its own environment. The model is saved by a child process so that cloudpickle
pickles its class by value, as a user's notebook would."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

EXTRA = "six==1.16.0"
EXTRA_ANSWER = 16.0  # the minor version of six in the model's environment
COLUMNS = ("a", "b")

_SAVE = """
import sys
import mlflow.pyfunc
import pandas as pd
from mlflow.models import infer_signature


class SixModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        import six

        return model_input["a"] * 0 + int(six.__version__.split(".")[1])


signature = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}), pd.Series([1.0]))
mlflow.pyfunc.save_model(
    sys.argv[1], python_model=SixModel(), signature=signature, pip_requirements=sys.argv[2:]
)
"""


def requirements(extra: str = EXTRA) -> list[str]:
    """What the model needs to load, pinned to the versions installed here (so the index has
    them), and ``extra``."""
    pins = [f"mlflow-skinny=={metadata.version('mlflow')}"]
    pins += [f"{name}=={metadata.version(name)}" for name in ("cloudpickle", "pandas", "numpy")]
    return [*pins, extra]


def save_pyfunc_model(dest: Path, extra: str = EXTRA) -> Path:
    """``dest``: an MLflow pyfunc model folder (MLmodel, python_model.pkl, requirements.txt...)."""
    done = subprocess.run(
        [sys.executable, "-c", _SAVE, str(dest), *requirements(extra)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (dest / "MLmodel").is_file() and (dest / "requirements.txt").is_file()
    return dest
