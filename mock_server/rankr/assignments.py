"""Providers and assignments of the Rankr accounts in the store (design i12 §3): the queries and the
transactional writes. Capacity is checked and the assignment written inside one store transaction,
so concurrent PUTs can never over-book a provider (the store serialises transactions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mock_server.clock import SandboxClock
from mock_server.rankr import routing
from mock_server.rankr.models import RankrAssignment, RankrAssignmentChange, RankrProvider
from mock_server.store import Condition, Store


class RoutingRefused(Exception):
    """A PUT Rankr refuses: `code` is `not_found`, `provider_full` or `provider_unavailable`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Assigned:
    assignment: RankrAssignment
    action: str  # assigned | moved | unchanged


class Routing:
    def __init__(self, store: Store, clock: SandboxClock, next_seq: Callable[[], int]) -> None:
        self.store = store
        self.clock = clock
        self.next_seq = next_seq

    # ---- providers ----------------------------------------------------------------------------

    def providers(self, location_id: str) -> list[RankrProvider]:
        return self.store.table(RankrProvider).all([Condition("location_id", "=", location_id)], order="position")

    def provider(self, location_id: str, provider_id: str) -> RankrProvider | None:
        return self.store.table(RankrProvider).get(f"{location_id}:{provider_id}")

    def replace_providers(self, location_id: str, specs: list[routing.ProviderSpec]) -> list[RankrProvider]:
        """The location's provider set becomes `specs`. A provider kept by id keeps its availability history
        (a change of `available` is recorded, source `setup`); assignments are left as they are."""
        now = self.clock.now()
        table = self.store.table(RankrProvider)
        with self.store.transaction():
            old = {p.provider_id: p for p in self.providers(location_id)}
            for p in old.values():
                table.delete(p.id)
            out = []
            for position, s in enumerate(specs):
                before = old.get(s.provider_id)
                history = list(before.history) if before is not None else []
                if before is None or before.available != s.available:
                    history.append({"available": s.available, "at": now, "source": "setup"})
                provider = RankrProvider(
                    id=f"{location_id}:{s.provider_id}", location_id=location_id, provider_id=s.provider_id,
                    name=s.name, service_areas=s.service_areas, daily_capacity=s.daily_capacity,
                    availability=s.availability, timezone=s.timezone, available=s.available, position=position,
                    history=history)
                table.put(provider)
                out.append(provider)
        return out

    def set_available(self, location_id: str, provider_id: str, available: bool, event_id: str,
                      at: float) -> RankrProvider:
        """Flip the switch (a provider event), recorded in the provider's history with the event's time."""
        with self.store.transaction():
            provider = self.provider(location_id, provider_id)
            if provider is None:
                raise RoutingRefused("not_found", f"No provider {provider_id} in this account")
            provider.available = available
            provider.history.append({"available": available, "at": at, "source": "event",
                                     "eventId": event_id})
            self.store.table(RankrProvider).put(provider)
        return provider

    def assigned_on(self, provider: RankrProvider, day: str) -> int:
        """The orders currently assigned to the provider whose assignment falls on `day` (its timezone)."""
        return sum(1 for a in self.of_provider(provider.location_id, provider.provider_id)
                   if routing.day_of(a.assigned_at, provider.timezone) == day)

    def by_day(self, provider: RankrProvider) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in self.of_provider(provider.location_id, provider.provider_id):
            day = routing.day_of(a.assigned_at, provider.timezone)
            counts[day] = counts.get(day, 0) + 1
        return dict(sorted(counts.items()))

    # ---- assignments --------------------------------------------------------------------------

    def assignments(self, location_id: str, provider_id: str | None = None) -> list[RankrAssignment]:
        where = [Condition("location_id", "=", location_id)]
        if provider_id is not None:
            where.append(Condition("provider_id", "=", provider_id))
        return self.store.table(RankrAssignment).all(where, order="seq")

    def of_provider(self, location_id: str, provider_id: str) -> list[RankrAssignment]:
        return self.assignments(location_id, provider_id)

    def assignment(self, location_id: str, order_id: str) -> RankrAssignment | None:
        return self.store.table(RankrAssignment).get(f"{location_id}:{order_id}")

    def changes(self, location_id: str) -> list[RankrAssignmentChange]:
        return self.store.table(RankrAssignmentChange).all([Condition("location_id", "=", location_id)], order="seq")

    def _log(self, location_id: str, order_id: str, action: str, provider_id: str | None,
             previous: str | None = None, reason: str | None = None) -> None:
        seq = self.next_seq()
        self.store.table(RankrAssignmentChange).put(RankrAssignmentChange(
            id=f"ac_{seq:08d}", location_id=location_id, seq=seq, order_id=order_id, action=action,
            provider_id=provider_id, previous_provider_id=previous, reason=reason, at=self.clock.now()))

    def assign(self, location_id: str, order_id: str, provider_id: str) -> Assigned:
        """Assign (or move) the order to the provider. The same provider again changes nothing. Refused
        (RoutingRefused) when the provider is unknown, not available now, or has no capacity left today;
        every outcome is kept in the history. Check and write are one transaction."""
        refused: RoutingRefused | None = None
        result: Assigned | None = None
        with self.store.transaction():
            now = self.clock.now()
            current = self.assignment(location_id, order_id)
            provider = self.provider(location_id, provider_id)
            if current is not None and current.provider_id == provider_id:
                self._log(location_id, order_id, "unchanged", provider_id, current.previous_provider_id)
                result = Assigned(current, "unchanged")
            elif provider is None:
                refused = RoutingRefused("not_found", f"No provider {provider_id} in this account")
            elif not routing.available_now(provider, now):
                why = "is switched off" if not provider.available else "has no availability window open now"
                refused = RoutingRefused("provider_unavailable", f"Provider {provider_id} {why}")
            elif self.assigned_on(provider, routing.day_of(now, provider.timezone)) >= provider.daily_capacity:
                refused = RoutingRefused(
                    "provider_full",
                    f"Provider {provider_id} has no capacity left today ({provider.daily_capacity} a day, "
                    f"{provider.timezone} day {routing.day_of(now, provider.timezone)})")
            else:
                previous = current.provider_id if current is not None else None
                assignment = RankrAssignment(
                    id=f"{location_id}:{order_id}", location_id=location_id, order_id=order_id,
                    provider_id=provider_id, assigned_at=now, previous_provider_id=previous,
                    seq=current.seq if current is not None else self.next_seq())
                self.store.table(RankrAssignment).put(assignment)
                action = "moved" if current is not None else "assigned"
                self._log(location_id, order_id, action, provider_id, previous)
                result = Assigned(assignment, action)
            if refused is not None:
                self._log(location_id, order_id, "refused", provider_id,
                          current.provider_id if current is not None else None, refused.code)
        if refused is not None:
            raise refused
        assert result is not None
        return result

    def unassign(self, location_id: str, order_id: str) -> RankrAssignment | None:
        """Delete the order's assignment (its capacity is free again); None when it had none."""
        with self.store.transaction():
            current = self.assignment(location_id, order_id)
            if current is None:
                return None
            self.store.table(RankrAssignment).delete(current.id)
            self._log(location_id, order_id, "deleted", None, current.provider_id)
        return current
