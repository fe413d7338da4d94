"""Versioned wire contracts shared by the hub and the agent.

This package imports nothing else of aiedge's, so both sides can depend on it without depending
on each other. A change that breaks a field is a new API version (``/api/v1`` -> ``/api/v2``).
"""

from aiedge.contracts.health import (
    AppDrift,
    CaptureConfig,
    DriftConfig,
    DriftReport,
    FeatureDrift,
    ShadowConfig,
)
from aiedge.contracts.requests import (
    RequestKind,
    RequestSpec,
    RequestState,
    RequestView,
    SiteAnswer,
    SiteRequest,
)
from aiedge.contracts.v1 import (
    API_VERSION,
    IN_PROGRESS_REASONS,
    REFUSED_REASONS,
    AppHealth,
    AppMinute,
    AppReason,
    AppStatus,
    DesiredApp,
    DesiredState,
    EnrollRequest,
    EnrollResponse,
    MaintenanceWindow,
    MinuteSummaries,
    Progress,
    SiteFacts,
    SiteStatus,
    SiteSummary,
    SmokeTest,
    StatusReport,
)

__all__ = [
    "API_VERSION",
    "IN_PROGRESS_REASONS",
    "REFUSED_REASONS",
    "AppDrift",
    "AppHealth",
    "AppMinute",
    "AppReason",
    "AppStatus",
    "CaptureConfig",
    "DesiredApp",
    "DesiredState",
    "DriftConfig",
    "DriftReport",
    "EnrollRequest",
    "EnrollResponse",
    "FeatureDrift",
    "MaintenanceWindow",
    "MinuteSummaries",
    "Progress",
    "RequestKind",
    "RequestSpec",
    "RequestState",
    "RequestView",
    "ShadowConfig",
    "SiteAnswer",
    "SiteFacts",
    "SiteRequest",
    "SiteStatus",
    "SiteSummary",
    "SmokeTest",
    "StatusReport",
]
