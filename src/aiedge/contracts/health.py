"""Model health on the wire: what an App asks of its sites (drift, capture, a shadow phase), as
the hub hands it down in :class:`~aiedge.contracts.v1.DesiredApp`, and the drift scores sites send
up (``POST /api/v1/sites/{site}/drift``: a :class:`DriftReport`, answered ``204``).

Every number is bounded and finite: a peer cannot make the other side hold or compute more than
these limits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from aiedge.contracts.wire import WireModel

Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Tolerance = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
MAX_FEATURES = 256
MAX_APPS = 1000


class DriftConfig(WireModel):
    """How the site's server keeps its drift window (the alert thresholds stay at the hub)."""

    enabled: bool = True
    sample: Share = Field(default=0.1, description="share of requests the drift window sees")
    window: int = Field(default=1000, ge=10, le=1_000_000, description="rows in the live window")
    min_rows: int = Field(default=100, ge=1, le=1_000_000, description="rows before a score counts")


class CaptureConfig(WireModel):
    """Sampled request/response capture: kept in a bounded buffer at the site, uploaded to the
    core's bucket when the link allows."""

    sample: Share = Field(description="share of requests captured")
    max_bytes_per_day: int = Field(gt=0, le=1 << 50, description="captured bytes a day (UTC) at most")
    drop: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=64, description="input or output tensors left out of records"
    )
    max_buffer_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, le=1 << 50, description="bytes the site's buffer holds at most"
    )


class ShadowConfig(WireModel):
    """A shadow phase before a switch: the new version gets a copy of ``share`` of live requests
    beside the serving one, and takes traffic only once ``min_samples`` compared answers agree
    (within ``rtol``/``atol``, or on the argmax) in at least ``min_agreement`` of them and its
    predict time is at most ``max_latency_ratio`` times the serving one's."""

    share: Share = 0.2
    min_samples: int = Field(default=200, ge=1, le=1_000_000)
    rtol: Tolerance = 1e-5
    atol: Tolerance = 1e-6
    argmax: bool = Field(default=False, description="compare the argmax of the last axis (classifiers)")
    max_latency_ratio: float = Field(default=2.0, gt=0, le=1e6, allow_inf_nan=False)
    min_agreement: Share = Field(default=0.99, description="share of compared samples that must agree")


class FeatureDrift(WireModel):
    kind: Literal["input", "output"]
    feature: str = Field(min_length=1, max_length=128)
    score: float = Field(ge=0, le=1e6, allow_inf_nan=False, description="PSI of the live window")


class AppDrift(WireModel):
    """One app's drift scores at one moment, as its server exported them."""

    app: str = Field(min_length=1, max_length=253)
    version: str = Field(default="", max_length=100, description="the short image digest serving")
    rows: int = Field(default=0, ge=0, le=1 << 40, description="rows in the live window")
    source: Literal["reference", "learned", ""] = Field(default="", description="the profile's origin")
    features: list[FeatureDrift] = Field(default_factory=list, max_length=MAX_FEATURES)


class DriftReport(WireModel):
    """Body of ``POST /api/v1/sites/{site}/drift``: the site's latest drift scores (every minute)."""

    site: str
    time: datetime
    apps: list[AppDrift] = Field(default_factory=list, max_length=MAX_APPS)
