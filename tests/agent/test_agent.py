"""The agent as a real process against a fake hub server, a real registry and real
``aiedge serve`` children: it serves the desired app on the site port and reports it healthy;
a new digest switches the model with no failed request; a version that fails its smoke test
never takes traffic, until its expected answer is corrected; a killed model server is
restarted; the hub going away changes nothing; SIGTERM stops everything and exits 0; restarted
with the hub down it serves from its disk."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiedge.contracts import AppHealth, AppReason
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, serve_children, serving, state
from tests.support import wait_until

SITE = "site-1"


class Traffic:
    """Requests in a loop from a thread, each on a new connection; counts the failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(20)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.answers.append(predict(self.port))
            except (httpx.HTTPError, AssertionError) as e:
                self.failures.append(repr(e))


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    h = FakeHub(SITE).start()
    yield h
    h.stop()


@pytest.mark.timeout(240)
def test_deliver_switch_smoke_gate_drift_and_offline(
    tmp_path: Path, hub: FakeHub, images: dict[str, str]
) -> None:
    v1 = app("tiny-app", images["v1"], "tiny", smoke_test("tiny", 1.0))
    port = v1.port
    hub.set_desired(state(SITE, 1, v1))
    agent = agent_proc(hub.url, SITE, tmp_path / "data", tmp_path / "agent.log")
    try:
        report = hub.wait_report(healthy_on(v1.digest), timeout=90, what="v1 healthy")
        assert report.observed_revision == state(SITE, 1, v1).revision
        assert report.desired_digest == state(SITE, 1, v1).digest
        assert report.apps[0].url == f"http://127.0.0.1:{port}"
        assert predict(port) == pytest.approx(answer(1.0))
        assert (tmp_path / "data" / "logs" / "tiny-app.log").exists()
        # a hub whose polls say nothing of operators' requests (older): the agent holds its own
        # long poll for them, after a first look at once
        wait_until(lambda: 240.0 in hub.request_waits, timeout=30, what="the poll for requests held")
        assert hub.request_waits[0] == 0.0

        # a new digest: switched with no failed request on the site port
        v2 = v1.model_copy(update={"image": images["v2"], "smoke_test": smoke_test("tiny", 2.0)})
        with Traffic(port) as traffic:
            hub.set_desired(state(SITE, 2, v2))
            hub.wait_report(healthy_on(v2.digest), timeout=90, what="v2 healthy")
            wait_until(lambda: bool(traffic.answers) and traffic.answers[-1] == pytest.approx(answer(2.0)))
        assert traffic.failures == []
        assert all(a in (pytest.approx(answer(1.0)), pytest.approx(answer(2.0))) for a in traffic.answers)

        # v3 answers 30.5 where its smoke test expects 20.5: it never takes traffic
        v3 = v2.model_copy(update={"image": images["v3"]})
        hub.set_desired(state(SITE, 3, v3))
        failed = hub.wait_report(
            lambda r: "SmokeTestFailed" in (r.apps[0].message if r.apps else ""),
            timeout=90,
            what="smoke fail",
        )
        assert failed.apps[0].digest == v2.digest
        assert failed.apps[0].health is AppHealth.DEGRADED
        assert failed.apps[0].reason is AppReason.SMOKE_TEST_FAILED
        assert failed.apps[0].target_digest == v3.digest
        assert failed.last_error is not None and "SmokeTestFailed" in failed.last_error
        assert predict(port) == pytest.approx(answer(2.0))

        # the same digest with its expected answer corrected in Git: a new attempt, not the old failure
        v3_fixed = v3.model_copy(update={"smoke_test": smoke_test("tiny", 3.0)})
        hub.set_desired(state(SITE, 5, v3_fixed))
        hub.wait_report(healthy_on(v3.digest), timeout=90, what="v3 healthy once its test is fixed")

        # back to v2: healthy again; then drift: every model server killed, the agent restarts them
        hub.set_desired(state(SITE, 4, v2))
        hub.wait_report(healthy_on(v2.digest), timeout=60, what="v2 healthy again")
        children = serve_children(agent.pid)
        assert children
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: serving(port, answer(2.0)), timeout=90, what="restarted after kill")
        hub.wait_report(healthy_on(v2.digest), timeout=60, what="healthy after restart")

        # the hub goes away: the site keeps serving
        hub.stop()
        wait_until(lambda: "unreachable" in agent.log(), timeout=30, what="agent notices the hub")
        assert predict(port) == pytest.approx(answer(2.0))
    finally:
        code = agent.stop()
    assert code == 0, agent.log()
    assert not serving(port, answer(2.0))

    # restarted with the hub still down: serves from state.json and the cache at once
    again = agent_proc(hub.url, SITE, tmp_path / "data", tmp_path / "agent-2.log")
    try:
        wait_until(lambda: serving(port, answer(2.0)), timeout=90, what="serving offline from disk")
    finally:
        assert again.stop() == 0, again.log()
