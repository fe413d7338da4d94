"""The GitOps repo: its schema (App, Site, Placement), loading with file:line:col errors and
warnings, reading a Git revision or a directory within limits, computing one site's desired
state, editing an App, and rendering Kubernetes manifests. It knows nothing of the hub's HTTP API
or the agent."""

from aiedge.gitops.checks import repo_warnings
from aiedge.gitops.desired import awaiting_build, desired_for_site
from aiedge.gitops.edit import set_app_image
from aiedge.gitops.errors import GitopsError, Problem, RepoInvalid, UnknownSite
from aiedge.gitops.limits import ReadLimits
from aiedge.gitops.loader import GitopsRepo, ParseCache, load_repo
from aiedge.gitops.source import Snapshot, read_directory, read_git_head, read_source

__all__ = [
    "GitopsError",
    "GitopsRepo",
    "ParseCache",
    "Problem",
    "ReadLimits",
    "RepoInvalid",
    "Snapshot",
    "UnknownSite",
    "awaiting_build",
    "desired_for_site",
    "load_repo",
    "read_directory",
    "read_git_head",
    "read_source",
    "repo_warnings",
    "set_app_image",
]
