"""Progressive rollouts of a new app version: the plain data (:mod:`.model`), the pure rules
(:mod:`.rules`), the operator's commands (:mod:`.commands`) and how the API shows one
(:mod:`.view`). The store keeps them; the fleet runs the rules inside its transactions."""

from aiedge.hub.rollouts.commands import ACTIONS, RolloutCommandRefused, apply
from aiedge.hub.rollouts.model import Rollout, SiteProgress
from aiedge.hub.rollouts.rules import Holdbacks, attempt_key, relevant, start_rollouts, step, targets
from aiedge.hub.rollouts.view import as_json

__all__ = [
    "ACTIONS",
    "Holdbacks",
    "Rollout",
    "RolloutCommandRefused",
    "SiteProgress",
    "apply",
    "as_json",
    "attempt_key",
    "relevant",
    "start_rollouts",
    "step",
    "targets",
]
