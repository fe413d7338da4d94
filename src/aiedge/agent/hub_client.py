"""The agent's side of the hub API v1 (see :mod:`aiedge.contracts.v1`): long-poll the site's
desired state, post status reports. Maps transport failures to classified agent errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from pydantic import TypeAdapter, ValidationError

from aiedge.agent.errors import FetchFailed, Stalled, Unauthorized, Waiting
from aiedge.contracts import DesiredState, SiteAnswer, SiteRequest, StatusReport

_REQUESTS = TypeAdapter(list[SiteRequest])


def hub_http_client(ca: Path | None = None) -> httpx.AsyncClient:
    """The HTTP client for the hub: HTTPS checked against ``ca`` when given (a private CA), else
    against the system's CAs; never follows redirects."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    return httpx.AsyncClient(follow_redirects=False, verify=verify)


class HubClient:
    """One hub, one site; the ``httpx.AsyncClient`` is made by the entry point and passed in."""

    def __init__(self, client: httpx.AsyncClient, hub: str, site: str, token: str | None = None) -> None:
        self._client = client
        self._base = f"{hub.rstrip('/')}/api/v1/sites/{site}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.hub = hub
        self.site = site

    async def fetch_desired(self, after: str | None, wait: float) -> DesiredState | None:
        """The desired state, or None when it is still ``after`` (304 after the long poll)."""
        params: dict[str, str] = {}
        if after:
            params = {"after": after, "wait": f"{wait:g}"}
        try:
            r = await self._client.get(
                f"{self._base}/desired",
                params=params,
                headers=self._headers,
                timeout=httpx.Timeout(10.0, read=wait + 15.0),
            )
        except httpx.TransportError as e:
            raise FetchFailed(f"hub {self.hub} unreachable: {_why(e)}") from e
        if r.status_code == 304:
            return None
        self._check(r, "desired state")
        try:
            state = DesiredState.model_validate_json(r.content)
        except ValidationError as e:
            raise FetchFailed(f"hub {self.hub} sent an invalid desired state: {e.errors()[0]['msg']}") from e
        if state.site != self.site:
            raise Stalled(f"hub {self.hub} sent the desired state of site {state.site!r}, not {self.site!r}")
        return state

    async def post_status(self, report: StatusReport) -> None:
        await self._post("status", report.model_dump_json(), "status report", 10.0)

    async def _post(self, path: str, body: str, what: str, seconds: float) -> None:
        try:
            r = await self._client.post(
                f"{self._base}/{path}",
                content=body,
                headers={**self._headers, "Content-Type": "application/json"},
                timeout=seconds,
            )
        except httpx.TransportError as e:
            raise FetchFailed(f"hub {self.hub} unreachable: {_why(e)}") from e
        self._check(r, what)

    async def fetch_requests(self, wait: float) -> list[SiteRequest]:
        """The operator's requests for this site (``aiedge logs``, ``aiedge diagnose``), held by
        the hub up to ``wait`` seconds while there are none."""
        try:
            r = await self._client.get(
                f"{self._base}/requests",
                params={"wait": f"{wait:g}"},
                headers=self._headers,
                timeout=httpx.Timeout(10.0, read=wait + 15.0),
            )
        except httpx.TransportError as e:
            raise FetchFailed(f"hub {self.hub} unreachable: {_why(e)}") from e
        self._check(r, "requests")
        try:
            return _REQUESTS.validate_json(r.content)
        except ValidationError as e:
            raise FetchFailed(f"hub {self.hub} sent invalid requests: {e.errors()[0]['msg']}") from e

    async def post_answer(self, request_id: int, answer: SiteAnswer) -> None:
        await self._post(f"requests/{request_id}/answer", answer.model_dump_json(), "answer", 30.0)

    def _check(self, r: httpx.Response, what: str) -> None:
        if r.status_code in (401, 403):
            raise Unauthorized(f"hub {self.hub} refused the {what} ({r.status_code}): check --token")
        if r.status_code == 404:
            raise Waiting(f"hub {self.hub} does not know site {self.site!r} (404): {_detail(r)}")
        if r.status_code >= 400:
            raise FetchFailed(f"hub {self.hub}: {what} answered {r.status_code}: {_detail(r)}")


def _why(e: httpx.TransportError) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _detail(r: httpx.Response) -> str:
    return r.text.strip().replace("\n", " ")[:200]
