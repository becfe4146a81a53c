"""The reference client's Acuity support (examples/clients/reference_client.py) and its four broken Acuity
variants: the pure parts in process (signature, date windows, merging), then the client as a real
subprocess against a real sandbox with its fake Acuity (real signed webhooks, real Rankr records)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "examples" / "clients"
sys.path.insert(0, str(CLIENTS))

rc = importlib.import_module("reference_client")

GENUINE = b"action=scheduled&id=54321&calendarID=27238&appointmentTypeID=1"
GENUINE_SIG = "N2vF6ucyA+NCDiiwsdXBpIxFok9pGGS4/gMB2ComFwA="  # the fact sheet's test vector, key abc123
ORDER = b"action=order.completed&id=1234"
ORDER_SIG = "4/Sn094sk1yY2+j0oRpZDHbotS0i32CizLwxS17CqXM="


def variant(name: str) -> type:
    module = importlib.import_module(name)
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, rc.ReferenceClient) and c is not rc.ReferenceClient]
    assert len(classes) == 1, classes
    return classes[0]


def make(tmp_path: Path, cls: type | None = None, api_key: str = "abc123") -> Any:
    """A client object (no server, no thread): its methods on their own."""
    config = rc.Config(
        ghl_base="http://127.0.0.1:9", ghl_token="t", location_id="loc", api_version="2021-07-28", app_id="app",
        ed25519_pem="", rsa_pem="", rankr_base="http://127.0.0.1:9/rankr", rankr_key="k", rankr_secret="s",
        port=0, state_dir=str(tmp_path / "state"), reconcile_interval=1.0,
        acuity_base="http://127.0.0.1:9/acuity/api/v1", acuity_user_id="12345678", acuity_api_key=api_key)
    return (cls or rc.ReferenceClient)(config)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    c = make(tmp_path)
    yield c
    c.state.close()


# ---- signatures -----------------------------------------------------------------------------------


def test_signature_matches_the_fact_sheet_vectors() -> None:
    assert rc.acuity_signature("abc123", GENUINE) == GENUINE_SIG
    assert rc.acuity_signature("abc123", ORDER) == ORDER_SIG
    assert rc.acuity_signature("abc124", GENUINE) != GENUINE_SIG


def test_verification_is_over_the_raw_bytes(client: Any) -> None:
    assert client.verify_acuity_signature(GENUINE, {"x-acuity-signature": GENUINE_SIG})
    assert client.verify_acuity_signature(ORDER, {"x-acuity-signature": ORDER_SIG})
    # The same form, re-encoded (other field order, percent-encoded): not what was signed.
    assert not client.verify_acuity_signature(b"id=54321&action=scheduled&calendarID=27238&appointmentTypeID=1",
                                              {"x-acuity-signature": GENUINE_SIG})
    assert not client.verify_acuity_signature(b"id=1234&action=order.completed", {"x-acuity-signature": ORDER_SIG})
    assert not client.verify_acuity_signature(b"action=order%2Ecompleted&id=1234", {"x-acuity-signature": ORDER_SIG})
    assert not client.verify_acuity_signature(GENUINE, {"x-acuity-signature": ORDER_SIG})
    assert not client.verify_acuity_signature(GENUINE, {})
    assert not client.verify_acuity_signature(GENUINE, {"x-acuity-signature": "not base64 at all"})


def test_handler_refuses_forged_and_bad_bodies_before_any_call(client: Any) -> None:
    # 401 for a bad signature, 400 for a signed body without a numeric id: no Acuity or Rankr call made.
    assert client.handle_acuity_webhook(GENUINE, {"x-acuity-signature": ORDER_SIG}) == 401
    assert client.handle_acuity_webhook(GENUINE, {}) == 401
    body = b"action=scheduled&id=abc"
    assert client.handle_acuity_webhook(body, {"x-acuity-signature": rc.acuity_signature("abc123", body)}) == 400
    body = b"action=something.else&id=7"
    assert client.handle_acuity_webhook(body, {"x-acuity-signature": rc.acuity_signature("abc123", body)}) == 200
    assert client.acuity_calls == 0


def test_no_acuity_configured_means_no_acuity_route(tmp_path: Path) -> None:
    c = make(tmp_path)
    c.acuity_enabled = False
    try:
        assert c.handle_acuity_webhook(GENUINE, {"x-acuity-signature": GENUINE_SIG}) == 404
    finally:
        c.state.close()


def test_reencoded_signature_variant_refuses_genuine_and_accepts_a_reencoding(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_reencoded_signature"))
    try:
        assert not c.verify_acuity_signature(GENUINE, {"x-acuity-signature": GENUINE_SIG})  # genuine refused
        assert c.verify_acuity_signature(b"id=1234&action=order%2Ecompleted", {"x-acuity-signature": ORDER_SIG})
    finally:
        c.state.close()


def test_action_styles_and_values() -> None:
    assert [rc.acuity_action(a) for a in ("scheduled", "appointment.scheduled", "appointment.changed",
                                          "order.completed", None)] == [
        "scheduled", "scheduled", "changed", "order.completed", ""]
    assert rc.money_minor("10.00") == 1000 and rc.money_minor("0.00") == 0 and rc.money_minor("12.5") == 1250
    assert rc.money_minor(None) == 0 and rc.money_minor("junk") == 0
    assert rc.acuity_iso("2020-04-21T13:00:00-0400") == "2020-04-21T13:00:00-04:00"
    assert rc.acuity_order_time("2014-09-23 14:22", "America/New_York") == "2014-09-23T14:22:00-04:00"


# ---- date windows ---------------------------------------------------------------------------------


def test_reconcile_range_covers_today_and_the_seed() -> None:
    start, end = rc.reconcile_range(date(2026, 11, 29))
    assert start == date(2026, 4, 1) and end == date(2027, 5, 29)
    start, end = rc.reconcile_range(date(2030, 1, 15))
    assert start == date(2026, 4, 1) and end == date(2030, 7, 15)


def test_windows_are_contiguous_and_split_in_two() -> None:
    start, end = date(2026, 4, 1), date(2027, 5, 29)
    windows = rc.date_windows(start, end)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in zip(windows, windows[1:], strict=False))
    assert all(lo <= hi and (hi - lo).days < rc.ACUITY_WINDOW_DAYS for lo, hi in windows)
    lo, hi = date(2026, 5, 1), date(2026, 5, 10)
    halves = rc.split_window(lo, hi)
    assert halves == [(lo, date(2026, 5, 5)), (date(2026, 5, 6), hi)]
    assert rc.split_window(lo, lo) == []


class FakeWindows:
    """`list_appointment_window` over a list of (id, day), with Acuity's silent `max` truncation."""

    def __init__(self, days: list[date]) -> None:
        self.days = days
        self.calls: list[tuple[date | None, date | None, int]] = []

    def window(self, lo: date, hi: date, limit: int) -> list[dict[str, Any]]:
        self.calls.append((lo, hi, limit))
        hits = [{"id": i, "day": d} for i, d in enumerate(self.days) if lo <= d <= hi]
        return sorted(hits, key=lambda a: a["day"], reverse=True)[:limit]


def test_full_windows_are_split_until_nothing_is_cut(client: Any) -> None:
    # 250 appointments in one week, 120 of them on one day, and a few spread over the year.
    busy = date(2026, 10, 5)
    days = [busy] * 120 + [busy + timedelta(days=i % 7) for i in range(130)] + [date(2026, 4, 2), date(2027, 5, 28)]
    fake = FakeWindows(days)
    client.list_appointment_window = fake.window
    found = client.acuity_appointments(date(2026, 4, 1), date(2027, 5, 29))
    assert sorted(a["id"] for a in found) == list(range(len(days)))
    assert any(lo == hi == busy and limit > rc.ACUITY_MAX for lo, hi, limit in fake.calls)  # one day: bigger max
    assert all(limit == rc.ACUITY_MAX for lo, hi, limit in fake.calls if lo != hi)  # windows: split, not enlarged


def test_no_date_windows_variant_misses_what_is_beyond_max(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_no_date_windows"))
    try:
        days = [date(2026, 4, 1) + timedelta(days=i) for i in range(150)]
        seen: list[dict[str, Any]] = []

        def acuity(path: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
            seen.append({"path": path, **(params or {})})
            limit = int((params or {}).get("max", 100))
            return [{"id": i} for i in range(len(days))][::-1][:limit]

        c.acuity = acuity
        found = c.acuity_appointments(date(2026, 4, 1), date(2027, 5, 29))
        assert len(found) == 100 and "minDate" not in seen[0] and len(seen) == 1
    finally:
        c.state.close()


# ---- payments and customers -----------------------------------------------------------------------


def test_payment_records(client: Any) -> None:
    appointment = {"id": 54321, "email": " Jane.Doe@X.com ", "firstName": "Jane", "lastName": "Doe",
                   "amountPaid": "30.00"}
    payment = {"transactionID": "pi_1", "created": "2026-10-02T09:27:51-0400", "processor": "stripe",
               "amount": "30.00"}
    key, body = client.acuity_payment(appointment, payment, "USD", "scheduled")
    assert key == "acuity:pi_1" and client.acuity_payment(appointment, payment, "USD", "changed")[0] == key
    assert body == {"paymentKey": "acuity:pi_1", "source": "acuity", "sourceKind": "appointment", "sourceId": "pi_1",
                    "parentId": "54321", "amount": 30.0, "currency": "USD", "status": "paid",
                    "customerEmail": "jane.doe@x.com", "paidAt": "2026-10-02T09:27:51-04:00"}
    key, body = client.acuity_order_payment({"id": 77, "total": "55.00", "status": "paid", "time": "2026-10-02 14:22",
                                             "email": "A@b.co"}, "USD", "America/New_York")
    assert key == "acuity-order:77" and body["sourceKind"] == "order" and body["sourceId"] == body["parentId"] == "77"
    assert body["amount"] == 55.0 and body["paidAt"] == "2026-10-02T14:22:00-04:00" and body["customerEmail"] == "a@b.co"
    key, body = client.ghl_payment({"_id": "t1", "entityId": "o1", "amount": 12.5, "currency": "USD",
                                    "status": "succeeded", "contactEmail": "Jane.Doe@x.com", "createdAt": "2026-10-01"})
    assert key == "ghl:t1" and body["sourceKind"] == "transaction" and body["parentId"] == "o1"
    assert body["customerEmail"] == "jane.doe@x.com" and body["amount"] == 12.5


def test_changed_twice_variant_keys_by_webhook(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_changed_twice"))
    try:
        appointment, payment = {"id": 1, "email": "a@b.co"}, {"transactionID": "pi_1", "amount": "1.00"}
        keys = {c.acuity_payment(appointment, payment, "USD", action)[0] for action in ("scheduled", "changed")}
        assert len(keys) == 2
    finally:
        c.state.close()


def seed_people(c: Any) -> None:
    """A GHL contact and Acuity clients: the same person in other letter case, the same person under a
    second email, and a different person with the same name."""
    c.note_person("ghl_contact", "c1", "Jane.Doe@X.com", "Jane", "Doe")
    c.note_person("payment", "ghl:t1", "jane.doe@x.com", "Jane", "Doe", value=1000, currency="USD")
    c.note_person("acuity_client", "jane.doe@x.com ", "jane.doe@x.com ", "Jane", "Doe")
    c.note_person("payment", "acuity:pi_1", "jane.doe@x.com ", "Jane", "Doe", value=2550, currency="USD")
    c.note_person("acuity_client", "jane.work@y.com", "jane.work@y.com", "Jane", "Doe")  # same person, 2nd email
    c.note_person("acuity_client", "other.jane@z.com", "other.jane@z.com", "Jane", "Doe")  # another Jane Doe
    c.note_person("ghl_contact", "c2", "", "No", "Email")


def test_customers_merge_by_normalised_email_only(client: Any) -> None:
    seed_people(client)
    assert client.people.persons() == ["", "jane.doe@x.com", "jane.work@y.com", "other.jane@z.com"]
    jane = client.customer_body("jane.doe@x.com")
    assert jane["emails"] == ["jane.doe@x.com"] and jane["ghlContactIds"] == ["c1"]
    assert jane["acuityEmails"] == ["jane.doe@x.com "] and jane["lifetimeValue"] == 35.5
    assert jane["firstName"] == "Jane" and jane["currency"] == "USD" and jane["customerId"] == "jane.doe@x.com"
    assert client.customer_body("other.jane@z.com")["emails"] == ["other.jane@z.com"]
    assert client.customer_body("") is None
    # A row that moves (an appointment's email edited) leaves its old person.
    moved = client.note_person("payment", "acuity:pi_1", "other.jane@z.com", "Jane", "Doe", value=2550, currency="USD")
    assert moved == {"jane.doe@x.com", "other.jane@z.com"}
    assert client.customer_body("jane.doe@x.com")["lifetimeValue"] == 10.0
    assert client.note_person("payment", "acuity:pi_1", "other.jane@z.com", "Jane", "Doe", value=2550,
                              currency="USD") == set()


def test_merge_by_name_variant_merges_different_people(tmp_path: Path) -> None:
    c = make(tmp_path, variant("broken_acuity_merge_by_name"))
    try:
        seed_people(c)
        merged = c.customer_body("jane doe")
        assert merged["emails"] == ["jane.doe@x.com", "jane.work@y.com", "other.jane@z.com"]
    finally:
        c.state.close()


def test_people_survive_a_restart(tmp_path: Path) -> None:
    c = make(tmp_path)
    seed_people(c)
    c.state.close()
    again = make(tmp_path)
    try:
        assert again.customer_body("jane.doe@x.com")["lifetimeValue"] == 35.5
    finally:
        again.state.close()
