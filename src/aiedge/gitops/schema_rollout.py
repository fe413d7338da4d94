"""The rollout policy of a Placement (``spec.rollout``) and the acknowledgement annotation for
guarded removals. Shape and per-field rules only; the hub's rollout rules read them.

- ``waves``: the sites each wave reaches, counted from the start (``sites`` or ``percent``);
- ``soakSeconds``: how long a wave's sites stay healthy on the new version before the next wave;
- ``maxFailures``: how many sites may fail before the rollout stops, a count (``2``) or a share of
  the placement's sites (``"10%"``, rounded down);
- ``progressDeadline``: how long a reached site may take to be healthy on the new version
  (seconds, or ``90s``, ``10m``, ``2h``); past it ``onTimeout`` decides: ``skip`` (counted as done,
  still watched) or ``fail`` (counted as a failure, sent back); a wave may set its own;
- ``paused``: no site is reached by a new wave while true (sites already reached go on).
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

#: On a Placement or an App: this revision may remove apps from sites (see guarded removals).
ALLOW_REMOVAL = "aiedge.io/allow-removal"

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PERCENT_RE = r"^(100|[0-9]{1,2})(\.[0-9]+)?%$"


def _seconds(value: Any) -> Any:
    """``90``, ``"90s"``, ``"10m"``, ``"2h"``, ``"1d"`` -> seconds."""
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m is None:
            raise ValueError("want seconds, or a duration such as 90s, 10m, 2h")
        return float(m.group(1)) * _UNIT[m.group(2)]
    return value


Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    Field(gt=0, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": _DURATION.pattern},
            ]
        }
    ),
]


def _budget(value: Any) -> Any:
    """A count of sites (``2``) or a share of them (``"10%"``)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("want a count of sites such as 2, or a share such as 10%")
    if isinstance(value, int) or value.strip().isdigit():
        if int(value) < 0:
            raise ValueError("must not be negative")
        return int(value)
    if re.match(PERCENT_RE, value.strip()) is None:
        raise ValueError(f"want a count of sites such as 2, or a share from 0% to 100%, got {value!r}")
    return value.strip()


Budget = Annotated[
    int | str,
    BeforeValidator(_budget),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": PERCENT_RE}]}),
]


class OnTimeout(StrEnum):
    SKIP = "skip"
    FAIL = "fail"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Wave(_Spec):
    """One wave of a rollout: the sites it reaches, counted from the start of the rollout (``sites``
    a number of sites, ``percent`` a share of the placement's sites, rounded up); exactly one."""

    sites: int | None = Field(default=None, ge=1, description="sites reached by the end of this wave")
    percent: float | None = Field(
        default=None, gt=0, le=100, description="share of the sites reached by the end of this wave"
    )
    progress_deadline: Seconds | None = Field(
        default=None, alias="progressDeadline", description="this wave's deadline (default: the rollout's)"
    )
    on_timeout: OnTimeout | None = Field(
        default=None, alias="onTimeout", description="this wave's timeout policy (default: the rollout's)"
    )

    @model_validator(mode="after")
    def _one(self) -> Wave:
        if (self.sites is None) == (self.percent is None):
            raise ValueError("a wave takes exactly one of sites or percent")
        return self


class RolloutSpec(_Spec):
    """How a new version of the placement's apps reaches its sites: wave by wave, each wave after
    the last one's sites have been healthy on it for ``soakSeconds``."""

    waves: list[Wave] = Field(min_length=1)
    soak_seconds: float = Field(default=60.0, ge=0, alias="soakSeconds", allow_inf_nan=False)
    max_failures: Budget = Field(
        default=0, alias="maxFailures", description="failed sites allowed: a count, or a share such as 10%"
    )
    progress_deadline: Seconds | None = Field(
        default=None, alias="progressDeadline", description="seconds a reached site has to become healthy"
    )
    on_timeout: OnTimeout = Field(default=OnTimeout.FAIL, alias="onTimeout")
    paused: bool = Field(default=False, description="no new wave starts while true")

    @model_validator(mode="after")
    def _covers_all(self) -> RolloutSpec:
        if self.waves[-1].percent != 100:
            raise ValueError("the last wave must be {percent: 100} so every site is reached")
        return self

    def failure_budget(self, sites: int) -> int:
        """How many of ``sites`` may fail before the rollout stops."""
        if isinstance(self.max_failures, str):
            return math.floor(float(self.max_failures[:-1]) * sites / 100 + 1e-9)
        return self.max_failures

    def deadline(self, wave: int) -> tuple[float | None, OnTimeout]:
        """The progress deadline and timeout policy of wave ``wave`` (0-based)."""
        w = self.waves[wave]
        deadline = w.progress_deadline if w.progress_deadline is not None else self.progress_deadline
        return deadline, w.on_timeout or self.on_timeout
