"""The JSON shapes Rankr answers with (and the control plane lists)."""

from __future__ import annotations

from typing import Any

from mock_server.clock import iso_ms
from mock_server.rankr.models import (
    RankrAssignment,
    RankrAssignmentChange,
    RankrPost,
    RankrProvider,
    RankrRecord,
    RankrSend,
    RankrWrite,
)


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
            "orderId": s.order_id or None, "providerId": s.provider_id, "items": s.items, "url": s.url, "time": iso_ms(s.at), "status": s.status,
            "error": s.error, "latencyMs": s.latency_ms, "forge": s.forge}


# ---- routing ----------------------------------------------------------------------------------------


def provider_view(p: RankrProvider, available_now: bool, assigned_today: int) -> dict[str, Any]:
    """`GET /rankr/v1/providers`: the provider as the account sees it now (sandbox clock, its timezone)."""
    return {"providerId": p.provider_id, "name": p.name, "serviceAreas": p.service_areas,
            "dailyCapacity": p.daily_capacity, "availability": p.availability, "timezone": p.timezone,
            "available": p.available, "availableNow": available_now, "assignedToday": assigned_today,
            "remainingToday": max(0, p.daily_capacity - assigned_today)}


def provider_truth(p: RankrProvider, available_now: bool, assigned_today: int, today: str,
                   by_day: dict[str, int]) -> dict[str, Any]:
    """The control plane's view: the API's plus `today`, the availability history and the per-day counts."""
    history = [{"available": h["available"], "time": iso_ms(h["at"]), "source": h["source"],
                "eventId": h.get("eventId")} for h in p.history]
    return {**provider_view(p, available_now, assigned_today), "today": today, "availabilityHistory": history,
            "assignmentsByDay": by_day}


def assignment_view(a: RankrAssignment) -> dict[str, Any]:
    return {"orderId": a.order_id, "providerId": a.provider_id, "assignedAt": iso_ms(a.assigned_at),
            "previousProviderId": a.previous_provider_id}


def change_view(c: RankrAssignmentChange) -> dict[str, Any]:
    return {"id": c.id, "orderId": c.order_id, "action": c.action, "providerId": c.provider_id,
            "previousProviderId": c.previous_provider_id, "reason": c.reason, "time": iso_ms(c.at)}
