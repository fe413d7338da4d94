"""Pydantic models of the GitOps kinds (``apiVersion: aiedge.io/v1alpha1``): App, Site, Placement,
SiteSecret.

Field names follow the YAML (camelCase via aliases); unknown fields are errors. Only shape and
per-field rules live here; cross-references (placement apps exist, duplicates) are in
:mod:`aiedge.gitops.loader`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from aiedge.gitops.age import check_armored, check_recipient
from aiedge.gitops.quantity import parse_bytes
from aiedge.gitops.schema_health import AppRolloutSpec, CaptureSpec, DriftSpec
from aiedge.gitops.schema_kubernetes import KubernetesSpec
from aiedge.gitops.schema_link import SiteLink
from aiedge.gitops.schema_rollout import RolloutSpec
from aiedge.gitops.schema_serving import ENV_NAME_RE as ENV_NAME_RE
from aiedge.gitops.schema_serving import AppOverride, Serving
from aiedge.gitops.schema_windows import MaintenanceWindow, TimeZone
from aiedge.oci.digest import DIGEST_PATTERN
from aiedge.oci.platform import normalise_arch

API_VERSION = "aiedge.io/v1alpha1"
NAME_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DIGEST_RE = rf"^{DIGEST_PATTERN}$"
_HOST_RE = re.compile(r"^(localhost|[^/]*[.:][^/]*)$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(_Spec):
    name: str = Field(pattern=NAME_RE, max_length=63, description="DNS-label style name")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Protocol(StrEnum):
    V2 = "v2"
    TFSERVING = "tfserving"
    MLFLOW = "mlflow"


class ImageSpec(_Spec):
    repository: str = Field(description="REGISTRY/REPOSITORY, no tag, no digest")
    digest: str | None = Field(
        default=None, pattern=DIGEST_RE, description="sha256:<64 hex>; absent until the first build"
    )

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if "@" in v or ":" in v.rsplit("/", 1)[-1]:
            raise ValueError("must be REGISTRY/REPOSITORY without a tag or digest (the digest has its field)")
        if "/" not in v or not _HOST_RE.match(v.split("/", 1)[0]):
            raise ValueError("must start with the registry host, e.g. registry.example.com/team/model")
        return v


class TestSpec(_Spec):
    path: str | None = Field(default=None, description="defaults by protocol")
    request: Any = Field(description="JSON body POSTed to path")
    response: Any = Field(description="expected JSON answer; numbers compared with tolerance")
    rtol: float | None = None
    atol: float | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError("must start with /")
        return v


class AppSpec(Serving):
    """What the App serves and how (``Serving``'s fields: env, precision, device, slots, queue,
    resources; a Site may override those for itself)."""

    model: str = Field(min_length=1, description="model name the server exposes")
    image: ImageSpec
    protocol: Protocol = Protocol.V2
    port: int = Field(default=8080, ge=1, le=65535)
    grpc_port: int | None = Field(default=None, alias="grpcPort", ge=1, le=65535)
    test: TestSpec | None = None
    kubernetes: KubernetesSpec | None = Field(default=None, description="layout for `aiedge render`")
    urgent: bool = Field(
        default=False, description="download at once even when a site's link budget is spent"
    )
    drift: DriftSpec | None = Field(default=None, description="drift alerts and the sites' drift window")
    capture: CaptureSpec | None = Field(default=None, description="sampled request/response capture")
    rollout: AppRolloutSpec | None = Field(default=None, description="a shadow phase before each switch")


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(_Spec):
    key: str = Field(min_length=1)
    operator: SelectorOperator
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values(self) -> SelectorRequirement:
        needs = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs and not self.values:
            raise ValueError(f"operator {self.operator.value} needs a non-empty values list")
        if not needs and self.values:
            raise ValueError(f"operator {self.operator.value} takes no values")
        return self


class Accelerator(StrEnum):
    GPU = "gpu"
    NPU = "npu"


class FactName(StrEnum):
    ARCH = "arch"
    OS = "os"


Bytes = Annotated[int, BeforeValidator(parse_bytes)]


class SiteSelector(_Spec):
    """Labels (from Git) and facts (from the site's last status report); all ANDed. A site that has
    not reported facts yet matches no fact requirement."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[SelectorRequirement] = Field(default_factory=list, alias="matchExpressions")
    facts: dict[FactName, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict, description="facts the site must have, e.g. {arch: arm64}"
    )
    memory_at_least: Bytes | None = Field(default=None, alias="memoryAtLeast", description="e.g. 4Gi")
    disk_free_at_least: Bytes | None = Field(
        default=None, alias="diskFreeAtLeast", description="free disk in the agent's data folder, e.g. 20Gi"
    )
    cpus_at_least: int | None = Field(default=None, alias="cpusAtLeast", ge=1, le=1 << 16)
    accelerator: Accelerator | None = Field(default=None, description="gpu or npu, usable by a runtime")

    @field_validator("facts")
    @classmethod
    def _arch_words(cls, v: dict[FactName, str]) -> dict[FactName, str]:
        # the kernel's words (aarch64, x86_64) mean what the agents report (arm64, amd64)
        return {k: normalise_arch(x) if k is FactName.ARCH else x for k, x in v.items()}

    @property
    def uses_facts(self) -> bool:
        return bool(self.facts) or any(
            x is not None
            for x in (self.memory_at_least, self.disk_free_at_least, self.cpus_at_least, self.accelerator)
        )


class PlacementSpec(_Spec):
    site_selector: SiteSelector = Field(alias="siteSelector")
    apps: list[str] = Field(min_length=1)
    rollout: RolloutSpec | None = Field(
        default=None, description="waves for new versions; default all at once"
    )
    windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="maintenance windows: new versions switch only inside one (replace the Site's)",
    )
    prefetch: bool = Field(
        default=False, description="download new versions at once, switch in the next window"
    )
    urgent: bool = Field(
        default=False, description="download at once even when the site's link budget is spent"
    )


class _Object(_Spec):
    api_version: Literal["aiedge.io/v1alpha1"] = Field(alias="apiVersion")
    metadata: Metadata


class App(_Object):
    kind: Literal["App"]
    spec: AppSpec


class SiteSpec(_Spec):
    age_recipient: Annotated[str, AfterValidator(check_recipient)] | None = Field(
        default=None,
        alias="ageRecipient",
        description="the site agent's age X25519 public key (age1..., `aiedge agent recipient`); "
        "its SiteSecrets are encrypted to it",
    )
    time_zone: TimeZone = Field(
        default="UTC", alias="timeZone", description="IANA time zone the maintenance windows are read in"
    )
    windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="maintenance windows of the site's apps (a Placement's own windows replace them)",
    )
    link: SiteLink | None = Field(default=None, description="the site's link budget: {budget: 20MB/day}")
    overrides: dict[Annotated[str, Field(pattern=NAME_RE, max_length=63)], AppOverride] = Field(
        default_factory=dict,
        max_length=256,
        description="per App, the serving settings this site changes (env, precision, device, "
        "deviceRequired, slots, queue, resources)",
    )


class Site(_Object):
    kind: Literal["Site"]
    spec: SiteSpec = Field(default_factory=SiteSpec)


class Placement(_Object):
    kind: Literal["Placement"]
    spec: PlacementSpec


EnvName = Annotated[str, Field(pattern=ENV_NAME_RE, max_length=255)]
Ciphertext = Annotated[str, AfterValidator(check_armored)]


class SiteSecretSpec(_Spec):
    """Environment variables of one app at one site, each value an ASCII-armored age ciphertext
    encrypted to that site's ``ageRecipient`` (``aiedge secret encrypt`` writes them). The hub
    hands them to that site alone; only the site's agent can decrypt them."""

    site: str = Field(pattern=NAME_RE, description="the Site whose agent decrypts the values")
    app: str = Field(pattern=NAME_RE, description="the App whose serving process gets them as env")
    recipient: Annotated[str, AfterValidator(check_recipient)] | None = Field(
        default=None, description="the age recipient the values were encrypted to (the Site's ageRecipient)"
    )
    data: dict[EnvName, Ciphertext] = Field(
        min_length=1, description="ENV_NAME: ASCII-armored age ciphertext of its value"
    )


class SiteSecret(_Object):
    kind: Literal["SiteSecret"]
    spec: SiteSecretSpec


Kind = App | Site | Placement | SiteSecret

KINDS: dict[str, type[App] | type[Site] | type[Placement] | type[SiteSecret]] = {
    "App": App,
    "Site": Site,
    "Placement": Placement,
    "SiteSecret": SiteSecret,
}

DEFAULT_TEST_PATHS = {
    Protocol.TFSERVING: "/v1/models/{model}/versions/1:predict",
    Protocol.V2: "/v2/models/{model}/infer",
    Protocol.MLFLOW: "/invocations",
}
