"""Broken on purpose: no dedupe. `webhook_log` became an audit trail of every delivery (no UNIQUE on
webhook_id) and the "already processed?" lookup went with it, so a retried or duplicated webhook is
processed and logged again. Caught by `no_duplicate_effects` (one eventId twice in the events view)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sync_service


def audit_log_table(self: sync_service.ShopDatabase) -> sa.Table:
    return sa.Table("webhook_log", self.meta,
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("webhook_id", sa.String(64), nullable=False),  # the bug: no unique=True
                    sa.Column("kind", sa.String(64), nullable=False), sa.Column("order_ref", sa.String(32)),
                    sa.Column("received_at", sa.String(40), nullable=False))


def never_processed(self: sync_service.ShopDatabase, webhook_id: str) -> bool:
    return False


def _patch(cls: Any) -> None:
    cls.webhook_log_table = audit_log_table
    cls.already_processed = never_processed


if __name__ == "__main__":
    _patch(sync_service.ShopDatabase)
    sync_service.main()
