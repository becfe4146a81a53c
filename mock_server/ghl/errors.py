"""Domain errors of the GHL service, specialising the shared family (mock_server/errors.py). The GHL API's
guard maps them the way GHL does (400); the control plane uses the shared mapping (404, 409)."""

from __future__ import annotations

from mock_server.errors import Conflict, DomainError
from mock_server.errors import NotFound as _NotFound

__all__ = ["DomainError", "InvalidOperation", "NotFound"]


class NotFound(_NotFound):
    def __init__(self, kind: str, record_id: str) -> None:
        # The control plane shows the id; the GHL API words it without (guard.py: `{kind} not found`).
        super().__init__(f"{kind} {record_id} not found")
        self.kind = kind
        self.record_id = record_id


class InvalidOperation(Conflict):
    """The request is well-formed but the state does not allow it (e.g. over-fulfilment)."""
