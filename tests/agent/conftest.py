"""Fixtures of the agent tests: test images in the real registry (fake hubs: the root conftest)."""

from __future__ import annotations

import pytest

from tests.agent.images import push_model_image


@pytest.fixture(scope="session")
def images(registry: str) -> dict[str, str]:
    """Three versions of the model ``tiny``: answers ``10 * scale + 0.5`` for the test row."""
    return {
        "v1": push_model_image(registry, "agent/tiny", "tiny", 1.0),
        "v2": push_model_image(registry, "agent/tiny", "tiny", 2.0),
        "v3": push_model_image(registry, "agent/tiny", "tiny", 3.0),
    }
