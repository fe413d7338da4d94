"""The published JSON Schema of the GitOps kinds, generated from the pydantic models (one
``anyOf`` over App, Site, Placement and SiteSecret), for editors (yaml-language-server) and CI."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from aiedge.gitops.schema import API_VERSION, Kind

SCHEMA_ID = "https://aiedge.io/schemas/v1alpha1/gitops.json"


def kinds_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) accepting any one document of our kinds."""
    schema = TypeAdapter[Kind](Kind).json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"aiedge GitOps kinds ({API_VERSION})",
        **schema,
    }
