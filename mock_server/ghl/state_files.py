"""Reading older `/_sandbox/state` documents. Version 1 held money as floats in major units under the
plain names (`amount: 49.99`); version 2 holds integer minor units under `*_minor` names (`amount_minor:
4999`). A version-1 document is upgraded before the store reads it, so an exported state keeps working."""

from __future__ import annotations

from typing import Any

from mock_server.ghl.money import to_minor

# table -> the money fields of its records (version-1 name; version 2 adds `_minor`)
V1_MONEY_FIELDS: dict[str, tuple[str, ...]] = {
    "prices": ("amount", "compare_at_price"),
    "orders": ("subtotal", "discount", "tax", "shipping", "amount"),
    "transactions": ("amount", "amount_refunded"),
    "subscriptions": ("amount",),
}
V1_ITEM_MONEY_FIELDS: dict[str, tuple[str, ...]] = {"orders": ("unit_amount",)}


def _renamed(row: dict[str, Any], fields: tuple[str, ...], currency: str, where: str) -> dict[str, Any]:
    """`row` with each of `fields` in minor units under its `_minor` name, at the same position."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key not in fields:
            out[key] = value
            continue
        if value is None:  # an optional amount (compare_at_price) that is not set
            out[f"{key}_minor"] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}.{key}: must be a number (version-1 money in major units)")
        try:
            out[f"{key}_minor"] = to_minor(value, currency)
        except ValueError:
            raise ValueError(f"{where}.{key}: must be a finite number") from None
    return out


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 state document as version 2: money fields to minor units. Anything malformed that
    is not a money field is passed through for the store's own checks to report."""
    tables = data.get("tables")
    if not isinstance(tables, dict):
        return {**data, "version": 2}  # the store reports what is wrong with the tables
    upgraded: dict[str, Any] = dict(tables)
    for kind, fields in V1_MONEY_FIELDS.items():
        rows = tables.get(kind)
        if not isinstance(rows, list):
            continue
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                out.append(row)
                continue
            where = f"tables.{kind}[{i}]"
            currency = row["currency"] if isinstance(row.get("currency"), str) else "USD"
            row = _renamed(row, fields, currency, where)
            item_fields = V1_ITEM_MONEY_FIELDS.get(kind)
            if item_fields and isinstance(row.get("items"), list):
                row["items"] = [_renamed(item, item_fields, currency, f"{where}.items[{j}]")
                                if isinstance(item, dict) else item for j, item in enumerate(row["items"])]
            out.append(row)
        upgraded[kind] = out
    events = tables.get("events")
    if isinstance(events, list):  # queued webhooks render from the snapshots their events hold
        upgraded["events"] = [_upgraded_event(row, f"tables.events[{i}]") for i, row in enumerate(events)]
    return {**data, "tables": upgraded, "version": 2}


def _upgraded_event(row: Any, where: str) -> Any:
    if not isinstance(row, dict) or not isinstance(row.get("snapshot"), dict):
        return row
    kind = row.get("resource_kind")
    fields = V1_MONEY_FIELDS.get(kind) if isinstance(kind, str) else None
    if not fields:
        return row
    snap: dict[str, Any] = row["snapshot"]
    if any(f"{field}_minor" in snap for field in fields):  # already in minor units
        return row
    currency = snap["currency"] if isinstance(snap.get("currency"), str) else "USD"
    snap = _renamed(snap, fields, currency, f"{where}.snapshot")
    item_fields = V1_ITEM_MONEY_FIELDS.get(str(kind))
    if item_fields and isinstance(snap.get("items"), list):
        snap["items"] = [_renamed(item, item_fields, currency, f"{where}.snapshot.items[{j}]")
                         if isinstance(item, dict) else item for j, item in enumerate(snap["items"])]
    return {**row, "snapshot": snap}


def upgrade_state(data: dict[str, Any], version: int) -> dict[str, Any]:
    """The GHL service's tables of a whole-state document of `version`, as the current version."""
    return upgrade_v1(data) if version == 1 else data
