"""BROKEN on purpose: reconciliation reads only the first page (100 records) of each GHL list, so
anything past it (older orders, transactions, subscriptions) never reaches Rankr."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, main


class FirstPageOnly(ReferenceClient):
    def more_pages(self, fetched: int, total: int, page: list[Any]) -> bool:
        return False  # the bug: ignores totalCount


if __name__ == "__main__":
    main(FirstPageOnly)
