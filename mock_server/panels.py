"""What a service shows on the dashboard, as plain rows (HTTP-free, service-agnostic).

A service's world answers three hooks of `ServiceWorld` with these:

- `dashboard_tables(location_id)`: its state tables for one location (`Table`s of JSON-ready rows);
- `dashboard_people(location_id, query)`: the people it knows that match a search (`PersonMatch`es);
- `dashboard_customer(location_id, who)`: its records for a set of people (`Table`s again).

The dashboard groups people by normalised email (trimmed, lower-cased), the same rule the harness's
`customers_merged` check uses, so two people with one name stay two rows and a person's second email is a
second person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal["text", "id", "num", "money", "pill", "time"]


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Column:
    key: str  # the row's key
    label: str
    type: ColumnType = "text"  # money: the row's `currency` is shown after it

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "type": self.type}


@dataclass
class Table:
    service: str  # the service's name ("ghl", "acuity", "rankr")
    kind: str  # unique within the service: "orders", "appointments", ...
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    id_key: str = "id"
    status_fields: tuple[str, ...] = ()  # the row keys the page's status filter offers
    # Where the page reads one row's full record, `{locationId}` and `{id}` filled in; None: the row is it.
    resource_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "kind": self.kind, "title": self.title,
                "columns": [c.to_json() for c in self.columns], "idKey": self.id_key,
                "statusFields": list(self.status_fields), "resourcePath": self.resource_path,
                "count": len(self.rows), "rows": self.rows}


@dataclass(frozen=True)
class PersonMatch:
    """One person record of one service that matched a search."""

    service: str
    email: str  # as the service shows it (`normalise_email` groups them)
    first_name: str
    last_name: str
    phone: str = ""
    contact_id: str = ""  # a GHL contact id, when the record is (or names) one

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "email": self.email, "firstName": self.first_name,
                "lastName": self.last_name, "phone": self.phone, "contactId": self.contact_id or None}


@dataclass(frozen=True)
class Who:
    """The people whose records the customer panel shows: normalised emails and GHL contact ids."""

    emails: frozenset[str] = field(default_factory=frozenset)
    contact_ids: frozenset[str] = field(default_factory=frozenset)

    def has_email(self, email: str | None) -> bool:
        return bool(email) and normalise_email(email or "") in self.emails


@dataclass(frozen=True)
class Query:
    """A customer search: an email (matched exactly, normalised) or words of a name (each must appear)."""

    text: str

    @property
    def email(self) -> str | None:
        return normalise_email(self.text) if "@" in self.text else None

    def matches(self, first_name: str, last_name: str, email: str) -> bool:
        wanted = self.email
        if wanted is not None:
            return normalise_email(email) == wanted
        words = self.text.lower().split()
        name = f"{first_name} {last_name}".lower()
        return bool(words) and all(w in name for w in words)
