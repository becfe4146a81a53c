"""Typed errors any service raises when it refuses an operation. They name no HTTP status: the HTTP layer
maps each type to one (`mock_server.http.errors.EXCEPTION_HANDLERS`), so domain code stays HTTP-free and
handlers never catch exceptions just to choose a status."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for a refused operation."""


class NotFound(DomainError):
    """A named record (location, token, client, order, ...) does not exist: 404."""


class Invalid(DomainError, ValueError):
    """The request is malformed or a value is out of range: 422 with the list of problems.

    Also a ValueError, so callers that have always caught ValueError from a parser keep working."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class Conflict(DomainError):
    """The request is well-formed but the current state does not allow it: 409."""
