"""``App.spec.kubernetes``: how ``aiedge render`` lays an app out on a Kubernetes/OpenShift edge
cluster run by Argo CD or Flux (names, namespace, labels, what runs the model, Route or Ingress,
the smoke CronJob). Optional: without it the objects are named after the App. ``aiedge import``
fills it with the seed's own names, so Argo CD takes over the seed's objects instead of pruning
and recreating them (a Deployment's selector cannot change in place)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$")


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if len(key) > 316 or not _LABEL_KEY.match(key):
            raise ValueError(f"{key!r} is not a Kubernetes label key")
        if len(val) > 63 or not _LABEL_VALUE.match(val):
            raise ValueError(f"{key}: {val!r} is not a Kubernetes label value")
    return value


def _cron(value: str) -> str:
    if not _CRON.match(value.strip()):
        raise ValueError("must be a cron schedule of five fields, e.g. '*/5 * * * *'")
    return value


class KubernetesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(
        default=None,
        pattern=_DNS_LABEL,
        max_length=52,
        description="name of the Deployment, Service and Route (default: the App's name)",
    )
    namespace: str | None = Field(
        default=None, pattern=_DNS_LABEL, max_length=63, description="namespace of the app's objects"
    )
    create_namespace: bool = Field(
        default=False, alias="createNamespace", description="also render the Namespace object"
    )
    labels: Annotated[dict[str, str], AfterValidator(_labels)] = Field(
        default_factory=dict,
        max_length=32,
        description="labels of every object and the Deployment's selector (default: "
        "app.kubernetes.io/name: NAME); a selector cannot change once applied",
    )
    runnable: bool = Field(
        default=False,
        description="the image starts its own server (built with `aiedge build --base`, or the "
        "seed's OVMS images); false: it holds the model only and render needs --runtime-image",
    )
    route: bool = Field(default=False, description="an OpenShift Route (edge TLS) to the Service")
    ingress_host: str | None = Field(
        default=None,
        alias="ingressHost",
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="a networking.k8s.io Ingress for this host instead of a Route",
    )
    smoke_schedule: Annotated[str, AfterValidator(_cron)] | None = Field(
        default=None,
        alias="smokeSchedule",
        max_length=100,
        description="a CronJob replays the App's test request on this schedule",
    )
