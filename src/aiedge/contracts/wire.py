"""The base of every wire model: frozen, and tolerant of fields from newer peers (ignored, each
logged once per process), so an older hub takes a newer agent's report and an older agent a newer
hub's desired state."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

API_VERSION = "v1"

log = logging.getLogger("aiedge.contracts")
_unknown_seen: set[tuple[str, str]] = set()


def note_unknown(kind: str, name: str) -> None:
    if (kind, name) not in _unknown_seen:
        _unknown_seen.add((kind, name))
        log.info("ignoring %s %r from a newer peer (this is aiedge contracts %s)", kind, name, API_VERSION)


class WireModel(BaseModel):
    """Frozen wire models that ignore unknown fields (logged once each)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _log_unknown(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fields = cls.model_fields
            for key in data:
                if key not in fields:
                    note_unknown(f"field of {cls.__name__}", str(key))
        return data
