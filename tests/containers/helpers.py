"""Helpers for the container tests: the seed's housing model and the smoke test it passes."""

from __future__ import annotations

from aiedge.contracts import SmokeTest

HOUSING = "tensorflow-housing"
SMOKE = SmokeTest(
    path=f"/v1/models/{HOUSING}/versions/1:predict",
    request={"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]},
    response={"predictions": [-28.7639923]},
)
