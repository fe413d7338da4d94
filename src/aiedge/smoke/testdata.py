"""Reading test data files: the seed's ConfigMap (``data.json`` = request, ``output.json`` =
expected response) or a plain JSON ``{"request": ..., "response": ...}``."""

from __future__ import annotations

from pathlib import Path

from aiedge.contracts import SmokeTest


def load_test_data(path: Path, *, model: str, protocol: str | None = None) -> SmokeTest:
    """Read ``path`` into a SmokeTest. The request path is derived from the body and ``protocol``:
    ``instances``/``inputs`` (TF-Serving) -> ``/v1/models/{model}/versions/1:predict``, V2 inputs ->
    ``/v2/models/{model}/infer``, ``dataframe_*`` -> ``/invocations``. Raises SmokeTestError (file:line)."""
    raise NotImplementedError


def default_path(protocol: str, model: str) -> str:
    raise NotImplementedError
