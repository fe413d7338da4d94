"""Which optional extra of the ``aiedge`` package brings a module, so that a missing one is one
line naming what to install (``model X is OpenVINO IR: install aiedge[openvino]``) instead of an
``ImportError``. The default install serves ONNX models and runs the CLI, hub (SQLite), agent
and demo; each extra adds a runtime or a backend (pyproject.toml's optional dependencies)."""

from __future__ import annotations

# top-level module -> the extra that installs it
_EXTRA_OF = {
    "openvino": "openvino",
    "lightgbm": "lightgbm",
    "sklearn": "sklearn",
    "skl2onnx": "sklearn",
    "joblib": "sklearn",
    "scipy": "sklearn",
    "boto3": "s3",
    "botocore": "s3",
    "psycopg": "postgres",
}


def extra_for(error: ModuleNotFoundError) -> str | None:
    """The extra that brings the module ``error`` is about, or None when no extra does."""
    return _EXTRA_OF.get((error.name or "").split(".")[0])


def install_hint(error: ModuleNotFoundError) -> str:
    """``install aiedge[EXTRA]`` for a module an extra brings, else ``reinstall aiedge``."""
    extra = extra_for(error)
    if extra is None:
        return f"the {error.name} package is missing: reinstall aiedge"
    return f"install aiedge[{extra}] (pip install 'aiedge[{extra}]'; {error.name} is not installed)"
