"""The baseline: a bare Starlette app that answers the same paths with the same bytes as the sandbox,
served the same way (uvicorn, one worker, no access log, no lifespan, no server header, no proxy headers).

    python -m benchmarks.bare_app BODIES.json

BODIES.json is `{"/payments/orders": "<body>", "/payments/orders/{orderId}": "<body>", ...}` (the
exact bodies the sandbox answered, fetched by benchmarks.run). Each request serialises the parsed
document with orjson, as a minimal real JSON endpoint would; start-up checks that this gives back the
very same bytes (else it serves the stored bytes). Prints `BARE_READY <url>` once it serves.
"""

from __future__ import annotations

import socket
import sys

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

JSON = "application/json; charset=utf-8"


def _endpoint(raw: bytes):  # type: ignore[no-untyped-def]
    doc = orjson.loads(raw)
    if orjson.dumps(doc) == raw:
        async def endpoint(request: Request) -> Response:
            return Response(orjson.dumps(doc), media_type=JSON)
    else:  # pragma: no cover - orjson round-trips its own output
        async def endpoint(request: Request) -> Response:
            return Response(raw, media_type=JSON)
    return endpoint


def build(bodies: dict[str, str]) -> Starlette:
    return Starlette(routes=[Route(path, _endpoint(body.encode()), methods=["GET"]) for path, body in bodies.items()])


def main(argv: list[str]) -> None:
    import uvicorn

    with open(argv[0], "rb") as fh:
        bodies = orjson.loads(fh.read())
    app = build(bodies)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"BARE_READY http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
