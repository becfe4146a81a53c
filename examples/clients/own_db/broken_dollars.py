"""Broken on purpose: amounts stored in the wrong unit. It assumes GHL sends cents (as Stripe does) and
stores 19.99 as 19 in the `*_cents` columns. Caught by `sync_complete` (amounts differ from GHL's)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sync_service


def dollars_as_cents(amount: Any) -> int:
    return int(Decimal(str(amount or 0)))  # the bug: no * 100


if __name__ == "__main__":
    sync_service.to_cents = dollars_as_cents
    sync_service.main()
