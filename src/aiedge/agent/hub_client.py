"""The agent's side of the hub API v1 (see :mod:`aiedge.contracts.v1`): long-poll the site's
desired state, post status reports. Maps transport failures to classified agent errors.

Thin on the wire: requests carry only the headers the hub needs (no User-Agent or Accept), and
once the hub has announced its heartbeat (``X-Aiedge-Heartbeat`` on a desired state) a poll is
``If-None-Match`` with the state's short ETag, held for that heartbeat, and report bodies go
gzipped. A hub that says ``X-Aiedge-Requests`` on a desired state tells in its polls when
operators' requests wait (``1``), which sets :attr:`HubClient.requests_waiting`: the agent then
fetches its requests only when told, instead of holding a second long poll for them. An older
hub announces nothing and gets what it always got.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from pathlib import Path

import httpx
from pydantic import TypeAdapter, ValidationError

from aiedge.agent.errors import FetchFailed, Stalled, Unauthorized, Waiting
from aiedge.agent.link import LinkMeter, MeteredTransport, hub_kind
from aiedge.contracts import (
    AppMinute,
    DesiredState,
    DriftReport,
    MinuteSummaries,
    SiteAnswer,
    SiteRequest,
    StatusReport,
)

_REQUESTS = TypeAdapter(list[SiteRequest])
# idle connections are kept longer than the longest gap between two posts (a minute's summary),
# so a post rides an open connection instead of paying a new TCP and TLS handshake
KEEPALIVE_S = 120.0
HEARTBEAT = "x-aiedge-heartbeat"
REQUESTS = "x-aiedge-requests"


def hub_http_client(ca: Path | None = None, meter: LinkMeter | None = None) -> httpx.AsyncClient:
    """The HTTP client for the hub: HTTPS checked against ``ca`` when given (a private CA), else
    against the system's CAs; never follows redirects; no header the hub does not read; every
    byte counted by ``meter``."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
    transport: httpx.AsyncBaseTransport | None = None
    if meter is not None:
        transport = MeteredTransport(httpx.AsyncHTTPTransport(verify=verify, limits=limits), meter, hub_kind)
    client = httpx.AsyncClient(
        follow_redirects=False,
        verify=verify,
        limits=limits,
        headers={"Accept-Encoding": "gzip"},
        transport=transport,
    )
    for name in ("User-Agent", "Accept", "Connection"):
        del client.headers[name]
    return client


class HubClient:
    """One hub, one site; the ``httpx.AsyncClient`` is made by the entry point and passed in."""

    def __init__(self, client: httpx.AsyncClient, hub: str, site: str, token: str | None = None) -> None:
        self._client = client
        self._base = f"{hub.rstrip('/')}/api/v1/sites/{site}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.hub = hub
        self.site = site
        self.heartbeat: float | None = None
        """Seconds the hub holds a poll at most, as it announced; None for an older hub."""
        self._etag: str | None = None  # of the last desired state received
        self.tells_requests: bool | None = None
        """Whether the hub's polls say when operators' requests wait; None until known."""
        self.requests_waiting = asyncio.Event()
        """Set when a poll said that operators' requests wait for the site."""
        self.known = asyncio.Event()
        """Set once a desired state came: the hub's ways (heartbeat, requests) are known."""

    async def fetch_desired(self, after: str | None, wait: float) -> DesiredState | None:
        """The desired state, or None when it is still ``after`` (304 after the long poll). A hub
        that announced its heartbeat holds the poll that long instead of ``wait``."""
        params: dict[str, str] = {}
        headers = self._headers
        if self._etag is None:
            wait = 0.0  # the first poll of the process is answered at once: it learns the hub's ways
        elif after and self.heartbeat is not None:
            wait = self.heartbeat
            params = {"wait": f"{wait:g}"}
            headers = {**headers, "If-None-Match": self._etag}
        elif after:
            params = {"after": after, "wait": f"{wait:g}"}
        try:
            r = await self._client.get(
                f"{self._base}/desired",
                params=params,
                headers=headers,
                timeout=httpx.Timeout(10.0, read=wait + 15.0),
            )
        except httpx.TransportError as e:
            raise FetchFailed(f"hub {self.hub} unreachable: {_why(e)}") from e
        if r.headers.get(REQUESTS) == "1":
            self.requests_waiting.set()
        if r.status_code == 304:
            return None
        self._check(r, "desired state")
        try:
            state = DesiredState.model_validate_json(r.content)
        except ValidationError as e:
            raise FetchFailed(f"hub {self.hub} sent an invalid desired state: {e.errors()[0]['msg']}") from e
        if state.site != self.site:
            raise Stalled(f"hub {self.hub} sent the desired state of site {state.site!r}, not {self.site!r}")
        self._etag = r.headers.get("etag") or f'"{state.digest}"'
        self.heartbeat = _seconds(r.headers.get(HEARTBEAT))
        self.tells_requests = REQUESTS in r.headers
        self.known.set()
        return state

    @property
    def takes_summaries(self) -> bool | None:
        """Whether the hub takes minute summaries (it announced a heartbeat); None until known."""
        return None if self._etag is None else self.heartbeat is not None

    async def post_status(self, report: StatusReport) -> None:
        await self._post("status", report.model_dump_json().encode(), "status report", 10.0)

    async def post_minutes(self, minutes: list[AppMinute]) -> None:
        body = MinuteSummaries(site=self.site, minutes=minutes).model_dump_json(exclude_defaults=True)
        await self._post("minutes", body.encode(), "minute summaries", 30.0)

    async def _post(self, path: str, body: bytes, what: str, seconds: float) -> None:
        headers = {**self._headers, "Content-Type": "application/json"}
        if self.heartbeat is not None:  # a hub that announces its heartbeat takes gzip
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        try:
            r = await self._client.post(
                f"{self._base}/{path}", content=body, headers=headers, timeout=seconds
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
        await self._post(f"requests/{request_id}/answer", answer.model_dump_json().encode(), "answer", 30.0)

    async def post_drift(self, report: DriftReport) -> None:
        await self._post("drift", report.model_dump_json().encode(), "drift report", 10.0)

    def _check(self, r: httpx.Response, what: str) -> None:
        if r.status_code in (401, 403):
            raise Unauthorized(f"hub {self.hub} refused the {what} ({r.status_code}): check --token")
        if r.status_code == 404:
            raise Waiting(f"hub {self.hub} does not know site {self.site!r} (404): {_detail(r)}")
        if r.status_code >= 400:
            raise FetchFailed(f"hub {self.hub}: {what} answered {r.status_code}: {_detail(r)}")


def _seconds(text: str | None) -> float | None:
    """A heartbeat header's seconds: finite and positive, else None (treated as an older hub)."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and 0 < value < 86400 else None


def _why(e: httpx.TransportError) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _detail(r: httpx.Response) -> str:
    return r.text.strip().replace("\n", " ")[:200]
