"""Model versions on disk: a model directory either holds version folders (``1/``, ``2/`` ...,
the OpenVINO Model Server / Triton layout) or is itself one version (served as ``1``)."""

from __future__ import annotations

import json
from pathlib import Path

from aiedge.serve.errors import UnknownModelFormat
from aiedge.serve.mlmodel import read_model_settings

DEFAULT_VERSION = "1"


def discover_versions(path: Path, version: str | None = None) -> dict[str, Path]:
    """Version name -> directory or file, in ascending order. ``version`` names an unversioned model."""
    if not path.exists():
        raise UnknownModelFormat(f"{path}: no such file or directory")
    if path.is_dir():
        numbered = sorted(
            (p for p in path.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
        )
        if numbered:
            if version is not None:
                chosen = [p for p in numbered if p.name == version]
                if not chosen:
                    have = ", ".join(p.name for p in numbered)
                    raise UnknownModelFormat(f"{path}: no version folder {version!r} (have {have})")
                return {version: chosen[0]}
            return {p.name: p for p in numbered}
    if version is None and path.is_dir() and (path / "model-settings.json").is_file():
        version = read_model_settings(path)[1]
    return {version or DEFAULT_VERSION: path}


def settings_name(path: Path) -> str | None:
    """The ``name`` an MLServer ``model-settings.json`` gives the model in ``path``, if any (MLServer
    serves it under that name, so its clients call it so)."""
    file = path / "model-settings.json"
    try:
        if not file.is_file() or file.stat().st_size > 1024 * 1024:
            return None
        doc = json.loads(file.read_text())
    except (OSError, ValueError):
        return None  # unreadable: the format check says why
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) and name and "/" not in name else None


def latest(versions: dict[str, Path]) -> str:
    return max(versions, key=lambda v: (int(v) if v.isdigit() else -1, v))
