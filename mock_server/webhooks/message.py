"""One delivery attempt's wire message, as the service that owns the event renders it."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.webhooks.policy import RetryPolicy


@dataclass(frozen=True)
class WebhookMessage:
    body: bytes  # the exact bytes sent (and signed)
    headers: dict[str, str]  # content-type and signatures included
    policy: RetryPolicy | None = None  # the service's own retry policy, when it is not the sandbox's
    method: str = "POST"  # the HTTP method of the attempt
    url: str | None = None  # where to send it (None: the target's URL); a service may render it per event
