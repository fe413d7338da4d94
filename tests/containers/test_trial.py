"""The runnable housing image (base + the seed's TF SavedModel) under podman answers the seed's
request with the seed's answer: the library form of ``aiedge build --test-container``."""

from __future__ import annotations

import asyncio

import pytest

from aiedge.builder.trial import check_container
from aiedge.containers.engine import Podman
from aiedge.containers.layout import LayoutImage
from tests.containers.helpers import SMOKE


@pytest.mark.timeout(1800)
def test_housing_answers_in_podman(housing_image: LayoutImage, podman: Podman) -> None:
    check = asyncio.run(check_container(housing_image.transport_ref, SMOKE, podman=podman))
    assert check.result.ok, f"{check.result.summary()}\n{check.logs}"
    print(f"housing container ready in {check.ready_seconds:.1f}s")


@pytest.mark.timeout(1800)
def test_wrong_answer_fails_the_check(housing_image: LayoutImage, podman: Podman) -> None:
    wrong = SMOKE.model_copy(update={"response": {"predictions": [1.0]}})
    check = asyncio.run(check_container(housing_image.transport_ref, wrong, podman=podman))
    assert not check.result.ok and check.result.diffs
    assert podman.run("ps", "--all", "--quiet").strip() == ""  # removed either way
