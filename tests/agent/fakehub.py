"""A fake hub *server* for agent tests: serves one site's DesiredState per the v1 contract (with
long polling) and records the StatusReports it receives. It is an older hub: its polls say
nothing of operators' requests, and it records the ``wait`` of each poll for them (none ever
comes). Runs uvicorn in a thread on loopback."""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.contracts import DesiredState, StatusReport
from tests.support import free_port, wait_until


class FakeHub:
    def __init__(self, site: str, token: str | None = None, port: int | None = None) -> None:
        self.site = site
        self.token = token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.desired: DesiredState | None = None
        self.reports: list[StatusReport] = []
        self.polls = 0
        self.request_waits: list[float] = []  # the wait of each poll for operators' requests
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        app = Starlette(
            routes=[
                Route("/api/v1/sites/{site}/desired", self._desired, methods=["GET"]),
                Route("/api/v1/sites/{site}/status", self._status, methods=["POST"]),
                Route("/api/v1/sites/{site}/requests", self._requests, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeHub:
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10, what="fake hub")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(10)

    def set_desired(self, state: DesiredState) -> None:
        self.desired = state
        if self._loop is not None and self._changed is not None:
            self._loop.call_soon_threadsafe(self._changed.set)

    def last_report(self) -> StatusReport | None:
        return self.reports[-1] if self.reports else None

    def wait_report(self, check: object, timeout: float = 60.0, what: str = "") -> StatusReport:
        """Wait for a report newer than now for which ``check(report)`` is true."""
        assert callable(check)
        since = len(self.reports)
        found: list[StatusReport] = []

        def seen() -> bool:
            for r in self.reports[since:]:
                if check(r):
                    found.append(r)
                    return True
            return False

        wait_until(seen, timeout=timeout, what=what or "status report")
        return found[0]

    def _authorized(self, request: Request) -> bool:
        return self.token is None or request.headers.get("authorization") == f"Bearer {self.token}"

    async def _desired(self, request: Request) -> Response:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._changed = asyncio.Event()
        assert self._changed is not None
        self.polls += 1
        if not self._authorized(request):
            return Response("bad token", status_code=401)
        if request.path_params["site"] != self.site or self.desired is None:
            return Response("no such site", status_code=404)
        after = request.query_params.get("after")
        wait = float(request.query_params.get("wait", "0"))
        deadline = time.monotonic() + min(wait, 5.0)
        while after and self.desired.digest == after:
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return Response(status_code=304)
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return Response(status_code=304)
        return Response(self.desired.model_dump_json(), media_type="application/json")

    async def _requests(self, request: Request) -> Response:
        wait = float(request.query_params.get("wait", "0"))
        self.request_waits.append(wait)
        await asyncio.sleep(min(wait, 5.0))
        return Response(b"[]", media_type="application/json")

    async def _status(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response("bad token", status_code=401)
        self.reports.append(StatusReport.model_validate_json(await request.body()))
        return Response(status_code=204)
