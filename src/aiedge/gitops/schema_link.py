"""A Site's link (``spec.link``): what its connection to the core may carry, and whether it is
paid per byte. Shape and per-field rules only; the agent accounts the bytes and decides.

- ``budget``: bytes a day (UTC), both directions together: ``20MB/day``, ``500KiB/day`` or a
  number of bytes; control, status and summaries always go, raw metrics stop when it is spent,
  and a model download waits until it fits (or its App or Placement says ``urgent: true``);
- ``metered``: true (the default) when the link is paid per byte and the budget is kept to;
  false counts and reports the bytes against the budget without deferring anything.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from aiedge.oci.bandwidth import parse_budget


def _budget(value: object) -> object:
    if isinstance(value, str):
        return parse_budget(value)
    if isinstance(value, bool):
        raise ValueError("want a budget such as 20MB/day")
    return value


Budget = Annotated[int, BeforeValidator(_budget), Field(ge=1, le=2**50)]


class SiteLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    budget: Budget = Field(description="bytes a day, both ways together: 20MB/day, 500KiB/day")
    metered: bool = Field(default=True, description="paid per byte: downloads wait for the budget")
