"""The agent with ``--verify-key`` (and ``--max-bandwidth``) as a real process, against a fake hub
server, a real registry and real ``aiedge serve`` children: an image signed (cosign simple signing,
``sha256-HEX.sig``) by the trusted key is fetched and served; one signed by another key and an
unsigned one are refused before any of their blobs is fetched, reported as ``SignatureInvalid``,
while the site keeps serving the signed version, after an agent restart too; once the missing
signature is pushed the agent takes the image without a new desired state. Bad values of the
two options are one line naming the option."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiedge.contracts import AppHealth, DesiredApp, DesiredState, StatusReport
from aiedge.oci.cosign import sign_image
from aiedge.oci.keys import generate_key_pair, load_private_key
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, predict_body, push_model_image, smoke_test
from tests.support import Proc, aiedge_cmd, wait_until

SITE = "site-signed"


def _state(revision: int, *apps: DesiredApp) -> DesiredState:
    return DesiredState(site=SITE, revision=f"main@sha1:{revision:040x}", apps=list(apps))


def _sign(image: str, key_file: Path) -> None:
    async def go() -> None:
        ref = ImageReference.parse(image)
        async with RegistryClient(ref.registry) as client:
            await sign_image(client, ref, load_private_key(key_file))

    asyncio.run(go())


def _serving(port: int, value: float) -> bool:
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/tiny/versions/1:predict", json=predict_body(), timeout=10
        )
        return r.status_code == 200 and r.json()["predictions"][0][0] == pytest.approx(value)
    except httpx.HTTPError:
        return False


def _healthy_on(digest: str) -> object:
    def check(r: StatusReport) -> bool:
        return bool(r.apps) and r.apps[0].digest == digest and r.apps[0].health is AppHealth.HEALTHY

    return check


def _refused(serving: str, refused: str) -> object:
    """Still serving ``serving``, refusing ``refused`` for its signature."""

    def check(r: StatusReport) -> bool:
        return (
            bool(r.apps)
            and r.apps[0].digest == serving
            and r.apps[0].message.startswith(f"SignatureInvalid: {refused}")
        )

    return check


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    h = FakeHub(SITE).start()
    yield h
    h.stop()


def _agent(hub_url: str, data: Path, log: Path, pub: Path) -> Proc:
    return Proc(
        aiedge_cmd(
            "agent", "--hub", hub_url, "--site", SITE, "--data", str(data), "--poll-interval", "0.5",
            "--verify-key", str(pub), "--max-bandwidth", "4MiB/s",
        ),
        log,
    )  # fmt: skip


@pytest.mark.timeout(240)
def test_only_signed_images_are_fetched_and_served(tmp_path: Path, registry: str, hub: FakeHub) -> None:
    key, pub = generate_key_pair(tmp_path / "trusted")
    other_key, _ = generate_key_pair(tmp_path / "other")
    signed = push_model_image(registry, "agent/signed", "tiny", 1.0)
    unsigned = push_model_image(registry, "agent/signed", "tiny", 2.0)
    wrong = push_model_image(registry, "agent/signed", "tiny", 3.0)
    _sign(signed, key)
    _sign(wrong, other_key)

    v1 = app("signed-app", signed, "tiny", smoke_test("tiny", 1.0))
    port = v1.port
    blobs = tmp_path / "data" / "blobs" / "sha256"
    hub.set_desired(_state(1, v1))
    agent = _agent(hub.url, tmp_path / "data", tmp_path / "agent.log", pub)
    try:
        hub.wait_report(_healthy_on(v1.digest), timeout=90, what="signed v1 healthy")
        assert _serving(port, answer(1.0))
        assert "images must be signed by cosign.pub" in agent.log()
        assert "downloads limited to 4MiB/s" in agent.log()

        # signed by a key the site does not trust: refused, v1 keeps serving
        v3 = v1.model_copy(update={"image": wrong, "smoke_test": smoke_test("tiny", 3.0)})
        hub.set_desired(_state(2, v3))
        report = hub.wait_report(_refused(v1.digest, v3.digest), timeout=60, what="wrong key refused")
        assert "none of its 1 signature(s) is verified by this key" in report.apps[0].message
        assert report.apps[0].health is AppHealth.DEGRADED
        assert report.last_error is not None and "SignatureInvalid" in report.last_error
        assert not (blobs / v3.digest.split(":")[1]).exists(), "a refused image's manifest was fetched"
        assert _serving(port, answer(1.0))

        # not signed at all: refused the same way
        v2 = v1.model_copy(update={"image": unsigned, "smoke_test": smoke_test("tiny", 2.0)})
        hub.set_desired(_state(3, v2))
        report = hub.wait_report(_refused(v1.digest, v2.digest), timeout=60, what="unsigned refused")
        assert "not signed (no sha256-" in report.apps[0].message
        assert not (blobs / v2.digest.split(":")[1]).exists()
        assert _serving(port, answer(1.0))
    finally:
        assert agent.stop() == 0, agent.log()

    # restarted while the desired image is still unsigned: serves what it had, refuses the rest
    again = _agent(hub.url, tmp_path / "data", tmp_path / "agent-2.log", pub)
    try:
        wait_until(lambda: _serving(port, answer(1.0)), timeout=90, what="v1 served after restart")
        hub.wait_report(_refused(v1.digest, v2.digest), timeout=60, what="still refused after restart")
        # the missing signature is pushed: taken without a new desired state
        _sign(unsigned, key)
        hub.wait_report(_healthy_on(v2.digest), timeout=90, what="v2 healthy once signed")
        assert _serving(port, answer(2.0))
    finally:
        assert again.stop() == 0, again.log()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-bandwidth", "10Mb/s"], "error: --max-bandwidth: '10Mb/s': 'Mb' is ambiguous"),
        (["--max-bandwidth", "lots"], "error: --max-bandwidth: 'lots' is not a rate"),
        (["--verify-key", "missing.pub"], "error: --verify-key missing.pub: No such file or directory"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run(
        aiedge_cmd("agent", "--hub", "http://127.0.0.1:9", "--data", str(tmp_path / "data"), *args),
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
