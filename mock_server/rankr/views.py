"""The JSON shapes Rankr answers with (and the control plane lists)."""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso_ms
from mock_server.rankr.models import RankrPost, RankrRecord, RankrSend, RankrWrite


def record_view(r: RankrRecord) -> dict[str, Any]:
    # The client's own `updatedAt` stays as sent; the server's times have names of their own.
    return {**r.body, "createdAt": iso_ms(r.created_at), "storedAt": iso_ms(r.stored_at), "version": r.version}


def post_view(p: RankrPost) -> dict[str, Any]:
    return {"id": p.id, **p.body, "receivedAt": iso_ms(p.received_at)}


def write_view(w: RankrWrite) -> dict[str, Any]:
    return {"id": w.id, "locationId": w.location_id, "method": w.method, "path": w.path, "collection": w.collection,
            "key": w.key, "recordId": w.record_id, "status": w.status, "outcome": w.outcome, "time": iso_ms(w.at)}


def send_view(s: RankrSend) -> dict[str, Any]:
    return {"id": s.id, "locationId": s.location_id, "eventId": s.event_id, "eventType": s.event_type,
            "orderId": s.order_id, "items": s.items, "url": s.url, "time": iso_ms(s.at), "status": s.status,
            "error": s.error, "latencyMs": s.latency_ms, "forge": s.forge}
