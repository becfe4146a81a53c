"""Domain errors; the HTTP layer maps them to GHL-shaped responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for a refused domain operation."""


class NotFound(DomainError):
    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind
        self.record_id = record_id


class InvalidOperation(DomainError):
    """The request is well-formed but the state does not allow it (e.g. over-fulfilment)."""
