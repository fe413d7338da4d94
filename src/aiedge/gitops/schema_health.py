"""An App's model-health fields: ``spec.drift`` (thresholds of the hub's drift alerts and the
site's window), ``spec.capture`` (sampled request/response capture for retraining) and
``spec.rollout.shadow`` (a shadow phase before a new version takes traffic). Shape and per-field
rules only; :mod:`aiedge.gitops.desired` turns them into the wire configs.

```yaml
spec:
  drift: {threshold: 0.2, outputThreshold: 0.3, sample: 0.1, window: 1000, minRows: 100}
  capture: {sample: 0.01, maxBytesPerDay: 50MiB, drop: [ssn]}
  rollout:
    shadow: {share: 0.2, minSamples: 200, tolerance: {rtol: 1e-4, atol: 1e-6}, maxLatencyRatio: 2.0}
```
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from aiedge.contracts import CaptureConfig, DriftConfig, ShadowConfig

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _bytes(value: Any) -> Any:
    """``1048576``, ``"50MiB"``, ``"2GB"`` -> bytes."""
    if isinstance(value, str):
        m = _SIZE.match(value.strip())
        if m is None:
            raise ValueError("want bytes, or a size such as 50MiB or 2GB")
        return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    return value


Bytes = Annotated[
    int,
    BeforeValidator(_bytes),
    Field(gt=0, le=1 << 50),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": _SIZE.pattern}]}
    ),
]
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Psi = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DriftSpec(_Spec):
    """Drift of the App's inputs and outputs (PSI per feature against the image's profile)."""

    enabled: bool = Field(default=True, description="false: no drift window at the sites, no alerts")
    threshold: Psi = Field(default=0.2, description="a feature's PSI above this raises the drift alert")
    input_threshold: Psi | None = Field(default=None, alias="inputThreshold", description="for inputs")
    output_threshold: Psi | None = Field(default=None, alias="outputThreshold", description="for outputs")
    sample: Share = Field(default=0.1, description="share of requests the sites' windows see")
    window: int = Field(default=1000, ge=10, le=1_000_000, description="rows in a site's window")
    min_rows: int = Field(default=100, ge=1, le=1_000_000, alias="minRows", description="rows before scoring")

    def limit(self, kind: str) -> float:
        """The threshold of ``kind`` (``input`` or ``output``)."""
        own = self.input_threshold if kind == "input" else self.output_threshold
        return self.threshold if own is None else own

    def config(self) -> DriftConfig:
        return DriftConfig(
            enabled=self.enabled, sample=self.sample, window=self.window, min_rows=self.min_rows
        )


class CaptureSpec(_Spec):
    """Sampled request/response capture, uploaded to the core's bucket (``aiedge agent --capture-to``)."""

    sample: Share = Field(description="share of requests captured, e.g. 0.01")
    max_bytes_per_day: Bytes = Field(alias="maxBytesPerDay", description="captured bytes a day at most")
    drop: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=64, description="input or output tensors left out of records"
    )
    max_buffer_bytes: Bytes = Field(
        default=256 * 2**20, alias="maxBufferBytes", description="the site's on-disk buffer at most"
    )

    def config(self) -> CaptureConfig:
        return CaptureConfig(
            sample=self.sample,
            max_bytes_per_day=self.max_bytes_per_day,
            drop=self.drop,
            max_buffer_bytes=self.max_buffer_bytes,
        )


class ToleranceSpec(_Spec):
    rtol: float = Field(default=1e-5, ge=0, le=1e6, allow_inf_nan=False)
    atol: float = Field(default=1e-6, ge=0, le=1e6, allow_inf_nan=False)


class ShadowSpec(_Spec):
    """A shadow phase at each site before a new version takes traffic."""

    share: Share = Field(default=0.2, description="share of live requests copied to the new version")
    min_samples: int = Field(default=200, ge=1, le=1_000_000, alias="minSamples")
    tolerance: ToleranceSpec | None = Field(default=None, description="numbers agree within rtol/atol")
    argmax: bool = Field(default=False, description="answers agree when their argmax does (classifiers)")
    max_latency_ratio: float = Field(default=2.0, gt=0, le=1e6, allow_inf_nan=False, alias="maxLatencyRatio")
    min_agreement: Share = Field(default=0.99, alias="minAgreement", description="share that must agree")

    @model_validator(mode="after")
    def _one_comparison(self) -> ShadowSpec:
        if self.argmax and self.tolerance is not None:
            raise ValueError("give tolerance or argmax: true, not both")
        return self

    def config(self) -> ShadowConfig:
        tol = self.tolerance or ToleranceSpec()
        return ShadowConfig(
            share=self.share,
            min_samples=self.min_samples,
            rtol=tol.rtol,
            atol=tol.atol,
            argmax=self.argmax,
            max_latency_ratio=self.max_latency_ratio,
            min_agreement=self.min_agreement,
        )


class AppRolloutSpec(_Spec):
    """How a new version of this App takes over at each site."""

    shadow: ShadowSpec | None = None
