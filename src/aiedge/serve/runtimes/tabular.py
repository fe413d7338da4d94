"""What every tabular runtime (LightGBM, scikit-learn) shares: the signature of a model taking
one [N, F] input, and reading the feature names a library saved with the model."""

from __future__ import annotations

from aiedge.serve.runtimes.base import ModelSignature, TensorSpec

INPUT_NAME = "input-0"
OUTPUT_NAME = "predict"


def tabular_signature(
    n_features: int,
    output_shape: tuple[int, ...],
    platform: str,
    columns: tuple[str, ...] = (),
    output_datatype: str = "FP64",
    input_datatype: str = "FP64",
) -> ModelSignature:
    return ModelSignature(
        inputs=(TensorSpec(INPUT_NAME, input_datatype, (-1, n_features)),),
        outputs=(TensorSpec(OUTPUT_NAME, output_datatype, output_shape),),
        platform=platform,
        tabular=True,
        columns=columns,
    )
