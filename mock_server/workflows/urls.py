"""The workflows service's routes on the sandbox's API host: the Inbound Webhook trigger's URL."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from mock_server.workflows.responses import inbound_webhook

INBOUND_PATH = "/hooks/{locationId}/webhook-trigger/{triggerId}"


def workflows_routes() -> list[BaseRoute]:
    return [Route(INBOUND_PATH, inbound_webhook, methods=["POST", "GET", "PUT"])]
