"""The model-health settings an app's server is started with, in its environment as any
``aiedge serve`` setting: its App's drift window (``AIEDGE_SERVE_DRIFT_*``) and capture
(``AIEDGE_SERVE_CAPTURE_*``, into ``DATA/capture/APP/DIGEST-HEX``, where the capture uploader
finds it)."""

from __future__ import annotations

from pathlib import Path

from aiedge.contracts import DesiredApp


def capture_folder(root: Path, app: DesiredApp) -> Path:
    return root / app.name / app.digest.removeprefix("sha256:")


def serve_env(app: DesiredApp, capture_root: Path | None) -> dict[str, str]:
    """``capture_root``: where captures go (None: this runtime cannot take them, e.g. podman)."""
    env: dict[str, str] = {}
    if app.drift is not None:
        d = app.drift
        env["AIEDGE_SERVE_DRIFT"] = "true" if d.enabled else "false"
        env["AIEDGE_SERVE_DRIFT_SAMPLE"] = repr(d.sample)
        env["AIEDGE_SERVE_DRIFT_WINDOW"] = str(d.window)
        env["AIEDGE_SERVE_DRIFT_MIN_ROWS"] = str(d.min_rows)
    if app.capture is not None and capture_root is not None:
        c = app.capture
        env["AIEDGE_SERVE_CAPTURE_DIR"] = str(capture_folder(capture_root, app))
        env["AIEDGE_SERVE_CAPTURE_SAMPLE"] = repr(c.sample)
        env["AIEDGE_SERVE_CAPTURE_MAX_BYTES_PER_DAY"] = str(c.max_bytes_per_day)
        env["AIEDGE_SERVE_CAPTURE_MAX_BUFFER_BYTES"] = str(c.max_buffer_bytes)
        env["AIEDGE_SERVE_CAPTURE_DROP"] = ",".join(c.drop)
    return env
