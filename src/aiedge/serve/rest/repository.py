"""The V2 model repository extension over REST: ``POST /v2/repository/index`` lists every model
version with its state (``{"ready": true}`` keeps the ready ones); ``.../models/NAME/load`` loads
(or reloads) a model, also one added to a repository folder after the server started;
``.../models/NAME/unload`` unloads it. Owns no state: the data plane does the work."""

from __future__ import annotations

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import BadRequest, ServeError
from aiedge.serve.limits import CONTROL_BODY_BYTES
from aiedge.serve.rest.asgi import Request, Response, Route, json_response
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.errors import error_response
from aiedge.serve.rest.jsonio import parse_json
from aiedge.serve.runtimes.base import LoadOptions


def routes(dp: DataPlane, options: LoadOptions, bodies: Bodies) -> list[Route]:
    async def index(request: Request) -> Response:
        try:
            held = await bodies.read(request, CONTROL_BODY_BYTES, "")
            bodies.release(held)
            doc = parse_json(request.body) if request.body else {}
            if not isinstance(doc, dict):
                raise BadRequest('body: expected a JSON object such as {"ready": true}')
            ready = doc.get("ready", False)
            if not isinstance(ready, bool):
                raise BadRequest("ready: expected true or false")
        except ServeError as e:
            return error_response(e)
        return json_response(dp.repository_index(ready))

    async def load(request: Request) -> Response:
        try:
            await dp.load(request.path_params["name"], options)
        except ServeError as e:
            return error_response(e)
        return json_response({})

    async def unload(request: Request) -> Response:
        try:
            dp.unload(request.path_params["name"])
        except ServeError as e:
            return error_response(e)
        return json_response({})

    return [
        Route("/v2/repository/index", index, ("POST",)),
        Route("/v2/repository/models/{name}/load", load, ("POST",)),
        Route("/v2/repository/models/{name}/unload", unload, ("POST",)),
    ]
