"""The reports by name **(contract)**: what each is, and how it is computed from one location's `Sources`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mock_server.clock import iso_ms
from mock_server.reports import compute
from mock_server.reports.compute import Result, day_of
from mock_server.reports.model import Report, Window
from mock_server.reports.sources import COLLECTIONS, Sources


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    description: str
    run: Callable[[Sources, Window], Result]

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "path": f"/_sandbox/reports/{self.name}"}


SPECS = (
    ReportSpec("revenue-by-day", "Revenue by day",
               "Money taken per day (GHL and Acuity), refunds and net, per currency.",
               lambda s, w: compute.revenue_by_day(s.payments, s.refunds, w, day_of(s.now()))),
    ReportSpec("revenue-by-source", "Revenue by source",
               "GHL orders and subscriptions vs Acuity appointments and store orders: payments, gross, refunds, net.",
               lambda s, w: compute.revenue_by_source(s.payments, s.refunds, w)),
    ReportSpec("payment-rates", "Payment rates",
               "Success, failure and refund rates of payments, per source and overall.",
               lambda s, w: compute.payment_rates(s.payments, w)),
    ReportSpec("subscriptions", "Subscriptions: MRR and churn",
               "Live subscriptions and MRR per day; churn over the window.",
               lambda s, w: compute.subscriptions(s.subscriptions, w, day_of(s.now()))),
    ReportSpec("sync-health", "Sync health",
               "Source records whose Rankr copy differs (with the fields) or is missing, and Rankr records without a source.",
               lambda s, w: compute.sync_health(s.source_records, s.destination_records, w, COLLECTIONS)),
    ReportSpec("sync-lag", "Sync lag",
               "From each source event to the first Rankr write of its copy at or after it: p50 and p95.",
               lambda s, w: compute.sync_lag(s.source_events, s.destination_records, s.destination_writes, w)),
    ReportSpec("webhook-delivery", "Webhook delivery",
               "Deliveries of the location's events per target: delivered, failed, dropped, pending, latencies.",
               lambda s, w: compute.webhook_delivery(s.targets, s.deliveries, w)),
    ReportSpec("routing-load", "Routing load",
               "Rankr assignments per provider against its daily capacity.",
               lambda s, w: compute.routing_load(s.providers, s.assignments, w, s.now())),
)
REPORTS: dict[str, ReportSpec] = {s.name: s for s in SPECS}


def run(spec: ReportSpec, sources: Sources, window: Window) -> Report:
    columns, rows, summary, notes = spec.run(sources, window)
    return Report(spec.name, spec.title, sources.location_id, window, iso_ms(sources.now()), columns, rows, summary,
                  notes)
