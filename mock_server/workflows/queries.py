"""Read queries over the workflows service's tables (and the GHL records a firing reads), owned here so
that HTTP handlers never build store conditions."""

from __future__ import annotations

from mock_server.ghl.models import Contact
from mock_server.store import Condition, Store
from mock_server.workflows.models import Invoice, Workflow
from mock_server.workflows.records import CustomValue, ManagedToken, WorkflowRun


def workflows(store: Store, location_id: str | None = None) -> list[Workflow]:
    """Oldest first; every location's when `location_id` is None."""
    where = [Condition("location_id", "=", location_id)] if location_id else []
    return store.table(Workflow).all(where)


def by_trigger(store: Store, location_id: str, trigger_type: str) -> list[Workflow]:
    return store.table(Workflow).all([Condition("location_id", "=", location_id),
                                      Condition("trigger_type", "=", trigger_type)])


def by_inbound_id(store: Store, location_id: str, inbound_id: str) -> Workflow | None:
    found = store.table(Workflow).all([Condition("inbound_id", "=", inbound_id),
                                       Condition("location_id", "=", location_id)])
    return found[0] if found and inbound_id else None


def custom_values(store: Store, location_id: str) -> list[CustomValue]:
    return store.table(CustomValue).all([Condition("location_id", "=", location_id)], order="key")


def tokens(store: Store, location_id: str) -> list[ManagedToken]:
    return store.table(ManagedToken).all([Condition("location_id", "=", location_id)])


def runs(store: Store, location_id: str | None = None, workflow_id: str | None = None) -> list[WorkflowRun]:
    where = [Condition(col, "=", value) for col, value in (("location_id", location_id),
                                                            ("workflow_id", workflow_id)) if value]
    return store.table(WorkflowRun).all(where)


def invoices(store: Store, location_id: str) -> list[Invoice]:
    return store.table(Invoice).all([Condition("location_id", "=", location_id)])


def contact_by(store: Store, location_id: str, email: str = "", phone: str = "") -> Contact | None:
    """The location's contact with this email (case-insensitive) or, failing that, this phone."""
    where = [Condition("location_id", "=", location_id)]
    contacts = store.table(Contact).all(where)
    if email:
        wanted = email.strip().lower()
        found = next((c for c in contacts if c.email.lower() == wanted), None)
        if found is not None:
            return found
    if phone:
        digits = "".join(ch for ch in phone if ch.isdigit())
        return next((c for c in contacts if digits and "".join(ch for ch in c.phone if ch.isdigit()) == digits), None)
    return None


def newest_contact(store: Store, location_id: str) -> Contact | None:
    rows, _ = store.table(Contact).page([Condition("location_id", "=", location_id)], 1, 0)
    return rows[0] if rows else None
