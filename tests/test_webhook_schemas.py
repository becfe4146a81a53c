"""Real webhook deliveries against our published webhook schemas (contracts/webhooks/*.schema.json).

A server subprocess delivers to a small receiver on 127.0.0.1; `order.create` and `order.pay` are
simulated; every body received is validated (JSON Schema 2020-12, formats on, with jsonschema_rs, which
schemathesis already brings) and compared with GHL's published example of the event: every top-level
key GHL shows must be in ours.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from cryptography.hazmat.primitives import serialization

from mock_server.testing import SandboxProcess

SCHEMAS = Path(__file__).resolve().parent.parent / "contracts" / "webhooks"
EVENTS = ("OrderCreate", "OrderStatusUpdate")
# GHL's published OrderCreate / OrderStatusUpdate (identical shapes): the top-level keys of its example and
# the contact snapshot keys of its schema. Re-read from the reference copies when they are around.
OFFICIAL = Path("/work/shared/reference/webhook-events")
EXAMPLE_KEYS = frozenset({
    "type", "locationId", "_id", "altId", "altType", "status", "taxSummary", "fulfillmentStatus", "contactId",
    "currency", "amount", "liveMode", "amountSummary", "source", "createdAt", "updatedAt", "contactSnapshot", "items"})
SNAPSHOT_KEYS = frozenset({
    "locationId", "id", "address1", "city", "companyName", "country", "source", "dateAdded", "dateOfBirth", "dnd",
    "email", "name", "firstName", "lastName", "phone", "postalCode", "state", "tags", "website", "attachments",
    "assignedTo"})


def official_keys(event: str) -> tuple[set[str], set[str]]:
    path = OFFICIAL / f"{event}.json"
    if not path.exists():
        return set(EXAMPLE_KEYS), set(SNAPSHOT_KEYS)
    official = json.loads(path.read_text())
    assert official["example"]["type"] == event
    return (set(official["example"]) | set(official["schema"]["properties"]),
            set(official["schema"]["properties"]["contactSnapshot"]["properties"]))


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/ghl"


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with self.server.lock:
            self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def deliveries() -> Iterator[dict[str, Any]]:
    """order.create then order.pay on a fresh server; every delivery the receiver got, and the keys."""
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        with SandboxProcess(["--rate-limit", "off"]) as proc, httpx.Client(base_url=proc.url + "/_sandbox",
                                                                          timeout=30) as control:
            control.post("/webhooks/targets", json={"url": receiver.url}).raise_for_status()
            created = control.post("/simulate/order.create", json={}).json()
            order_id = next(r["id"] for r in created["resources"] if r["type"] == "order")
            control.post("/simulate/order.pay", json={"orderId": order_id}).raise_for_status()
            waited = control.get("/wait", params={"for": "deliveries-settled", "timeout": 20})
            assert waited.status_code == 200, waited.text
            keys = control.get("/keys").json()
        with receiver.lock:
            yield {"received": list(receiver.received), "keys": keys, "orderId": order_id}
    finally:
        receiver.shutdown()
        receiver.server_close()


def _by_type(deliveries: dict[str, Any], event: str) -> list[tuple[dict[str, str], bytes, dict[str, Any]]]:
    out = []
    for headers, raw in deliveries["received"]:
        body = json.loads(raw)
        if body.get("type") == event:
            out.append((headers, raw, body))
    return out


@pytest.mark.parametrize("event", EVENTS)
def test_schema_files_are_valid_2020_12_schemas(event: str) -> None:
    schema = json.loads((SCHEMAS / f"{event}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema_rs.meta.validate(schema)
    assert schema["properties"]["type"] == {"const": event, "description": "Event name."}


def test_order_create_and_pay_send_one_event_each(deliveries: dict[str, Any]) -> None:
    created, updated = _by_type(deliveries, "OrderCreate"), _by_type(deliveries, "OrderStatusUpdate")
    assert [b["_id"] for _, _, b in created] == [deliveries["orderId"]]
    assert [b["_id"] for _, _, b in updated] == [deliveries["orderId"]]
    assert (created[0][2]["status"], created[0][2]["paymentStatus"]) == ("pending", "unpaid")
    assert (updated[0][2]["status"], updated[0][2]["paymentStatus"]) == ("completed", "paid")
    assert created[0][2]["webhookId"] != updated[0][2]["webhookId"]


@pytest.mark.parametrize("event", EVENTS)
def test_delivered_bodies_match_our_schema(deliveries: dict[str, Any], event: str) -> None:
    validator = jsonschema_rs.Draft202012Validator(json.loads((SCHEMAS / f"{event}.schema.json").read_text()),
                                                   validate_formats=True)
    received = _by_type(deliveries, event)
    assert received, f"no {event} delivered"
    for _, _, body in received:
        errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{event} body does not match {event}.schema.json:\n" + "\n".join(errors)
    # The other event's schema refuses it (the two differ exactly in `type`).
    other = next(e for e in EVENTS if e != event)
    other_validator = jsonschema_rs.Draft202012Validator(json.loads((SCHEMAS / f"{other}.schema.json").read_text()))
    assert not other_validator.is_valid(received[0][2])
    assert other_validator.is_valid({**received[0][2], "type": other})


@pytest.mark.parametrize("event", EVENTS)
def test_every_top_level_key_of_ghls_example_is_sent(deliveries: dict[str, Any], event: str) -> None:
    expected, snapshot_keys = official_keys(event)
    assert expected >= EXAMPLE_KEYS and snapshot_keys >= SNAPSHOT_KEYS
    schema = json.loads((SCHEMAS / f"{event}.schema.json").read_text())
    for _, _, body in _by_type(deliveries, event):
        assert not expected - set(body), f"{event} lacks {sorted(expected - set(body))}"
        assert not snapshot_keys - set(body["contactSnapshot"]), sorted(snapshot_keys - set(body["contactSnapshot"]))
    assert not expected - set(schema["required"]), f"schema does not require {sorted(expected - set(schema['required']))}"
    assert not snapshot_keys - set(schema["$defs"]["contactSnapshot"]["required"])


def test_signatures_verify_over_the_raw_body(deliveries: dict[str, Any]) -> None:
    """As GHL signs since it retired `x-wh-signature` (2026): Ed25519 `x-ghl-signature` only, over the raw
    bytes (the legacy RSA header, `--legacy-wh-signature`, is covered in test_webhooks.py)."""
    keys = deliveries["keys"]
    assert keys["signatures"] == {"x-ghl-signature": True, "x-wh-signature": False}
    ed25519 = serialization.load_pem_public_key(keys["ed25519PublicKey"].encode())
    assert deliveries["received"]
    for headers, raw in deliveries["received"]:
        assert headers["content-type"] == "application/json"
        assert {h for h in headers if h.endswith("-signature")} == {"x-ghl-signature"}
        ed25519.verify(base64.b64decode(headers["x-ghl-signature"]), raw)  # type: ignore[call-arg, union-attr]
