"""BROKEN on purpose: keeps its dedupe state (seen webhookIds, fulfilled Rankr eventIds) in memory
only. Correct while it runs; after a restart or crash it has forgotten everything, so a redelivered
Rankr `fulfillment.requested` creates a second GHL fulfillment."""

from __future__ import annotations

from reference_client import ReferenceClient, State, main


class MemoryDedupe(ReferenceClient):
    def make_state(self) -> State:
        return State(":memory:")  # the bug: nothing survives the process


if __name__ == "__main__":
    main(MemoryDedupe)
