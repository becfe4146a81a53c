"""The fake Acuity for one world: accounts (derived, never stored), authentication, the rate limiter,
and HTTP-free renderings of its records (`appointment_view`, `state_view`) that the API, the control
plane and the webhook writer share."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from mock_server.acuity import accounts, dashboard, queries, views
from mock_server.acuity.models import (
    AcuityAccount,
    Appointment,
    AppointmentType,
    Certificate,
    Order,
    ProcessorEntry,
)
from mock_server.acuity.ratelimit import AcuityRateLimiter, RateLimitConfig
from mock_server.acuity.writes import AcuityWrites
from mock_server.clock import SandboxClock
from mock_server.ids import IdFactory
from mock_server.locations import Location
from mock_server.panels import PersonMatch, Query, Table, Who
from mock_server.service import ServiceWorld, WorldContext
from mock_server.store import Store
from mock_server.webhooks.events import EventLog

if TYPE_CHECKING:
    from mock_server.runtime import Runtime


class AcuityWorld(AcuityWrites, ServiceWorld):
    def __init__(self, context: WorldContext) -> None:
        self.store: Store = context.store
        self.clock: SandboxClock = context.clock
        self.ids: IdFactory = context.ids
        self.events: EventLog = context.events
        self.seed = context.seed
        self.context = context
        self.ratelimiter = AcuityRateLimiter()
        profile = context.settings.acuity_rate_limit  # the --acuity-rate-limit a start or a reset comes back to
        self.ratelimiter.configure(RateLimitConfig(enabled=profile != "off", edge403=profile == "edge403"))
        self.init_writes(context)  # booking, webhooks (writes.py)

    # ---- accounts -----------------------------------------------------------------------------

    def location_index(self, location_id: str) -> int:
        return int((self.store.get_meta("location_index") or {}).get(location_id, 0))

    def account(self, location_id: str) -> AcuityAccount | None:
        location = self.store.table(Location).get(location_id)
        if location is None:
            return None
        return accounts.account(location.seed, location_id, self.location_index(location_id))

    def accounts(self) -> list[AcuityAccount]:
        index = self.store.get_meta("location_index") or {}
        return [accounts.account(loc.seed, loc.id, int(index.get(loc.id, 0)))
                for loc in self.store.table(Location).all()]

    def location_fields(self, location: Location) -> dict[str, Any]:
        acct = accounts.account(location.seed, location.id, self.location_index(location.id))
        return {"acuity": accounts.account_view(acct)}

    def authenticate_basic(self, user: str, password: str) -> AcuityAccount | None:
        found = None
        for acct in self.accounts():
            if str(acct.user_id) == user and hmac.compare_digest(acct.api_key.encode(), password.encode()):
                found = acct
        return found

    def authenticate_bearer(self, secret: str) -> AcuityAccount | None:
        token = queries.token(self.store, secret)
        return self.account(token.location_id) if token is not None else None

    def account_by_client_id(self, client_id: str) -> AcuityAccount | None:
        return next((a for a in self.accounts() if hmac.compare_digest(a.oauth_client_id, client_id)), None)

    def next_id(self, record_type: type[queries.HasId]) -> int:
        """A fresh integer id for a new record of this type (appointments, orders, certificates...)."""
        return queries.next_id(self.store, record_type)

    # ---- renderings ---------------------------------------------------------------------------

    def _account_or_raise(self, location_id: str) -> AcuityAccount:
        acct = self.account(location_id)
        if acct is None:
            raise LookupError(f"no location {location_id}")
        return acct

    def appointment_view(self, appt: Appointment, exclude_forms: bool = False) -> dict[str, Any]:
        """The appointment exactly as `GET /appointments/:id` shows it."""
        return views.appointment_view(appt, self._account_or_raise(appt.location_id), exclude_forms)

    def payments_view(self, appt: Appointment) -> list[dict[str, Any]]:
        """`GET /appointments/:id/payments`."""
        return [views.payment_view(p, appt.calendar_timezone) for p in queries.payments_of(self.store, appt.id)]

    def order_view(self, order: Order) -> dict[str, Any]:
        return views.order_view(order, self._account_or_raise(order.location_id).timezone)

    def certificate_view(self, cert: Certificate) -> dict[str, Any]:
        names = {t.id: t.name for t in queries.of_location(self.store, AppointmentType, cert.location_id)}
        return views.certificate_view(cert, names)

    def processor_view(self, entry: ProcessorEntry) -> dict[str, Any]:
        return views.processor_view(entry, self._account_or_raise(entry.location_id).timezone)

    def state_view(self, location_id: str) -> dict[str, Any]:
        """`GET /_sandbox/acuity/state`: the account's whole truth, canceled appointments included, each
        appointment with its payments, and the processor's ledger (refunds Acuity never shows)."""
        acct = self._account_or_raise(location_id)
        store = self.store
        by_appt: dict[int, list[dict[str, Any]]] = {}
        tz_of = {a.id: a.calendar_timezone for a in queries.all_appointments(store, location_id)}
        for p in queries.payments_of_location(store, location_id):
            by_appt.setdefault(p.appointment_id, []).append(views.payment_view(p, tz_of.get(p.appointment_id, acct.timezone)))
        appts = [{**views.appointment_view(a, acct), "payments": by_appt.get(a.id, [])}
                 for a in queries.all_appointments(store, location_id)]
        names = {t.id: t.name for t in queries.of_location(store, AppointmentType, location_id)}
        return {
            "account": {"locationId": location_id, **accounts.account_view(acct)},
            "appointments": appts,
            "orders": [views.order_view(o, acct.timezone) for o in queries.orders(store, location_id)],
            "certificates": [views.certificate_view(c, names) for c in queries.of_location(store, Certificate, location_id)],
            "clients": [views.client_view(c) for c in queries.clients(store, location_id)],
            "processor": [views.processor_view(e, acct.timezone) for e in queries.processor_entries(store, location_id)],
        }

    # ---- the dashboard (acuity/dashboard.py renders the state view) --------------------------

    def dashboard_tables(self, location_id: str) -> list[Table]:
        return dashboard.tables(self.state_view(location_id))

    def dashboard_people(self, location_id: str, query: Query) -> list[PersonMatch]:
        return dashboard.people(self.state_view(location_id), query)

    def dashboard_customer(self, location_id: str, who: Who) -> list[Table]:
        return dashboard.customer(self.state_view(location_id), who)


def acuity(runtime: Runtime) -> AcuityWorld:
    """The fake Acuity in the runtime's current world."""
    return runtime.part(AcuityWorld)
