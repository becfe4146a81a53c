"""BROKEN on purpose: routes an order to the first provider whose area covers its address, ignoring
`remainingToday` and `availableNow`; when Rankr refuses with 409 (`provider_full`, `provider_unavailable`)
it gives up instead of trying the next provider, and raises no alert: once its first choice is full (or
switched off), orders stay unrouted though another provider could take them."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, Refused, main, provider_covers


class IgnoresCapacity(ReferenceClient):
    def candidates(self, providers: list[dict[str, Any]], address: dict[str, str]) -> list[dict[str, Any]]:
        return [p for p in providers if provider_covers(p, address)][:1]  # the bug: capacity never looked at ...

    def try_next_after_refusal(self, exc: Refused) -> bool:
        return False  # ... and a 409 ends the attempt: no next provider, no alert (the next poll tries again)


if __name__ == "__main__":
    main(IgnoresCapacity)
