"""LightGBM boosters (``.bst`` / ``.txt`` / MLflow's ``model.lgb``), predicted with LightGBM itself.

Multiclass boosters answer class probabilities [N, classes]; others [N]. Results are LightGBM's
own, in float64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError
from aiedge.serve.runtimes.base import Array, LoadedModel, LoadOptions, ModelSignature, Runtime
from aiedge.serve.runtimes.tabular import OUTPUT_NAME, tabular_signature


class LightGbmModel(LoadedModel):
    def __init__(self, path: Path) -> None:
        import lightgbm

        try:
            self._booster = lightgbm.Booster(model_file=str(path))
        except lightgbm.basic.LightGBMError as e:
            raise ModelLoadError(f"{path}: LightGBM cannot load it: {e}") from e
        n_features = self._booster.num_feature()
        classes = self._booster.num_model_per_iteration()
        names = tuple(self._booster.feature_name())
        generic = all(n.startswith("Column_") for n in names)
        self._signature = tabular_signature(
            n_features, (-1, classes) if classes > 1 else (-1,), "lightgbm", () if generic else names
        )

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        (x,) = inputs.values()
        return {OUTPUT_NAME: np.asarray(self._booster.predict(x, num_threads=1))}


class LightGbmRuntime(Runtime):
    name = "lightgbm"
    formats = (formats.LIGHTGBM,)

    def can_load(self, path: Path) -> bool:
        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> LightGbmModel:
        return LightGbmModel(path)


RUNTIME = LightGbmRuntime()
