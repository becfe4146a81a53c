"""BROKEN on purpose: sends Rankr POSTs (`/v1/events`, `/v1/alerts`) without an `Idempotency-Key`.
It still retries them, so a retry after a dropped connection (Rankr stored the event, the answer was
lost) records the same event twice."""

from __future__ import annotations

from reference_client import ReferenceClient, main


class NoIdempotencyKey(ReferenceClient):
    def idempotency_headers(self, key: str | None) -> dict[str, str]:
        return {}  # the bug


if __name__ == "__main__":
    main(NoIdempotencyKey)
