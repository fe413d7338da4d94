"""An app's serving settings (its App's, with the site's override) as the environment of
``aiedge serve`` (its ``AIEDGE_SERVE_*`` settings): the agent starts its servers with it and
``aiedge render`` writes it into the manifests, so both serve alike."""

from __future__ import annotations

from aiedge.contracts.v1 import DesiredApp


def serving_env(app: DesiredApp) -> dict[str, str]:
    """``AIEDGE_SERVE_*`` for the settings the app sets, over its plain ``env``."""
    env = dict(app.env)
    settings = {
        "AIEDGE_SERVE_DEVICE": app.device,
        "AIEDGE_SERVE_DEVICE_REQUIRED": "true" if app.device_required else None,
        "AIEDGE_SERVE_PRECISION": app.precision,
        "AIEDGE_SERVE_SLOTS": None if app.slots is None else str(app.slots),
        "AIEDGE_SERVE_QUEUE": None if app.queue is None else str(app.queue),
    }
    env.update({k: v for k, v in settings.items() if v is not None})
    return env
