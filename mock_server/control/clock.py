"""The sandbox clock (`GET/POST /_sandbox/clock`)."""

from __future__ import annotations

from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import duration, sandbox
from mock_server.control.validation import validated_body
from mock_server.errors import Invalid
from mock_server.http.errors import json_response

# Timestamps must stay printable (datetime ends at year 9999); the clock stops well before.
CLOCK_LIMIT = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()


async def get_clock(request: Request) -> Response:
    return json_response(sandbox(request).clock.describe())


async def post_clock(request: Request) -> Response:
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-set-clock")
    freeze = data.get("freeze")
    advance = duration(data["advance"]) if data.get("advance") is not None else None
    if advance and sb.clock.now() + advance > CLOCK_LIMIT:
        raise Invalid("advance would move the sandbox clock past 9000-01-01")
    if freeze is True:
        sb.clock.freeze()
    elif freeze is False:
        sb.clock.unfreeze()
    if advance:
        sb.clock.advance(advance)
    sb.tick()  # due renewals, settlements and retries fire as the clock moves
    sb.webhooks.wake()
    return json_response(sb.clock.describe())
