"""How an App is served, and what a Site may change of it for itself (``Site.spec.overrides``):
environment variables, OpenVINO's precision, the device (``cpu``, ``gpu``, ``npu``, ``auto``, and
whether it is required), the request slots and queue per model, and the resources of the manifests
``aiedge render`` writes. A site's override wins field by field (``env`` name by name, ``resources``
requests and limits each), so one
App serves a fleet of different machines."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Device = Literal["cpu", "gpu", "npu", "auto"]
Precision = Literal["f32", "bf16", "f16"]
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
# aiedge serve's own settings have fields here; an env entry must not set them behind their back
RESERVED_ENV_PREFIX = "AIEDGE_SERVE_"
_RESOURCE_NAME = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
_QUANTITY = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")


def _env(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if name.upper().startswith(RESERVED_ENV_PREFIX):
            raise ValueError(
                f"{name}: aiedge serve's settings are set by their own fields (device, precision, "
                "slots, queue), not by env"
            )
    return value


def _quantities(value: dict[str, str]) -> dict[str, str]:
    for name, q in value.items():
        if not _QUANTITY.match(q):
            raise ValueError(f"{name}: {q!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)")
    return value


ResourceList = Annotated[
    dict[Annotated[str, Field(pattern=_RESOURCE_NAME, max_length=253)], Annotated[str, Field(max_length=32)]],
    AfterValidator(_quantities),
]


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: ResourceList = Field(default_factory=dict, max_length=16)
    limits: ResourceList = Field(default_factory=dict, max_length=16)


EnvMap = Annotated[
    dict[Annotated[str, Field(pattern=ENV_NAME_RE, max_length=255)], Annotated[str, Field(max_length=4096)]],
    AfterValidator(_env),
]


class Serving(BaseModel):
    """The fields an App sets and a Site may override; None: not set (the server's default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    env: EnvMap = Field(
        default_factory=dict, max_length=64, description="plain environment variables of the server"
    )
    precision: Precision | None = Field(default=None, description="OpenVINO inference precision")
    device: Device | None = Field(default=None, description="cpu (default), gpu, npu or auto")
    device_required: bool | None = Field(
        default=None, alias="deviceRequired", description="no CPU fallback: a missing device fails"
    )
    slots: int | None = Field(default=None, ge=1, le=1024, description="requests one model runs at once")
    queue: int | None = Field(default=None, ge=0, le=1 << 16, description="requests that may wait per model")
    resources: Resources | None = Field(default=None, description="requests and limits in `aiedge render`")


class AppOverride(Serving):
    """One App's settings at one Site (``Site.spec.overrides.<app>``)."""


def overridden(base: Serving, override: Serving | None) -> Serving:
    """``base`` with what ``override`` sets: each field it sets wins, ``env`` name by name."""
    if override is None:
        return base
    changes = {k: getattr(override, k) for k in override.model_fields_set if k not in ("env", "resources")}
    if override.env:
        changes["env"] = {**base.env, **override.env}
    if override.resources is not None:
        changes["resources"] = _resources(base.resources, override.resources)
    return Serving.model_validate({**_fields(base), **changes})


def _resources(base: Resources | None, override: Resources) -> Resources:
    """``requests`` and ``limits`` each the override's when it sets them."""
    if base is None:
        return override
    parts = {
        k: getattr(override if k in override.model_fields_set else base, k) for k in ("requests", "limits")
    }
    return Resources.model_validate(parts)


def _fields(s: Serving) -> dict[str, object]:
    return {k: getattr(s, k) for k in Serving.model_fields}
