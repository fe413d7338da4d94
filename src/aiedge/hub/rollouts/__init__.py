"""Progressive rollouts of a new app digest: the plain data (:mod:`.model`), the pure rules
(:mod:`.rules`) and how the API shows one (:mod:`.view`). The store keeps them; the fleet runs
the rules inside its transactions."""

from aiedge.hub.rollouts.model import Rollout, SiteProgress
from aiedge.hub.rollouts.rules import Holdbacks, relevant, start_rollouts, step, targets
from aiedge.hub.rollouts.view import as_json

__all__ = ["Holdbacks", "Rollout", "SiteProgress", "as_json", "relevant", "start_rollouts", "step", "targets"]
