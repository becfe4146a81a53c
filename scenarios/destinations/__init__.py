"""Destination adapters: they build the canonical view of what the client wrote (its orders,
transactions, subscriptions, processed events, alerts, fulfilment requests, and the payments and
customers of GHL and Acuity) from wherever the client writes it. The checks judge that view, never a destination directly.
Contract: contracts/PROJECT_FILE.md."""

from __future__ import annotations

from scenarios.destinations.base import (
    ADAPTERS,
    KINDS,
    Binding,
    Destination,
    DestinationError,
    KindRead,
    NotExposed,
    adapter,
    build,
)

# The built-in adapters register themselves on import.
from scenarios.destinations import rankr as _rankr  # noqa: E402,F401  isort: skip

__all__ = ["ADAPTERS", "KINDS", "Binding", "Destination", "DestinationError", "KindRead", "NotExposed", "adapter", "build"]
