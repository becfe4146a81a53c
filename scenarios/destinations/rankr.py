"""The default destination: the sandbox's fake Rankr, read through the control plane (injected Rankr
faults never blind the harness). Exposes every kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scenarios.destinations.base import KINDS, Destination, KindRead, adapter
from scenarios.project import Table

COLLECTIONS = {"orders": "orders", "transactions": "transactions", "subscriptions": "subscriptions",
               "events": "events", "alerts": "alerts", "payments": "payments", "customers": "customers"}


def rankr_records(control: Callable[..., Any], location_id: str, collection: str) -> list[dict[str, Any]]:
    """One collection of a location's fake Rankr account, through the control plane."""
    data: list[dict[str, Any]] = control("GET", f"/rankr/records/{collection}", params={"locationId": location_id})["data"]
    return data


@adapter("rankr")
class RankrDestination(Destination):
    def __init__(self, options: Table) -> None:
        super().__init__(options)
        options.reject_unknown()

    def kinds(self) -> frozenset[str]:
        return frozenset(KINDS)

    def read(self, kind: str) -> KindRead:
        assert self.binding is not None
        b = self.binding
        if kind == "fulfillment_requests":
            sends = b.control("GET", "/rankr/events", params={"locationId": b.location_id})["data"]
            # The requests the client took (answered 2xx): what it was asked to fulfil.
            return KindRead([{"eventId": s.get("eventId"), "orderId": s.get("orderId")} for s in sends
                             if isinstance(s.get("status"), int) and 200 <= s["status"] < 300])
        return KindRead(rankr_records(b.control, b.location_id, COLLECTIONS[kind]))
