"""Versioned wire contracts shared by the hub and the agent.

This package imports nothing else of aiedge's, so both sides can depend on it without depending
on each other. A change that breaks a field is a new API version (``/api/v1`` -> ``/api/v2``).
"""

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
    DayUsage,
    DesiredApp,
    DesiredState,
    EnrollRequest,
    EnrollResponse,
    KindUsage,
    LinkBudget,
    LinkUsage,
    MaintenanceWindow,
    MinuteSummaries,
    Progress,
    SiteStatus,
    SiteSummary,
    SmokeTest,
    StatusReport,
)

__all__ = [
    "API_VERSION",
    "IN_PROGRESS_REASONS",
    "REFUSED_REASONS",
    "AppHealth",
    "AppMinute",
    "AppReason",
    "AppStatus",
    "DayUsage",
    "DesiredApp",
    "DesiredState",
    "EnrollRequest",
    "EnrollResponse",
    "KindUsage",
    "LinkBudget",
    "LinkUsage",
    "MaintenanceWindow",
    "MinuteSummaries",
    "Progress",
    "RequestKind",
    "RequestSpec",
    "RequestState",
    "RequestView",
    "SiteAnswer",
    "SiteRequest",
    "SiteStatus",
    "SiteSummary",
    "SmokeTest",
    "StatusReport",
]
