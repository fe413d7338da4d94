"""The ceiling of the serving stack: a bare ASGI app on the same uvicorn, uvloop and httptools as
`aiedge serve`, that reads the request body and answers a fixed V2 response. No routing, no model,
no JSON work: what any server on this stack spends per request at the least.

    python benchmarks/serve_ceiling_app.py PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

BODY = (
    b'{"model_name":"gbr","model_version":"1","outputs":[{"name":"variable","datatype":"FP32",'
    b'"shape":[1,1],"data":[1.2345678]}]}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
    )
