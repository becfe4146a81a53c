"""BROKEN on purpose: keys each Acuity payment by the webhook that reported it instead of by its
`transactionID`. A booking fires `scheduled` AND `changed` (a reschedule `rescheduled` and `changed`), so
one payment becomes two or three Rankr payments (polling adds a third), and the customer's lifetime value
counts it each time. Everything else is the reference client."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, main


class ChangedTwice(ReferenceClient):
    def acuity_payment_key(self, payment: dict[str, Any], appointment: dict[str, Any], action: str) -> str:
        # The bug: a new record per webhook, so `changed` after `scheduled` is counted again.
        return f"acuity:{payment['transactionID']}" + (f":{action}" if action else "")


if __name__ == "__main__":
    main(ChangedTwice)
