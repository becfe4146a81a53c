"""Rankr events to a client: `POST <url>` with a JSON body signed
`X-Rankr-Signature: sha256=<hex HMAC-SHA256 of the raw body with the account's webhookSecret>`.
`forge` sends a wrong signature (`bad-signature`) or none (`no-signature`), for the client's checks."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import httpx

from mock_server import jsjson
from mock_server.http.tls import client_context

SIGNATURE_HEADER = "X-Rankr-Signature"
FORGERIES = ("bad-signature", "no-signature")
USER_AGENT = "Rankr-Webhooks/1.0 (ghl-sandbox)"
BODY_LIMIT = 2000  # characters of the client's answer kept in the report


def signature(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def headers_for(secret: str, raw: bytes, event_id: str, forge: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "x-rankr-event-id": event_id}
    if forge == "bad-signature":  # well-formed, but made with another secret
        headers[SIGNATURE_HEADER] = signature(secret + ":forged", raw)
    elif forge != "no-signature":
        headers[SIGNATURE_HEADER] = signature(secret, raw)
    return headers


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the client's HTTP status; None when no answer came
    body: str  # the client's answer, truncated
    latency_ms: float
    error: str | None


async def send(url: str, payload: dict[str, Any], secret: str, forge: str | None = None,
               timeout_s: float = 10.0) -> Outcome:
    raw = jsjson.dumps(payload)
    headers = headers_for(secret, raw, str(payload.get("eventId", "")), forge)
    started = time.perf_counter()
    status: int | None = None
    text, error = "", None
    try:
        async with httpx.AsyncClient(timeout=timeout_s, verify=client_context()) as client:
            response = await client.post(url, content=raw, headers=headers)
        status, text = response.status_code, response.text[:BODY_LIMIT]
    except httpx.TimeoutException:
        error = f"timeout after {timeout_s:g} s"
    except Exception as exc:  # refused, reset, bad URL...: reported, never raised
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = round((time.perf_counter() - started) * 1000, 3)
    return Outcome(status, text, latency, error)
