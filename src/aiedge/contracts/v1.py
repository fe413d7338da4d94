"""Hub <-> agent API, version 1 (served under ``/api/v1``).

Endpoints (the hub serves them, the agent calls them; the agent only ever dials out):

- ``GET  /api/v1/sites/{site}/desired?after=<digest>&wait=<seconds>``: the site's
  :class:`DesiredState`. With ``after`` equal to the current digest the hub holds the request
  up to ``wait`` seconds (long poll) and answers as soon as the desired state changes; it answers
  ``304`` with no body when nothing changed before the timeout.
- ``POST /api/v1/sites/{site}/status``: a :class:`StatusReport`; answers ``204``.
- ``POST /api/v1/sites/{site}/minutes``: :class:`MinuteSummaries`, the per-minute figures of the
  site's apps summed at the site from its raw scrapes (since 1.1; answers ``204``). A minute sent
  again replaces the one the hub has.
- ``GET  /api/v1/sites``: ``list[SiteSummary]`` (the fleet, for ``aiedge status`` and the UI).
- ``GET  /api/v1/health``: ``{"status": "ok", "revision": ..., "error": ...}``.
- ``POST /api/v1/enroll``: an :class:`EnrollRequest` (a one-time join token from
  ``aiedge hub token create``) answered with an :class:`EnrollResponse` holding the site's own
  credential; 403 when the token is refused. A site's credential reads only that site's state.

Agents authenticate with ``Authorization: Bearer <token>`` when the hub requires it.

Thin links (since 1.1): a hub that answers a desired state with ``X-Aiedge-Heartbeat: SECONDS``
holds polls at most that long and takes each poll as the site's sign of life; it takes
``If-None-Match`` with the short ``ETag`` of the state a site has (a 304 with no body when it is
unchanged), request bodies with ``Content-Encoding: gzip`` (bounded after decoding) and minute
summaries. Agents send status reports to such a hub only when they change (and now and then), and
summaries instead of raw series; to a hub that announces nothing they send what 1.0 sent.

Operators' requests in the poll: a hub that answers a desired state with ``X-Aiedge-Requests: 0``
or ``1`` ends a site's held poll when a request (:mod:`aiedge.contracts.requests`) is queued for
it and answers ``X-Aiedge-Requests: 1`` (on the 304 too), once per request; the agent then
fetches ``GET /api/v1/sites/{site}/requests`` at once, instead of holding that long poll beside
its desired-state poll as it does with a hub that says nothing.

App secrets travel as ASCII-armored age ciphertexts (:attr:`DesiredApp.secrets`), each encrypted
to the one site's X25519 recipient, which the agent reports (``age_recipient``) at enrolment and
in every status report; the hub never holds a key that decrypts them. Fields added since the first
version are optional, and ``secrets`` is left out of the JSON when empty, so desired states and
their digests stay what they were for apps without secrets.

Mixed versions work in both directions: every model ignores fields it does not know (a newer peer
sent them; each is logged once per process), and a condition reason this version does not know
reads as :attr:`AppReason.UNKNOWN`. Decisions on either side read the typed ``reason`` and
``health``, never the free-text ``message``, which is for people.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from aiedge.contracts.health import CaptureConfig, DriftConfig, ShadowConfig
from aiedge.contracts.wire import API_VERSION as API_VERSION
from aiedge.contracts.wire import WireModel, note_unknown

_Model = WireModel


class EnrollRequest(_Model):
    """Body of ``POST /api/v1/enroll``."""

    token: str = Field(min_length=1, description="the one-time join token")
    site: str | None = Field(default=None, description="the site enrolling; must be the token's site")
    age_recipient: str | None = Field(
        default=None, description="the agent's age X25519 public key (age1...) for site secrets"
    )


class EnrollResponse(_Model):
    """Answer of ``POST /api/v1/enroll``: the credential to send as ``Authorization: Bearer``."""

    site: str
    credential: str
    hub_key: str | None = Field(
        default=None, description="the hub's ed25519 public key (PEM) that signs offline bundles"
    )


class SmokeTest(_Model):
    """The request an app must answer correctly before it takes traffic."""

    path: str = Field(description="HTTP path of the request, e.g. /v1/models/m/versions/1:predict")
    request: Any = Field(description="JSON body sent with POST")
    response: Any = Field(description="expected JSON response; numbers compared with tolerance")
    rtol: float = Field(default=1e-5, description="relative tolerance for numbers")
    atol: float = Field(default=1e-6, description="absolute tolerance for numbers")


class MaintenanceWindow(_Model):
    """When a site may switch an app to a new version: from each time the cron ``start`` fires
    (in the app's ``time_zone``) for ``duration`` seconds."""

    start: str = Field(description="5-field cron expression (minute hour day-of-month month day-of-week)")
    duration: float = Field(gt=0, description="seconds the window stays open")


# fields added since v1 began, with the value at which they are left out of the wire form
_OMITTED_AT_DEFAULT: tuple[tuple[str, Any], ...] = (
    ("secrets", {}),
    ("windows", []),
    ("time_zone", None),
    ("prefetch", False),
    ("urgent", False),
    ("drift", None),
    ("capture", None),
    ("shadow", None),
    ("env", {}),
    ("device", None),
    ("device_required", False),
    ("precision", None),
    ("slots", None),
    ("queue", None),
)


class DesiredApp(_Model):
    """One app a site must run: a model image pinned by digest."""

    name: str = Field(description="app name, unique in the GitOps repo")
    model: str = Field(description="model name the server exposes, e.g. tensorflow-housing")
    image: str = Field(description="REGISTRY/REPOSITORY@sha256:..., always pinned by digest")
    protocol: str = Field(default="v2", description="client protocol: v2, tfserving or mlflow")
    port: int = Field(default=8080, description="HTTP port the app serves on at the site")
    grpc_port: int | None = Field(default=None, description="gRPC port, when served")
    smoke_test: SmokeTest | None = None
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="environment variables of the serving process: name -> ASCII-armored age "
        "ciphertext encrypted to this site alone; decrypted only by the site's agent",
    )
    windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="maintenance windows: a new version switches only inside one (none: at once)",
    )
    time_zone: str | None = Field(default=None, description="IANA time zone the windows are read in")
    prefetch: bool = Field(
        default=False, description="with windows: download at once, switch in the next window"
    )
    urgent: bool = Field(
        default=False, description="downloaded at once even when the site's link budget is spent (since 1.2)"
    )
    drift: DriftConfig | None = Field(default=None, description="the App's spec.drift, for the server")
    capture: CaptureConfig | None = Field(default=None, description="the App's spec.capture")
    shadow: ShadowConfig | None = Field(default=None, description="the App's spec.rollout.shadow")
    # how it is served (the App's settings with the site's overrides); None: the server's default
    env: dict[str, str] = Field(default_factory=dict, description="plain environment variables")
    device: Literal["cpu", "gpu", "npu", "auto"] | None = Field(
        default=None, description="device to serve on; a missing one falls back to the CPU"
    )
    device_required: bool = Field(default=False, description="no CPU fallback: a missing device fails")
    precision: str | None = Field(default=None, description="OpenVINO inference precision")
    slots: int | None = Field(default=None, description="requests one model runs at once")
    queue: int | None = Field(default=None, description="requests that may wait per model")

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        # fields added since v1 began are left out at their defaults, so the desired states (and
        # digests) of apps that do not use them stay what they were
        data = handler(self)
        if isinstance(data, dict):
            for key, empty in _OMITTED_AT_DEFAULT:
                if key in data and data[key] == empty:
                    data.pop(key)
        return data

    @property
    def registry(self) -> str:
        return self.image.split("/", 1)[0]

    @property
    def repository(self) -> str:
        return self.image.split("/", 1)[1].split("@", 1)[0]

    @property
    def digest(self) -> str:
        return self.image.split("@", 1)[1]


Bytes = Annotated[int, Field(ge=0, le=2**62)]


class LinkBudget(_Model):
    """What a site's link may carry (the Site's ``spec.link``, since 1.2)."""

    budget: int = Field(gt=0, le=2**50, description="bytes a day (UTC), both directions together")
    metered: bool = Field(
        default=True, description="paid per byte: downloads wait when they do not fit (else only counted)"
    )


class DesiredState(_Model):
    """Everything one site should run, as computed by the hub from one GitOps revision."""

    site: str
    revision: str = Field(description="GitOps revision, e.g. main@sha1:0123abcd...")
    apps: list[DesiredApp] = Field(default_factory=list)
    link: LinkBudget | None = Field(default=None, description="the site's link budget (since 1.2)")

    @model_serializer(mode="wrap")
    def _omit_no_link(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("link", 0) is None:
            data.pop("link")
        return data

    @property
    def digest(self) -> str:
        """Content digest of what the site runs; unchanged when a commit doesn't touch this site.
        A link budget counts (a new one must reach the site); none leaves the digest as it was."""
        apps = [a.model_dump(mode="json") for a in self.apps]
        what: Any = apps if self.link is None else {"apps": apps, "link": self.link.model_dump(mode="json")}
        body = orjson.dumps(what, option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(body).hexdigest()


class AppHealth(StrEnum):
    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    DEGRADED = "degraded"
    FAILED = "failed"


class AppReason(StrEnum):
    """Why an app is in its state (the condition reason, after Flux's ``metav1.Condition``).
    The hub decides on this, never on :attr:`AppStatus.message`."""

    READY = "Ready"  # serving the desired version
    PROGRESSING = "Progressing"  # working towards it: unpacking, starting, smoke-testing
    DOWNLOADING = "Downloading"  # fetching blobs; see AppStatus.progress
    DEFERRED = "Deferred"  # waiting on purpose: a hold, a maintenance window, a data budget
    FETCH_FAILED = "FetchFailed"  # the registry could not be reached or answered badly (retried)
    IMAGE_NOT_FOUND = "ImageNotFound"  # the registry says the digest does not exist
    IMAGE_INVALID = "ImageInvalid"  # the image cannot run here (bad digest, label, unsafe path)
    NO_MATCHING_PLATFORM = "NoMatchingPlatform"  # an index with no manifest for this site
    REGISTRY_AUTH_FAILED = "RegistryAuthFailed"
    SIGNATURE_INVALID = "SignatureInvalid"  # not signed by a key the site trusts
    SECRET_DECRYPT_FAILED = "SecretDecryptFailed"  # noqa: S105 - a reason, not a secret
    INSUFFICIENT_DISK = "InsufficientDisk"
    SMOKE_TEST_FAILED = "SmokeTestFailed"  # the new version answered its test wrongly
    SHADOW_REJECTED = "ShadowRejected"  # the new version disagreed with the serving one on live traffic
    START_FAILED = "StartFailed"  # the server exited or never got ready
    UNKNOWN = "Unknown"  # a reason from a newer peer, or none reported


# The agent refused the version it was told to run and keeps serving the previous one: a human (or
# a new commit) must change something. Rollouts count these as failed sites.
REFUSED_REASONS = frozenset(
    {
        AppReason.IMAGE_NOT_FOUND,
        AppReason.IMAGE_INVALID,
        AppReason.NO_MATCHING_PLATFORM,
        AppReason.REGISTRY_AUTH_FAILED,
        AppReason.SIGNATURE_INVALID,
        AppReason.SECRET_DECRYPT_FAILED,
        AppReason.SMOKE_TEST_FAILED,
        AppReason.SHADOW_REJECTED,
        AppReason.START_FAILED,
    }
)
# Work under way, or a wait on purpose: never a failure, however long it lasts (deadlines decide).
IN_PROGRESS_REASONS = frozenset(
    {AppReason.PROGRESSING, AppReason.DOWNLOADING, AppReason.DEFERRED, AppReason.FETCH_FAILED}
)


def _reason(value: Any) -> Any:
    if isinstance(value, str) and value not in AppReason._value2member_map_:
        note_unknown("reason", value)
        return AppReason.UNKNOWN
    return value


class Progress(_Model):
    """How far a download has come (for status, the dashboard and rollout deadlines)."""

    done_bytes: int = Field(default=0, ge=0, description="bytes fetched so far (cached ones included)")
    total_bytes: int | None = Field(default=None, ge=0, description="bytes the manifest lists, when known")
    rate_bps: float | None = Field(default=None, ge=0, description="recent download rate, bytes per second")
    eta_seconds: float | None = Field(default=None, ge=0, description="time left at that rate")


class AppStatus(_Model):
    name: str
    digest: str | None = Field(default=None, description="image digest currently serving")
    health: AppHealth = AppHealth.PROGRESSING
    url: str | None = Field(default=None, description="where the site serves the app")
    message: str = Field(default="", description="for people; decisions read reason and health")
    reason: Annotated[AppReason, BeforeValidator(_reason)] = Field(
        default=AppReason.UNKNOWN, description="why the app is in this state (older agents send none)"
    )
    target_digest: str | None = Field(
        default=None, description="the digest the agent is working towards or refused, when not serving it"
    )
    progress: Progress | None = Field(default=None, description="download progress, while downloading")
    device: str | None = Field(
        default=None, max_length=128, description="what serves it: CPU, GPU, NPU, AUTO:<picked>, a provider"
    )
    warning: str | None = Field(
        default=None,
        max_length=1000,
        description="e.g. DeviceUnavailable: served on the CPU instead, and why",
    )


_Word = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")]


class SiteFacts(_Model):
    """What a site has, as its agent finds it: placements select on these (``facts: {arch:
    arm64}``, ``memoryAtLeast``, ``accelerator``). Sizes in bytes; lists bounded."""

    arch: _Word = Field(description="OCI architecture word: amd64, arm64 (uname -m translated)")
    os: _Word = Field(default="linux")
    cpus: int = Field(ge=1, le=1 << 16, description="CPUs the agent's process may use")
    memory_bytes: int = Field(ge=0, description="physical memory")
    disk_free_bytes: int = Field(ge=0, description="free bytes on the file system of the agent's data folder")
    accelerators: list[_Word] = Field(
        default_factory=list,
        max_length=8,
        description="kinds a runtime here can use: gpu (an OpenVINO GPU device, or an ONNX Runtime GPU "
        "provider with its devices present), npu (an OpenVINO NPU device)",
    )
    openvino_devices: list[_Word] = Field(default_factory=list, max_length=32, description="OpenVINO's list")
    onnx_providers: list[_Word] = Field(
        default_factory=list, max_length=32, description="ONNX Runtime's available execution providers"
    )
    dri: list[_Word] = Field(default_factory=list, max_length=32, description="entries of /dev/dri")
    nvidia: list[_Word] = Field(default_factory=list, max_length=32, description="/dev/nvidia[0-9]* devices")
    aiedge_version: str = Field(default="", max_length=64)


class KindUsage(_Model):
    """Bytes one kind of traffic moved in a day, each way as the site sees it."""

    sent: Bytes = 0
    received: Bytes = 0


class DayUsage(_Model):
    """What a site's link carried in one UTC day, by kind: control (polls, enrolment, operators'
    requests), status, summaries, metrics (raw series to the hub), downloads (registries)."""

    day: date
    kinds: dict[Annotated[str, Field(max_length=32)], KindUsage] = Field(default_factory=dict, max_length=16)

    @property
    def total(self) -> int:
        return sum(k.sent + k.received for k in self.kinds.values())


class LinkUsage(_Model):
    """The site's own account of its link (in status reports since 1.2): recent days' bytes by
    kind, the budget it keeps to, and what it put off because of it."""

    budget: Bytes | None = Field(default=None, description="bytes a day it keeps to; None: no budget")
    metered: bool = False
    spent: bool = Field(default=False, description="today's budget is used up")
    deferred: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=100, description="what waits for the budget, for people"
    )
    days: list[DayUsage] = Field(
        default_factory=list, max_length=8, description="oldest first; last is today"
    )


class StatusReport(_Model):
    """What an agent tells the hub after each reconcile (and as a heartbeat)."""

    site: str
    observed_revision: str | None = None
    desired_digest: str | None = None
    apps: list[AppStatus] = Field(default_factory=list)
    last_error: str | None = None
    agent_version: str = ""
    time: datetime
    age_recipient: str | None = Field(
        default=None, description="the agent's age X25519 public key (age1...) for site secrets"
    )
    link: LinkUsage | None = Field(default=None, description="the site's link usage (since 1.2)")
    facts: SiteFacts | None = Field(default=None, description="what the site has (agents since facts)")


Count = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class AppMinute(_Model):
    """One app's requests in one minute, summed at the site from its raw scrapes with the hub's
    own arithmetic (:mod:`aiedge.telemetry.minutes`): counts, not rates (a rate is count / 60 s)."""

    app: str = Field(min_length=1, max_length=253)
    model: str = Field(default="", max_length=253, description="model name the app serves")
    version: str = Field(default="", max_length=100, description="the short image digest serving")
    minute: int = Field(ge=0, le=2**40, description="minutes since the epoch (UTC)")
    requests: Count = 0.0
    errors: Count = Field(default=0.0, description="requests the server failed (5xx)")
    rejected: Count = Field(default=0.0, description="requests refused as the client's mistake (4xx)")
    latency_sum: Count = Field(default=0.0, description="seconds, summed over requests")
    latency_count: Count = 0.0
    le: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=list,
        max_length=64,
        description="upper bounds (seconds, ascending) of the latency buckets that counted requests",
    )
    counts: list[Count] = Field(
        default_factory=list,
        max_length=65,
        description="requests at or under each bound (cumulative, as Prometheus buckets), then the +Inf "
        "bucket's when it counted any",
    )

    @model_validator(mode="after")
    def _buckets(self) -> AppMinute:
        if len(self.counts) not in (len(self.le), len(self.le) + 1):
            raise ValueError(
                f"counts: {len(self.counts)} values for {len(self.le)} bounds (want as many, or one more)"
            )
        if any(b <= a for a, b in zip(self.le, self.le[1:], strict=False)):
            raise ValueError("le: bounds must be ascending")
        return self


class MinuteSummaries(_Model):
    """Body of ``POST /api/v1/sites/{site}/minutes``: minutes the site has finished adding up."""

    site: str
    minutes: list[AppMinute] = Field(default_factory=list, max_length=10_000)


class SiteStatus(StrEnum):
    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"
    NEVER_SEEN = "never-seen"


class SiteSummary(_Model):
    """One row of the fleet view."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    status: SiteStatus
    last_seen: datetime | None = None
    desired_revision: str | None = None
    observed_revision: str | None = None
    apps: list[AppStatus] = Field(default_factory=list)
    last_error: str | None = None
    age_recipient: str | None = Field(
        default=None, description="the age recipient (age1...) the site's agent last reported"
    )
    declared_age_recipient: str | None = Field(
        default=None, description="the Site's spec.ageRecipient in the GitOps repo, its secrets' recipient"
    )
    link: LinkUsage | None = Field(default=None, description="the link usage the site last reported")
    facts: SiteFacts | None = Field(default=None, description="what the site last reported it has")
