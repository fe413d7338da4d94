"""The model-health settings an app's server is started with: its App's drift window
(``AIEDGE_SERVE_DRIFT_*``), in the server's environment as any ``aiedge serve`` setting."""

from __future__ import annotations

from aiedge.contracts import DesiredApp


def serve_env(app: DesiredApp) -> dict[str, str]:
    env: dict[str, str] = {}
    if app.drift is not None:
        d = app.drift
        env["AIEDGE_SERVE_DRIFT"] = "true" if d.enabled else "false"
        env["AIEDGE_SERVE_DRIFT_SAMPLE"] = repr(d.sample)
        env["AIEDGE_SERVE_DRIFT_WINDOW"] = str(d.window)
        env["AIEDGE_SERVE_DRIFT_MIN_ROWS"] = str(d.min_rows)
    return env
