"""What every destination adapter is: configured from `[destination]`, started per scenario with the
scenario's binding (template values, the client's environment), read kind by kind."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from scenarios import templates
from scenarios.project import ConfigError, Project, ProjectError, Table

# Canonical kinds and their fields (amounts in major units, as GHL's API gives them).
KINDS: dict[str, tuple[str, ...]] = {
    "orders": ("orderId", "status", "fulfillmentStatus", "amount", "currency", "contactId"),
    "transactions": ("transactionId", "orderId", "status", "amount", "amountRefunded", "currency"),
    "subscriptions": ("subscriptionId", "status", "amount", "currency"),
    "events": ("eventId", "eventType", "orderId"),
    "alerts": ("severity", "message", "orderId"),
    "fulfillment_requests": ("eventId", "orderId"),
    # One per payment from GHL or Acuity, and the merged view of each person (issue 11, Acuity).
    "payments": ("paymentKey", "source", "sourceKind", "sourceId", "parentId", "amount", "currency", "status",
                 "customerEmail"),
    "customers": ("customerId", "firstName", "lastName", "emails", "ghlContactIds", "acuityEmails",
                  "lifetimeValue", "currency"),
}
ID_FIELDS: dict[str, str | None] = {"orders": "orderId", "transactions": "transactionId",
                                    "subscriptions": "subscriptionId", "events": "eventId", "alerts": None,
                                    "fulfillment_requests": "eventId", "payments": "paymentKey",
                                    "customers": "customerId"}
AMOUNT_FIELDS = frozenset({"amount", "amountRefunded", "lifetimeValue"})
# Lists of strings: read from a list, a JSON array or a comma-separated string (mapping.parse_strings).
ARRAY_FIELDS = frozenset({"emails", "ghlContactIds", "acuityEmails"})
# Modules of adapters that need extra libraries: imported when a project names them.
LAZY: dict[str, str] = {"sql": "scenarios.destinations.sql", "http": "scenarios.destinations.http",
                        "command": "scenarios.destinations.command"}


class DestinationError(RuntimeError):
    """A destination that cannot be started (a database that cannot be created, a template that cannot
    be rendered); the message says what and where."""


class NotExposed(Exception):
    """The destination does not expose this kind: checks that need it are not evaluated."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the destination does not expose {kind}")
        self.kind = kind


@dataclass
class Binding:
    """What an adapter knows of the running scenario."""

    values: dict[str, str]                 # template values (scenarios.templates.NAMES)
    env: dict[str, str]                    # the client's whole environment
    cwd: Path | None                       # the client's working directory
    location_id: str
    control: Callable[..., Any]            # control(method, path, **httpx kwargs) on /_sandbox

    def render(self, template: str) -> str:
        return templates.render(template, self.values)


@dataclass
class KindRead:
    records: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)  # mapping errors, each naming the record and the key


class Destination(ABC):
    adapter: ClassVar[str]

    def __init__(self, options: Table) -> None:
        """Validate the `[destination]` table (raise ConfigError with the dotted key); call
        `options.reject_unknown()` after reading every key."""
        self.binding: Binding | None = None

    @abstractmethod
    def kinds(self) -> frozenset[str]:
        """The canonical kinds this destination exposes (known from the configuration alone)."""

    def start(self, binding: Binding) -> None:
        """Before the client starts in a scenario (create a database, remember the binding)."""
        self.binding = binding

    @abstractmethod
    def read(self, kind: str) -> KindRead:
        """The canonical records of one exposed kind, now."""

    def stop(self) -> None:  # noqa: B027 - optional hook: most adapters hold nothing per scenario
        """After the scenario's client stopped."""

    def describe(self) -> str:
        return self.adapter


ADAPTERS: dict[str, type[Destination]] = {}


def adapter(name: str) -> Callable[[type[Destination]], type[Destination]]:
    """Register a destination adapter under `name` (plugins may add their own)."""

    def register(cls: type[Destination]) -> type[Destination]:
        cls.adapter = name
        ADAPTERS[name] = cls
        return cls

    return register


def build(project: Project) -> Destination:
    """The project's destination adapter, validated; errors name the file, line and key."""
    name = project.destination.get("adapter", "rankr")
    if name not in ADAPTERS and name in LAZY:
        importlib.import_module(LAZY[name])
    if name not in ADAPTERS:
        known = ", ".join(sorted({*ADAPTERS, *LAZY}))
        raise ProjectError(f"{project.where('destination.adapter')}: unknown adapter {name!r} (known: {known})")
    options = Table(dict(project.destination), "destination")
    options.string("adapter")
    try:
        return ADAPTERS[name](options)
    except ConfigError as exc:
        raise ProjectError(f"{project.where(exc.key)}: {exc.message}") from None
