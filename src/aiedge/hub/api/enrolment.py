"""``POST /api/v1/enroll``: a one-time join token traded for the site's own credential."""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.contracts import EnrollRequest
from aiedge.hub.api.encoding import BadEncoding, DecodedTooLarge
from aiedge.hub.api.http import BadRequest, ErrorTable, Services, body, invalid, json, route
from aiedge.hub.enrolment import enroll
from aiedge.hub.errors import EnrolmentRefused
from aiedge.hub.signing import public_pem, signing_key

log = logging.getLogger("aiedge.hub")

ERRORS: ErrorTable = (
    (EnrolmentRefused, 403),
    (BadRequest, 400),
    (BadEncoding, 400),
    (DecodedTooLarge, 413),
)


def routes(hub: Services) -> list[BaseRoute]:
    hub_key = public_pem(signing_key(hub.settings.data))  # the agent keeps it to check bundles

    async def enroll_site(request: Request) -> Response:
        try:
            req = EnrollRequest.model_validate_json(await body(request))
        except ValidationError as e:
            return invalid(e)
        answer = await asyncio.to_thread(enroll, hub.store, req, hub.clock())
        log.info("site %s enrolled (age recipient %s)", answer.site, req.age_recipient or "not sent")
        return json(answer.model_copy(update={"hub_key": hub_key}).model_dump())

    return [route("/api/v1/enroll", enroll_site, "POST", ERRORS)]
