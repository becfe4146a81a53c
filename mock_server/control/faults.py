"""Control plane for API fault rules: add, list, delete, clear."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mock_server.control.common import sandbox
from mock_server.control.validation import validated_body
from mock_server.errors import NotFound
from mock_server.http.errors import json_response


async def add_fault(request: Request) -> Response:
    data = await validated_body(request, "sandbox-add-fault")
    rule = sandbox(request).faults.add(data)  # what the schema cannot say, it refuses with Invalid (422)
    return json_response(rule.to_json(), status=201)


async def list_faults(request: Request) -> Response:
    return json_response([r.to_json() for r in sandbox(request).faults.rules])


async def delete_fault(request: Request) -> Response:
    rule_id = request.path_params["faultId"]
    if not sandbox(request).faults.remove(rule_id):
        raise NotFound(f"Fault rule {rule_id} not found")
    return json_response({"deleted": True, "id": rule_id})


async def clear_faults(request: Request) -> Response:
    return json_response({"cleared": sandbox(request).faults.clear()})
