"""The models a server holds: names, versions, load state (loading / ready / failed with a reason).

A model that fails to load stays listed as failed with its reason; the server keeps running.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiedge.serve.errors import ModelNotFound, ServeError
from aiedge.serve.loader import load_model
from aiedge.serve.repository import discover_versions, latest
from aiedge.serve.runtimes.base import LoadedModel, LoadOptions

log = logging.getLogger("aiedge.serve")

LOADING, READY, FAILED, UNLOADED = "loading", "ready", "failed", "unloaded"


@dataclass
class ModelVersion:
    name: str
    version: str
    path: Path
    state: str = LOADING
    reason: str = ""
    model: LoadedModel | None = None
    load_seconds: float = 0.0
    # estimate of predict time (see DataPlane.infer); starts high, so first calls use threads
    predict_s: float = 1.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


@dataclass
class ModelRegistry:
    models: dict[str, dict[str, ModelVersion]] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)  # repository folders: ``load`` finds new models there

    latest_version: dict[str, str] = field(default_factory=dict)  # model -> its latest version

    def add(self, name: str, versions: dict[str, Path]) -> None:
        self.models[name] = {v: ModelVersion(name, v, p) for v, p in versions.items()}
        self.latest_version[name] = latest(versions)

    def load_all(self, options: LoadOptions) -> None:
        """Load every version (blocking); failures are recorded, not raised."""
        for versions in self.models.values():
            for mv in versions.values():
                self.load(mv, options)

    def load(self, mv: ModelVersion, options: LoadOptions) -> None:
        mv.state, mv.reason = LOADING, ""
        t0 = time.perf_counter()
        try:
            mv.model = load_model(mv.path, options=options)
        except ServeError as e:
            mv.state, mv.reason = FAILED, str(e)
            log.error("model %s version %s failed to load: %s", mv.name, mv.version, e)
            return
        except Exception as e:  # a runtime's own error type: keep serving the others
            mv.state, mv.reason = FAILED, f"{type(e).__name__}: {e}"
            log.exception("model %s version %s failed to load", mv.name, mv.version)
            return
        mv.load_seconds = time.perf_counter() - t0
        mv.state = READY

    def unload(self, name: str) -> None:
        for mv in self._versions(name).values():
            if mv.model is not None:
                mv.model.close()
            mv.model, mv.state, mv.reason = None, UNLOADED, ""

    def reload(self, name: str, options: LoadOptions) -> list[ModelVersion]:
        """Load (again) every version of ``name``; a model folder added to a repository root since
        the server started is found by its name."""
        if name not in self.models:
            for root in self.roots:
                candidate = root / name
                if candidate.is_dir():
                    self.add(name, discover_versions(candidate))
                    break
        versions = self._versions(name)
        for mv in versions.values():
            self.load(mv, options)
        return list(versions.values())

    def _versions(self, name: str) -> dict[str, ModelVersion]:
        versions = self.models.get(name)
        if not versions:
            raise ModelNotFound(
                f"model {name!r} is not in the repository (models: {', '.join(self.models) or 'none'})"
            )
        return versions

    def get(self, name: str, version: str | None = None) -> ModelVersion:
        versions = self.models.get(name)
        if not versions:
            raise ModelNotFound(
                f"model {name!r} is not served here (models: {', '.join(self.models) or 'none'})"
            )
        if version is None:
            return versions[self.latest_version[name]]
        if version not in versions:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r} (versions: {', '.join(versions)})"
            )
        return versions[version]

    def all_versions(self) -> list[ModelVersion]:
        return [mv for versions in self.models.values() for mv in versions.values()]
