"""Control plane for webhooks out: targets, delivery chaos, deliveries and attempts, redelivery,
public keys, and `GET /_sandbox/wait?for=deliveries-settled`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from mock_server.clock import iso_ms
from mock_server.control.common import body, sandbox
from mock_server.control.validation import check_body, validated_body, validated_query
from mock_server.errors import Invalid, NotFound
from mock_server.http.errors import json_response
from mock_server.webhooks import queries as webhook_queries
from mock_server.webhooks.chaos import Chaos
from mock_server.webhooks.models import Attempt, Delivery, WebhookTarget
from mock_server.webhooks.queries import DeliveryFilter

if TYPE_CHECKING:
    from mock_server.runtime import Runtime


def target_view(t: WebhookTarget, service: str) -> dict[str, Any]:
    """`service`: the resolved name of the service whose events it receives (`Runtime.service_name`)."""
    return {"id": t.id, "url": t.url, "events": t.events, "locationId": t.location_id, "chaos": t.chaos or None,
            "active": t.active, "createdAt": iso_ms(t.created_at), "service": service,
            "options": t.options or None}


def attempt_view(a: Attempt, d: Delivery | None = None, url: str = "") -> dict[str, Any]:
    out = {"deliveryId": a.delivery_id, "attempt": a.n, "time": iso_ms(a.at), "status": a.status_code,
           "latencyMs": a.latency_ms, "error": a.error or None, "outcome": a.outcome,
           "nextAttemptAt": iso_ms(a.next_attempt_at) if a.next_attempt_at is not None else None}
    if d is not None:
        out.update({"targetId": d.target_id, "url": url, "event": d.event_type, "webhookId": d.webhook_id})
    return out


def delivery_view(d: Delivery, attempts: list[Attempt], url: str, service: str) -> dict[str, Any]:
    return {"id": d.id, "seq": d.seq, "targetId": d.target_id, "url": url, "event": d.event_type, "service": service,
            "eventId": d.event_id, "webhookId": d.webhook_id, "locationId": d.location_id, "status": d.status,
            "attempts": [attempt_view(a) for a in attempts], "attemptCount": d.attempts,
            "lastStatus": d.last_status, "lastError": d.last_error or None,
            "nextAttemptAt": iso_ms(d.next_attempt_at) if d.status == "queued" else None,
            "duplicateOf": d.duplicate_of or None, "chaos": d.chaos or None, "createdAt": iso_ms(d.created_at)}


# What contracts/sandbox-control.openapi.yaml declares (WebhookTargetRequest.url): a host name (letters,
# digits, `-`, `_`; the last label holds a letter) or a dotted IPv4 address, an optional port 1-65535, then
# printable ASCII. httpx must be able to send to it too (that refuses bad punycode such as `xn--`).
# Bracketed IPv6 literals are accepted when httpx can parse them.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = (rf"^https?://(?:(?:[A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*|(?:{_OCTET}\.){{3}}{_OCTET})"
               rf"(?::{_PORT})?(?:[/?#][!-~]*)?$")
_URL = re.compile(URL_PATTERN)


def receiver_url(value: Any) -> str:
    """An absolute http(s) URL the worker can actually send to (else a 422 now, not a stuck delivery). Also
    used by the other endpoints that send to a URL from the body (webhooks/forge, rankr/events)."""
    ipv6 = isinstance(value, str) and value.startswith(("http://[", "https://[")) and not any(c.isspace() for c in value)
    if isinstance(value, str) and (_URL.fullmatch(value) or ipv6):
        try:
            parsed = httpx.URL(value)
            ok = bool(parsed.host) and "%" not in parsed.host and (parsed.port is None or 0 < parsed.port < 65536)
        except Exception:  # httpx.InvalidURL, idna errors, ...
            ok = False
        if ok:
            return value
    raise Invalid("url must be an http:// or https:// URL")


async def add_target(request: Request) -> Response:
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-add-webhook-target")
    url = receiver_url(data["url"])
    location_id = data.get("locationId")
    if location_id is not None and sb.location(location_id) is None:
        raise Invalid("locationId must be the id of a sandbox location")
    target = sb.webhooks.add_target(url, data.get("events"), location_id, data.get("chaos"))
    return json_response(target_view(target, sb.service_name(target.service)), status=201)


async def list_targets(request: Request) -> Response:
    sb = sandbox(request)
    return json_response([target_view(t, sb.service_name(t.service)) for t in sb.webhooks.targets()])


async def delete_target(request: Request) -> Response:
    target_id = request.path_params["targetId"]
    if not sandbox(request).webhooks.remove_target(target_id):
        raise NotFound(f"Webhook target {target_id} not found")
    return json_response({"deleted": True, "id": target_id})


async def put_target_chaos(request: Request) -> Response:
    target_id = request.path_params["targetId"]
    data = await body(request)
    if sandbox(request).webhooks.target(target_id) is None:  # an unknown target is 404 whatever the chaos
        raise NotFound(f"Webhook target {target_id} not found")
    check_body("sandbox-set-target-chaos", data)
    target = sandbox(request).webhooks.set_target_chaos(target_id, data or None)
    if target is None:  # removed meanwhile
        raise NotFound(f"Webhook target {target_id} not found")
    return json_response(target_view(target, sandbox(request).service_name(target.service)))


async def get_chaos(request: Request) -> Response:
    return json_response(sandbox(request).webhooks.global_chaos.to_json())


async def put_chaos(request: Request) -> Response:
    operation_id = "sandbox-set-chaos" if request.method == "PUT" else "sandbox-set-chaos-post"
    chaos = Chaos.parse(await validated_body(request, operation_id))
    sandbox(request).webhooks.set_global_chaos(chaos)
    return json_response(chaos.to_json())


async def clear_chaos(request: Request) -> Response:
    sandbox(request).webhooks.set_global_chaos(Chaos())
    return json_response(Chaos().to_json())


async def list_deliveries(request: Request) -> Response:
    sb = sandbox(request)
    q = request.query_params
    deliveries = webhook_queries.deliveries(sb.store, DeliveryFilter(
        status=q.get("status"), target_id=q.get("targetId"), webhook_id=q.get("webhookId"),
        location_id=q.get("locationId"), event_id=q.get("eventId"), event_type=q.get("event")))
    service = q.get("service")
    if service:
        deliveries = [d for d in deliveries if sb.service_name(d.service) == service]
    urls = {t.id: t.url for t in sb.webhooks.targets()}
    by_delivery: dict[str, list[Attempt]] = {}
    for a in sb.store.table(Attempt).all(order="created_at"):
        by_delivery.setdefault(a.delivery_id, []).append(a)
    views = [delivery_view(d, by_delivery.get(d.id, []), urls.get(d.target_id, ""), sb.service_name(d.service))
             for d in deliveries]
    flat = sorted((attempt_view(a, d, urls.get(d.target_id, "")) for d in deliveries for a in by_delivery.get(d.id, [])),
                  key=lambda a: a["time"])
    return json_response({"deliveries": views, "attempts": flat, "counts": sb.webhooks.counts()})


async def redeliver(request: Request) -> Response:
    sb = sandbox(request)
    delivery = sb.webhooks.redeliver(request.path_params["deliveryId"])
    if delivery is None:
        raise NotFound(f"Delivery {request.path_params['deliveryId']} not found")
    urls = {t.id: t.url for t in sb.webhooks.targets()}
    return json_response(delivery_view(delivery, [], urls.get(delivery.target_id, ""), sb.service_name(delivery.service)),
                         status=201)


async def keys(request: Request) -> Response:
    signer = sandbox(request).signer
    return json_response({"ed25519PublicKey": signer.ed25519_public_pem, "rsaPublicKey": signer.rsa_public_pem,
                          "signatures": {"x-ghl-signature": signer.sign_ed25519, "x-wh-signature": signer.sign_rsa}})


async def wait(request: Request) -> Response:
    timeout = float(validated_query(request, "sandbox-wait").get("timeout", 10.0))  # `for` has one value
    sb = sandbox(request)
    settled = await sb.webhooks.wait_settled(timeout)
    return json_response({"settled": settled, "counts": sb.webhooks.counts()}, status=200 if settled else 408)


async def put_policy(request: Request) -> Response:
    """`PUT /_sandbox/webhooks/policy {name?, retryIntervalS?, maxRetries?, factor?, timeoutS?}`."""
    sb = sandbox(request)
    data = await validated_body(request, "sandbox-set-webhook-policy")
    policy = sb.webhooks.policy
    name = data.get("name", policy.name)
    # A null number keeps its value (WebhookPolicyRequest).
    values = {key: data[key] for key in ("retryIntervalS", "maxRetries", "factor", "timeoutS")
              if data.get(key) is not None}
    sb.set_webhook_policy(name, float(values.get("retryIntervalS", policy.interval_s)),
                          int(values.get("maxRetries", policy.max_retries)), float(values.get("factor", policy.factor)),
                          float(values["timeoutS"]) if "timeoutS" in values else None)
    return json_response(policy_view(sb))


async def get_policy(request: Request) -> Response:
    return json_response(policy_view(sandbox(request)))


def policy_view(sb: Runtime) -> dict[str, Any]:
    p = sb.webhooks.policy
    return {"name": p.name, "retryIntervalS": p.interval_s, "maxRetries": p.max_retries, "factor": p.factor,
            "timeoutS": sb.webhooks.timeout_s}
