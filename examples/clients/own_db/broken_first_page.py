"""Broken on purpose: paging stops after the first page (100 records), as if every list fitted in one.
Caught by `sync_complete` on a location with more than 100 orders (scenario 06_backfill_250_orders)."""

from __future__ import annotations

from typing import Any

import sync_service


def one_page_only(offset: int, page: list[dict[str, Any]], total: int) -> int | None:
    return None  # the bug: never asks for the next page, whatever totalCount says


if __name__ == "__main__":
    sync_service.next_offset = one_page_only
    sync_service.main()
