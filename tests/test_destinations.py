"""The sql, http and command destination adapters (contracts/PROJECT_FILE.md, "The destination view"),
read for real: SQLite files and a PostgreSQL server (pg_support), an HTTP server on loopback, a Python
script run through the shell. Configurations go through the project loader and
`scenarios.destinations.build`, as `ghl-sandbox check` does."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_support import PostgresServer, postgres_server  # noqa: F401  (the fixture)

from mock_server.testing import SandboxClient
from scenarios import project as projects
from scenarios.destinations import Binding, Destination, KindRead, NotExposed, build
from scenarios.destinations.base import KINDS, DestinationError
from scenarios.destinations.mapping import parse_amount, parse_strings
from scenarios.project import ProjectError


def make(tmp_path: Path, toml: str) -> Destination:
    path = tmp_path / "ghl-sandbox.toml"
    path.write_text(toml)
    return build(projects.load(path))


def binding(tmp_path: Path, env: dict[str, str] | None = None, values: dict[str, str] | None = None) -> Binding:
    def control(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("these adapters never use the control plane")

    return Binding(values={"client.state_dir": str(tmp_path), "scenario.id": "s1", **(values or {})},
                   env={**os.environ, **(env or {})}, cwd=tmp_path, location_id="loc_1", control=control)


def read(dest: Destination, kind: str) -> KindRead:
    return dest.read(kind)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the file where `needle` is (so expectations follow the TOML, not counting)."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# ---- mapping ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("stored", "unit", "expected"), [
    (1050, "cents", 10.5), ("1050", "cents", 10.5), (1000, "cents", 10), (10.5, "major", 10.5),
    ("12.30", "major", 12.3), (7, "major", 7), (None, "major", None),
])
def test_amounts_parse_to_major_units(stored: Any, unit: str, expected: Any) -> None:
    from decimal import Decimal

    assert parse_amount(stored, unit) == expected
    if isinstance(stored, (int, str)) and stored is not None:
        assert parse_amount(Decimal(str(stored)), unit) == expected


@pytest.mark.parametrize("stored", ["", "ten", "1e999999", "nan", True, [1], {"v": 1}])
def test_unparsable_amounts_are_not_numbers(stored: Any) -> None:
    assert not isinstance(parse_amount(stored, "major"), (int, float, type(None)))


@pytest.mark.parametrize(("stored", "expected"), [
    (["a@x.com", "b@x.com"], ["a@x.com", "b@x.com"]), (("a",), ["a"]), ([], []), (None, []), ("", []),
    ('["a@x.com", "B@X.com"]', ["a@x.com", "B@X.com"]), ("  []  ", []), ("a@x.com", ["a@x.com"]),
    ("a@x.com, b@x.com,,  c@x.com ,", ["a@x.com", "b@x.com", "c@x.com"]), ([7, 2.0, "x"], ["7", "2", "x"]),
])
def test_list_fields_parse_to_lists_of_strings(stored: Any, expected: list[str]) -> None:
    assert parse_strings(stored) == expected


@pytest.mark.parametrize("stored", ['["a@x.com", ', "[1, {", '[["a"]]', '[{"a": 1}]', [None], [True], 5, 2.5,
                                    {"a": 1}, b"a@x.com"])
def test_unparsable_list_fields_are_not_lists(stored: Any) -> None:
    assert not isinstance(parse_strings(stored), list)


# ---- rankr (default): through the sandbox's control plane -----------------------------------------

PAYMENT: dict[str, Any] = {
    "paymentKey": "acuity:pi_1", "source": "acuity", "sourceKind": "appointment", "sourceId": "pi_1",
    "parentId": "1048576", "amount": 75.5, "currency": "USD", "status": "paid", "customerEmail": "jane@x.com",
    "paidAt": "2026-10-02T09:15:00-0400"}
CUSTOMER: dict[str, Any] = {
    "customerId": "jane@x.com", "firstName": "Jane", "lastName": "Doe", "emails": ["jane@x.com"],
    "ghlContactIds": ["con_1"], "acuityEmails": ["Jane@X.com"], "lifetimeValue": 75.5, "currency": "USD",
    "updatedAt": "2026-10-02T13:15:00.000Z"}


def test_rankr_destination_reads_payments_and_customers(tmp_path: Path, ghl_sandbox: SandboxClient) -> None:
    mine, theirs = ghl_sandbox.location(0), ghl_sandbox.location(1)

    def put(location: dict[str, Any], collection: str, record_id: str, body: dict[str, Any]) -> None:
        r = ghl_sandbox.http.put(f"/rankr/v1/{collection}/{record_id}", json=body,
                                 headers={"Authorization": f"Bearer {location['rankr']['apiKey']}"})
        assert r.status_code in (200, 201), r.text

    order = {**PAYMENT, "paymentKey": "acuity-order:8811", "sourceKind": "order", "sourceId": "8811",
             "parentId": "8811", "amount": 25}
    put(mine, "payments", PAYMENT["paymentKey"], PAYMENT)
    put(mine, "payments", order["paymentKey"], order)
    put(mine, "customers", CUSTOMER["customerId"], CUSTOMER)
    put(mine, "customers", CUSTOMER["customerId"], {**CUSTOMER, "lifetimeValue": 100.5})  # an update
    put(theirs, "payments", "ghl:txn_9", {**PAYMENT, "paymentKey": "ghl:txn_9"})  # another location's

    dest = make(tmp_path, '[destination]\nadapter = "rankr"\n')
    assert {"payments", "customers"} <= dest.kinds()
    dest.start(Binding(values={}, env={}, cwd=tmp_path, location_id=mine["locationId"], control=ghl_sandbox.control))
    try:
        payments = read(dest, "payments")
        assert payments.problems == []
        assert [{k: r[k] for k in KINDS["payments"]} for r in payments.records] == [
            {k: body[k] for k in KINDS["payments"]} for body in (PAYMENT, order)]
        customers = read(dest, "customers")
        assert customers.problems == []
        assert [{k: r[k] for k in KINDS["customers"]} for r in customers.records] == [
            {**{k: CUSTOMER[k] for k in KINDS["customers"]}, "lifetimeValue": 100.5}]
        assert read(dest, "orders") == KindRead([], [])
    finally:
        dest.stop()


# ---- sql: SQLite -----------------------------------------------------------------------------------

SQLITE_TOML = """\
[destination]
adapter = "sql"
url = "sqlite:///{client.state_dir}/app.db"

[destination.orders]
table = "orders"
[destination.orders.fields]
orderId = "ghl_id"
status = { column = "state", map = { open = "pending", done = "completed" } }
amount = { column = "total_cents", unit = "cents" }
contactId = "contact"

[destination.transactions]
query = "SELECT t.id AS transactionId, t.order_ref, t.status, t.amount, t.refunded, 'USD' AS currency FROM txns t ORDER BY t.id"
[destination.transactions.fields]
orderId = "order_ref"
amountRefunded = { path = "refunded" }
"""


def sqlite_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE orders (ghl_id TEXT, state TEXT, total_cents INTEGER, currency TEXT, contact TEXT,
                             fulfillmentStatus TEXT);
        CREATE TABLE txns (id INTEGER, order_ref TEXT, status TEXT, amount TEXT, refunded REAL);
    """)
    return db


def test_sqlite_tables_queries_cents_and_value_maps(tmp_path: Path) -> None:
    dest = make(tmp_path, SQLITE_TOML)
    assert dest.adapter == "sql" and dest.kinds() == {"orders", "transactions"}
    db = sqlite_db(tmp_path / "app.db")
    orders = [("o1", "open", 1050, "USD", "c1", "unfulfilled"), ("o2", "done", 2000, "EUR", None, "fulfilled"),
              ("o3", "refunded", 99, "USD", "c3", None)]
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", orders)
    db.executemany("INSERT INTO txns VALUES (?, ?, ?, ?, ?)", [(7, "o1", "succeeded", "10.50", 0.0),
                                                              (8, "o2", "refunded", "20", 5.25)])
    db.commit()
    dest.start(binding(tmp_path))
    try:
        got = read(dest, "orders")
        status = {"open": "pending", "done": "completed"}
        assert got.problems == []
        assert got.records == [{"orderId": o, "status": status.get(s, s), "amount": cents / 100, "currency": cur,
                                "contactId": contact, "fulfillmentStatus": fs}
                               for o, s, cents, cur, contact, fs in orders]
        assert [type(r["amount"]) for r in got.records] == [float, int, float]
        txns = read(dest, "transactions")
        assert txns.problems == []
        # Ids come back as strings even when stored as integers; amounts as numbers.
        assert txns.records == [
            {"transactionId": "7", "orderId": "o1", "status": "succeeded", "amount": 10.5, "amountRefunded": 0,
             "currency": "USD"},
            {"transactionId": "8", "orderId": "o2", "status": "refunded", "amount": 20, "amountRefunded": 5.25,
             "currency": "USD"}]
        with pytest.raises(NotExposed, match="does not expose events"):
            dest.read("events")
        # A write the client makes is seen by the next read (no stale snapshot held open).
        db.execute("UPDATE orders SET state = 'done' WHERE ghl_id = 'o1'")
        db.commit()
        assert read(dest, "orders").records[0]["status"] == "completed"
        # While the client is in the middle of a write transaction, reads see what is committed,
        # at once, and take no lock that would block the client's commit.
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO orders VALUES ('o4', 'open', 1, 'USD', 'c4', NULL)")
        started = time.monotonic()
        assert [r["orderId"] for r in read(dest, "orders").records] == ["o1", "o2", "o3"]
        assert time.monotonic() - started < 1
        db.commit()
        assert [r["orderId"] for r in read(dest, "orders").records] == ["o1", "o2", "o3", "o4"]
    finally:
        dest.stop()
        db.close()


def test_sqlite_missing_column_and_unparsable_amount_name_the_record_and_key(tmp_path: Path) -> None:
    dest = make(tmp_path, SQLITE_TOML.replace('contactId = "contact"', 'contactId = "contact_id"'))
    db = sqlite_db(tmp_path / "app.db")
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                   [("o1", "open", "n/a", "USD", "c1", None), ("o2", "open", 500, "USD", "c2", None),
                    ("o3", "open", 700, "USD", "c3", None)])
    db.execute("INSERT INTO txns VALUES (1, NULL, 'succeeded', 'twelve', 0)")
    db.commit()
    dest.start(binding(tmp_path))
    try:
        got = read(dest, "orders")
        assert got.problems == [
            "orders record ghl_id=o1: destination.orders.fields.amount: column 'total_cents': 'n/a' is not a number",
            "orders record ghl_id=o1: destination.orders.fields.contactId: column 'contact_id' is missing"
            " (and 2 more records)",
        ]
        # The rest of each record is still read.
        assert [r.get("amount") for r in got.records] == [None, 5, 7]
        assert "amount" not in got.records[0]
        txns = read(dest, "transactions")
        assert txns.problems == ["transactions record transactionId=1: destination.transactions.fields.amount: "
                                 "column 'amount': 'twelve' is not a number"]
    finally:
        dest.stop()
        db.close()


def test_sqlite_id_column_missing_is_a_problem_other_unmapped_columns_are_left_out(tmp_path: Path) -> None:
    dest = make(tmp_path, """\
[destination]
adapter = "sql"
url = "sqlite:///app.db"
[destination.events]
table = "processed"
[destination.alerts]
table = "alerts"
""")
    db = sqlite3.connect(tmp_path / "app.db")  # relative sqlite paths are the client's cwd's
    db.executescript("CREATE TABLE processed (webhook_id TEXT, eventType TEXT);"
                     "INSERT INTO processed VALUES ('w1', 'OrderCreate');"
                     "CREATE TABLE alerts (severity TEXT, message TEXT);"
                     "INSERT INTO alerts VALUES ('critical', 'GHL down');")
    db.commit()
    db.close()
    dest.start(binding(tmp_path))
    try:
        events = read(dest, "events")
        assert events.problems == ["events record #0: destination.events.fields.eventId: column 'eventId' is missing"]
        assert events.records == [{"eventType": "OrderCreate"}]
        alerts = read(dest, "alerts")
        assert alerts == KindRead([{"severity": "critical", "message": "GHL down"}], [])
    finally:
        dest.stop()


def test_sqlite_missing_file_or_table_reads_empty_and_is_never_created(tmp_path: Path) -> None:
    dest = make(tmp_path, SQLITE_TOML)
    dest.start(binding(tmp_path))
    try:
        assert read(dest, "orders") == KindRead([], [])
        assert not (tmp_path / "app.db").exists(), "reading must not create the client's database"
        db = sqlite3.connect(tmp_path / "app.db")
        db.execute("CREATE TABLE unrelated (x INTEGER)")
        db.commit()
        assert read(dest, "orders") == KindRead([], [])        # a table the client has not created yet
        assert read(dest, "transactions") == KindRead([], [])  # a query over one
        db.executescript("CREATE TABLE orders (ghl_id TEXT, state TEXT, total_cents INTEGER, currency TEXT,"
                         " contact TEXT); INSERT INTO orders VALUES ('o9', 'open', 100, 'USD', 'c9');")
        db.commit()
        db.close()
        assert read(dest, "orders").records == [{"orderId": "o9", "status": "pending", "amount": 1, "currency": "USD",
                                                 "contactId": "c9"}]
    finally:
        dest.stop()


def test_sqlite_bad_query_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    dest = make(tmp_path, SQLITE_TOML.replace("FROM txns t ORDER BY t.id", "FROM txns t ORDER BY nope"))
    sqlite_db(tmp_path / "app.db").close()
    dest.start(binding(tmp_path))
    try:
        got = read(dest, "transactions")
        assert got.records == []
        assert len(got.problems) == 1
        assert got.problems[0].startswith("transactions: destination.transactions.query: cannot read the query: ")
        assert "nope" in got.problems[0]
    finally:
        dest.stop()


ACUITY_SQLITE_TOML = """\
[destination]
adapter = "sql"
url = "sqlite:///{client.state_dir}/app.db"

[destination.payments]
table = "payments"
[destination.payments.fields]
paymentKey = "key"
sourceId = "source_id"
parentId = "parent_id"
amount = { column = "amount_cents", unit = "cents" }
customerEmail = "email"

[destination.customers]
query = "SELECT id AS customerId, first_name AS firstName, last_name AS lastName, emails, contact_ids, acuity_emails, ltv_cents, currency FROM customers ORDER BY rowid"
[destination.customers.fields]
ghlContactIds = { column = "contact_ids", map = { legacy_1 = "con_1" } }
acuityEmails = "acuity_emails"
lifetimeValue = { column = "ltv_cents", unit = "cents" }
"""


def test_sqlite_payments_and_customers_with_list_columns(tmp_path: Path) -> None:
    dest = make(tmp_path, ACUITY_SQLITE_TOML)
    assert dest.kinds() == {"payments", "customers"}
    db = sqlite3.connect(tmp_path / "app.db")
    db.executescript("""
        CREATE TABLE payments (key TEXT, source TEXT, sourceKind TEXT, source_id, parent_id, amount_cents INTEGER,
                               currency TEXT, status TEXT, email TEXT, paid_at TEXT);
        CREATE TABLE customers (id TEXT, first_name TEXT, last_name TEXT, emails TEXT, contact_ids TEXT,
                                acuity_emails TEXT, ltv_cents INTEGER, currency TEXT);
    """)
    db.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        ("acuity:pi_1", "acuity", "appointment", "pi_1", 1048576, 7550, "USD", "paid", "jane@x.com", "2026-10-02"),
        ("ghl:txn_1", "ghl", "transaction", "txn_1", "ord_1", 1000, "USD", "succeeded", "bob@x.com", "2026-10-01"),
        ("acuity-order:8811", "acuity", "order", 8811, 8811, 2500, "USD", "paid", "jane@x.com", "2026-10-03")])
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        # A JSON array, comma-separated text (with a mapped item), a JSON array as Acuity shows the email.
        ("jane@x.com", "Jane", "Doe", '["jane@x.com", "jane.doe@y.org"]', "legacy_1, con_2", '["Jane@X.com"]',
         12550, "USD"),
        # One email as plain text; NULL and '' are empty lists.
        ("bob@x.com", "Bob", "Roe", "bob@x.com", None, "", 0, "USD"),
        # Malformed JSON and a nested list are problems; numbers in a list are their text.
        ("ann@x.com", "Ann", "Poe", '["ann@x.com", ', "[1, 2]", '[["Ann@x.com"]]', 500, "EUR"),
    ])
    db.commit()
    dest.start(binding(tmp_path))
    try:
        payments = read(dest, "payments")
        assert payments.problems == []
        assert payments.records == [
            {"paymentKey": "acuity:pi_1", "source": "acuity", "sourceKind": "appointment", "sourceId": "pi_1",
             "parentId": "1048576", "amount": 75.5, "currency": "USD", "status": "paid", "customerEmail": "jane@x.com"},
            {"paymentKey": "ghl:txn_1", "source": "ghl", "sourceKind": "transaction", "sourceId": "txn_1",
             "parentId": "ord_1", "amount": 10, "currency": "USD", "status": "succeeded",
             "customerEmail": "bob@x.com"},
            {"paymentKey": "acuity-order:8811", "source": "acuity", "sourceKind": "order", "sourceId": "8811",
             "parentId": "8811", "amount": 25, "currency": "USD", "status": "paid", "customerEmail": "jane@x.com"}]
        customers = read(dest, "customers")
        assert customers.records == [
            {"customerId": "jane@x.com", "firstName": "Jane", "lastName": "Doe",
             "emails": ["jane@x.com", "jane.doe@y.org"], "ghlContactIds": ["con_1", "con_2"],
             "acuityEmails": ["Jane@X.com"], "lifetimeValue": 125.5, "currency": "USD"},
            {"customerId": "bob@x.com", "firstName": "Bob", "lastName": "Roe", "emails": ["bob@x.com"],
             "ghlContactIds": [], "acuityEmails": [], "lifetimeValue": 0, "currency": "USD"},
            {"customerId": "ann@x.com", "firstName": "Ann", "lastName": "Poe", "ghlContactIds": ["1", "2"],
             "lifetimeValue": 5, "currency": "EUR"}]
        list_problem = "is not a list of strings (a list, a JSON array or comma-separated text)"
        assert customers.problems == [
            f"customers record customerId=ann@x.com: destination.customers.fields.emails: column 'emails': "
            f"'[\"ann@x.com\", ' {list_problem}",
            f"customers record customerId=ann@x.com: destination.customers.fields.acuityEmails: column "
            f"'acuity_emails': '[[\"Ann@x.com\"]]' {list_problem}"]
        with pytest.raises(NotExposed):
            dest.read("orders")
    finally:
        dest.stop()
        db.close()


# ---- sql: PostgreSQL -------------------------------------------------------------------------------

PG_TOML = """\
[destination]
adapter = "sql"
url = "postgresql://postgres@127.0.0.1:{port}/ghl_{{scenario.id}}"
create_database = true

[destination.orders]
table = "orders"
[destination.orders.fields]
amount = {{ column = "total", unit = "major" }}
status = {{ column = "state", map = {{ "1" = "pending", "2" = "completed" }} }}

[destination.events]
query = "SELECT webhook_id AS \\"eventId\\", kind AS \\"eventType\\", order_id AS \\"orderId\\" FROM events"
"""


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:  # noqa: F811  (the imported fixture, by name)
    return postgres_server


def databases(pg: PostgresServer) -> set[str]:
    return {row[0] for row in pg.execute("SELECT datname FROM pg_database")}


def test_postgres_create_database_per_scenario(tmp_path: Path, pg: PostgresServer) -> None:
    dest = make(tmp_path, PG_TOML.format(port=pg.port))
    # Left over from an earlier run: dropped and created afresh.
    pg.create_database("ghl_s1")
    pg.execute("CREATE TABLE stale (x int)", db="ghl_s1")
    dest.start(binding(tmp_path))
    client = None
    try:
        assert "ghl_s1" in databases(pg)
        assert pg.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'stale'", db="ghl_s1") == [(0,)]
        assert dest.describe() == f"sql postgresql+psycopg://postgres@127.0.0.1:{pg.port}/ghl_s1"
        assert read(dest, "orders") == KindRead([], [])  # the client has not created its schema yet
        assert read(dest, "events") == KindRead([], [])
        # The client: unquoted camelCase columns (folded to lower case), a numeric amount, integer states.
        client = psycopg.connect(pg.libpq_url("ghl_s1"), autocommit=True)
        client.execute("CREATE TABLE orders (orderId text, state int, total numeric(12, 2), currency text,"
                       " contactId text, fulfillmentStatus text)")
        client.execute("INSERT INTO orders VALUES ('o1', 1, 10.50, 'USD', 'c1', 'unfulfilled'),"
                       " ('o2', 2, 20.00, 'USD', NULL, 'fulfilled'), ('o3', 3, 1.25, 'EUR', 'c3', NULL)")
        client.execute("CREATE TABLE events (webhook_id text, kind text, order_id text)")
        client.execute("INSERT INTO events VALUES ('w1', 'OrderCreate', 'o1')")
        got = read(dest, "orders")
        assert got.problems == []
        assert sorted(got.records, key=lambda r: r["orderId"]) == [
            {"orderId": "o1", "status": "pending", "amount": 10.5, "currency": "USD", "contactId": "c1",
             "fulfillmentStatus": "unfulfilled"},
            {"orderId": "o2", "status": "completed", "amount": 20, "currency": "USD", "contactId": None,
             "fulfillmentStatus": "fulfilled"},
            {"orderId": "o3", "status": 3, "amount": 1.25, "currency": "EUR", "contactId": "c3",
             "fulfillmentStatus": None}]
        assert read(dest, "events") == KindRead([{"eventId": "w1", "eventType": "OrderCreate", "orderId": "o1"}], [])
    finally:
        dest.stop()  # with the client's connection still open: dropped anyway
        if client is not None:
            client.close()
    assert "ghl_s1" not in databases(pg)


def test_postgres_premade_database_schema_table_and_errors(tmp_path: Path, pg: PostgresServer) -> None:
    url = pg.create_database("premade")
    pg.execute('CREATE SCHEMA app; CREATE TABLE app."Subs" (id text, state text, cents bigint, currency text)',
               db="premade")
    pg.execute("INSERT INTO app.\"Subs\" VALUES ('s1', 'active', 1999, 'USD'), ('s2', 'active', NULL, 'USD')",
               db="premade")
    dest = make(tmp_path, f"""\
[destination]
adapter = "sql"
url = "{url}"
[destination.subscriptions]
table = "app.Subs"
[destination.subscriptions.fields]
subscriptionId = "id"
status = "state"
amount = {{ column = "cents", unit = "cents" }}
[destination.alerts]
query = "SELECT severity FROM app.missing_alerts"
[destination.events]
query = "SELEC nonsense"
""")
    dest.start(binding(tmp_path))
    try:
        assert read(dest, "subscriptions") == KindRead([
            {"subscriptionId": "s1", "status": "active", "amount": 19.99, "currency": "USD"},
            {"subscriptionId": "s2", "status": "active", "amount": None, "currency": "USD"}], [])
        assert read(dest, "alerts") == KindRead([], [])  # a query over a table not created yet
        bad = read(dest, "events")
        assert bad.records == [] and len(bad.problems) == 1
        assert bad.problems[0].startswith('events: destination.events.query: cannot read the query: syntax error')
    finally:
        dest.stop()
    assert "premade" in databases(pg)  # not ours to drop


def test_postgres_connection_refused_is_a_problem(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = make(tmp_path, f'[destination]\nadapter = "sql"\nurl = "postgresql://postgres@127.0.0.1:{port}/x"\n'
                          '[destination.orders]\ntable = "orders"\n')
    dest.start(binding(tmp_path))
    try:
        got = read(dest, "orders")
        assert got.records == [] and len(got.problems) == 1
        assert got.problems[0].startswith("orders: destination.orders.table: cannot read table 'orders': ")
        assert "refused" in got.problems[0].lower() or "failed" in got.problems[0].lower()
    finally:
        dest.stop()
    # create_database against it fails at start, clearly.
    dest = make(tmp_path, f'[destination]\nadapter = "sql"\ncreate_database = true\n'
                          f'url = "postgresql://postgres@127.0.0.1:{port}/x"\n[destination.orders]\ntable = "o"\n')
    with pytest.raises(DestinationError, match=r"^destination.create_database: cannot create database 'x'"):
        dest.start(binding(tmp_path))


def test_postgres_array_and_jsonb_columns_are_list_fields(tmp_path: Path, pg: PostgresServer) -> None:
    url = pg.create_database("acuity_lists")
    pg.execute("CREATE TABLE customers (customerId text, firstName text, lastName text, emails text[],"
               " ghlContactIds jsonb, acuityEmails text, lifetimeValue numeric(12, 2), currency text)", db="acuity_lists")
    pg.execute("""INSERT INTO customers VALUES
        ('jane@x.com', 'Jane', 'Doe', ARRAY['jane@x.com', 'jd@y.org'], '["con_1"]', 'Jane@X.com', 125.50, 'USD'),
        ('bob@x.com', 'Bob', 'Roe', '{}', NULL, NULL, 0, 'USD'),
        ('ann@x.com', 'Ann', 'Poe', ARRAY['ann@x.com'], '{"id": "con_9"}', '["a@x.com"]', 5, 'USD')""",
               db="acuity_lists")
    dest = make(tmp_path, f'[destination]\nadapter = "sql"\nurl = "{url}"\n[destination.customers]\n'
                          'table = "customers"\n')
    dest.start(binding(tmp_path))
    try:
        got = read(dest, "customers")
        assert got.records == [
            {"customerId": "jane@x.com", "firstName": "Jane", "lastName": "Doe", "emails": ["jane@x.com", "jd@y.org"],
             "ghlContactIds": ["con_1"], "acuityEmails": ["Jane@X.com"], "lifetimeValue": 125.5, "currency": "USD"},
            {"customerId": "bob@x.com", "firstName": "Bob", "lastName": "Roe", "emails": [], "ghlContactIds": [],
             "acuityEmails": [], "lifetimeValue": 0, "currency": "USD"},
            {"customerId": "ann@x.com", "firstName": "Ann", "lastName": "Poe", "emails": ["ann@x.com"],
             "acuityEmails": ["a@x.com"], "lifetimeValue": 5, "currency": "USD"}]
        # PostgreSQL folds the unquoted names: the problem names the column the mapping looked for.
        assert got.problems == ["customers record customerId=ann@x.com: destination.customers.fields.ghlContactIds: "
                                "column 'ghlContactIds': {'id': 'con_9'} is not a list of strings (a list, a JSON "
                                "array or comma-separated text)"]
    finally:
        dest.stop()


# ---- configuration errors: file, line, key ---------------------------------------------------------

BAD_CONFIGS: list[tuple[str, str, str]] = [
    # (TOML, the text on the line the error points at, the message after "path:line: ")
    (SQLITE_TOML.replace('contactId = "contact"', 'contact = "c"'), 'contact = "c"',
     "destination.orders.fields.contact: unknown field of orders (known: orderId, status, fulfillmentStatus, "
     "amount, currency, contactId)"),
    (SQLITE_TOML.replace('table = "orders"', 'tabel = "orders"'), "[destination.orders]",
     "destination.orders: needs table = \"...\" or query = \"SELECT ...\""),
    (SQLITE_TOML.replace('table = "orders"', 'table = "orders"\nquery = "SELECT 1"'), 'query = "SELECT 1"',
     "destination.orders.query: give table or query, not both"),
    (SQLITE_TOML.replace('table = "orders"', 'table = "orders"\nwhere = "x"'), 'where = "x"',
     "destination.orders.where: unknown key (known: fields, query, table)"),
    (SQLITE_TOML.replace("[destination.orders", "[destination.order"), "[destination.order]",
     "destination.order: unknown key (known: adapter, alerts, create_database, customers, events, "
     "fulfillment_requests, orders, payments, subscriptions, transactions, url)"),
    (SQLITE_TOML.replace('unit = "cents"', 'unit = "pennies"'), 'unit = "pennies"',
     "destination.orders.fields.amount.unit: must be one of major, cents, not 'pennies'"),
    (SQLITE_TOML.replace('column = "state",', 'column = "state", unit = "cents",'), 'column = "state"',
     "destination.orders.fields.status.unit: applies to amount fields only (amount, amountRefunded, lifetimeValue)"),
    (SQLITE_TOML.replace('unit = "cents" }', 'unit = "cents", colum = "x" }'), 'colum = "x"',
     "destination.orders.fields.amount.colum: unknown key (known: column, map, path, unit)"),
    (SQLITE_TOML.replace('orderId = "ghl_id"', "orderId = 3"), "orderId = 3",
     'destination.orders.fields.orderId: must be a column name or a table {column = "...", map = {...}, '
     'unit = "major"|"cents"}, not the number 3'),
    (SQLITE_TOML.replace('adapter = "sql"', 'adapter = "sql"\ncreate_database = true'), "create_database",
     "destination.create_database: works with PostgreSQL URLs only, not sqlite://"),
    (SQLITE_TOML.replace("{client.state_dir}", "{client.statedir}"), "url =",
     "destination.url: unknown template name {client.statedir}"),
    ('[destination]\nadapter = "sql"\n', "[destination]", "destination.url: is required"),
    ('[destination]\nadapter = "sql"\nurl = "sqlite:///a.db"\n[destination.customers]\ntable = "c"\n'
     '[destination.customers.fields]\nemails = { column = "e", unit = "cents" }\n', "emails =",
     "destination.customers.fields.emails.unit: applies to amount fields only (amount, amountRefunded, "
     "lifetimeValue)"),
    ('[destination]\nadapter = "sql"\nurl = "sqlite:///a.db"\n[destination.payments]\ntable = "p"\n'
     '[destination.payments.fields]\npaidAt = "paid_at"\n', "paidAt =",
     "destination.payments.fields.paidAt: unknown field of payments (known: paymentKey, source, sourceKind, "
     "sourceId, parentId, amount, currency, status, customerEmail)"),
    ('[destination]\nadapter = "http"\ntimout = 3\n', "timout",
     "destination.timout: unknown key (known: adapter, alerts, customers, events, fulfillment_requests, headers, "
     "orders, payments, subscriptions, timeout, transactions)"),
    ('[destination]\nadapter = "http"\n[destination.events]\nlist = "data"\n', "[destination.events]",
     "destination.events.url: is required"),
    ('[destination]\nadapter = "http"\n[destination.events]\nurl = "http://x/e"\n[destination.events.fields]\n'
     'eventId = { path = "id", column = "id" }\n', "eventId =",
     "destination.events.fields.eventId.path: give column or path, not both"),
    ('[destination]\nadapter = "http"\nheaders = { X-Key = 3 }\n', "headers",
     "destination.headers.X-Key: must be a string, not the number 3"),
    ('[destination]\nadapter = "command"\n', "[destination]", "destination.command: is required"),
    ('[destination]\nadapter = "command"\ncommand = "x"\nkinds = ["orders", "order"]\n', "kinds",
     "destination.kinds[1]: unknown kind 'order' (known: orders, transactions, subscriptions, events, alerts, "
     "fulfillment_requests, payments, customers)"),
    ('[destination]\nadapter = "command"\ncommand = "x"\ntimeout = "5"\n', "timeout",
     "destination.timeout: must be a number, not the string '5'"),
]


@pytest.mark.parametrize(("toml", "line_text", "message"), BAD_CONFIGS)
def test_bad_options_are_errors_with_file_line_and_key(tmp_path: Path, toml: str, line_text: str,
                                                       message: str) -> None:
    with pytest.raises(ProjectError) as err:
        make(tmp_path, toml)
    where = f"{(tmp_path / 'ghl-sandbox.toml').resolve()}:{line_of(toml, line_text)}: "
    assert str(err.value).startswith(where + message), str(err.value)


# ---- http ------------------------------------------------------------------------------------------

class Site:
    """A real HTTP server on loopback answering canned responses by path, recording request headers."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.seen: list[dict[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                site.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, ctype, body = site.routes.get(self.path, (404, "application/json", b'{"error": "no"}'))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def json(self, path: str, value: Any, status: int = 200) -> None:
        self.routes[path] = (status, "application/json", json.dumps(value).encode())


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


HTTP_TOML = """\
[destination]
adapter = "http"
headers = { Authorization = "Bearer {rankr.api_key}", X-Location = "{ghl.location_id}" }
timeout = 5

[destination.orders]
url = "{rankr.base_url}/v1/orders?status=all"
list = "result.items"
[destination.orders.fields]
orderId = "id"
amount = { path = "totals.cents", unit = "cents" }
status = { path = "state", map = { paid = "completed" } }
contactId = "customer.ids.0"

[destination.events]
url = "{rankr.base_url}/v1/events"
"""


def test_http_reads_dotted_paths_with_templated_headers(tmp_path: Path, site: Site) -> None:
    dest = make(tmp_path, HTTP_TOML)
    assert dest.kinds() == {"orders", "events"}
    site.json("/v1/orders?status=all", {"result": {"items": [
        {"id": "o1", "state": "paid", "totals": {"cents": 1234}, "currency": "USD", "customer": {"ids": ["c1"]},
         "fulfillmentStatus": "unfulfilled", "extra": 1},
        {"id": 2, "state": "pending", "totals": {"cents": "500"}, "currency": "USD", "customer": {"ids": []}},
    ]}})
    site.json("/v1/events", [{"eventId": "w1", "eventType": "OrderCreate", "orderId": "o1"}])
    dest.start(binding(tmp_path, values={"rankr.base_url": site.url, "rankr.api_key": "rk_123",
                                         "ghl.location_id": "L9"}))
    try:
        got = read(dest, "orders")
        assert got.records == [
            {"orderId": "o1", "status": "completed", "amount": 12.34, "currency": "USD", "contactId": "c1",
             "fulfillmentStatus": "unfulfilled"},
            {"orderId": "2", "status": "pending", "amount": 5, "currency": "USD"}]
        assert got.problems == ["orders record id=2: destination.orders.fields.contactId: path 'customer.ids.0' "
                                "is missing"]
        assert read(dest, "events") == KindRead([{"eventId": "w1", "eventType": "OrderCreate", "orderId": "o1"}], [])
        assert site.seen[0]["authorization"] == "Bearer rk_123" and site.seen[0]["x-location"] == "L9"
        with pytest.raises(NotExposed):
            dest.read("alerts")
    finally:
        dest.stop()


@pytest.mark.parametrize(("route", "expected"), [
    ((500, "text/plain", b"boom"), "orders: destination.orders.url: GET {url}/v1/orders?status=all answered 500: 'boom'"),
    ((200, "text/html", b"<html>hi</html>"),
     "orders: destination.orders.url: GET {url}/v1/orders?status=all: the answer is not JSON: '<html>hi</html>'"),
    ((200, "application/json", b'{"data": []}'),
     "orders: destination.orders.list: the answer has no 'result.items' (it has: data)"),
    ((200, "application/json", b'{"result": {"items": {"a": 1}}}'),
     "orders: destination.orders.list: 'result.items' is an object, not a list"),
    ((200, "application/json", b'{"result": {"items": [7]}}'),
     "orders record #0: destination.orders: the record is int 7, not an object"),
])
def test_http_bad_answers_are_problems(tmp_path: Path, site: Site, route: tuple[int, str, bytes],
                                       expected: str) -> None:
    dest = make(tmp_path, HTTP_TOML)
    site.routes["/v1/orders?status=all"] = route
    dest.start(binding(tmp_path, values={"rankr.base_url": site.url, "rankr.api_key": "k", "ghl.location_id": "L"}))
    try:
        got = read(dest, "orders")
        assert got.problems == [expected.format(url=site.url)]
    finally:
        dest.stop()


def test_http_connection_refused_is_a_problem(tmp_path: Path, site: Site) -> None:
    dest = make(tmp_path, HTTP_TOML)
    url = site.url
    site.server.shutdown()
    site.server.server_close()
    dest.start(binding(tmp_path, values={"rankr.base_url": url, "rankr.api_key": "k", "ghl.location_id": "L"}))
    try:
        got = read(dest, "events")
        assert got.records == [] and len(got.problems) == 1
        assert got.problems[0].startswith(f"events: destination.events.url: GET {url}/v1/events: ConnectError: ")
    finally:
        dest.stop()


def test_http_customers_list_fields_from_json(tmp_path: Path, site: Site) -> None:
    dest = make(tmp_path, """\
[destination]
adapter = "http"
[destination.customers]
url = "{rankr.base_url}/people"
list = "data"
[destination.customers.fields]
customerId = "id"
emails = "contact.emails"
ghlContactIds = "links.ghl"
lifetimeValue = { path = "ltv.cents", unit = "cents" }
""")
    assert dest.kinds() == {"customers"}
    site.json("/people", {"data": [
        {"id": 1, "firstName": "Jane", "lastName": "Doe", "contact": {"emails": ["jane@x.com", "jd@y.org"]},
         "links": {"ghl": "con_1,con_2"}, "acuityEmails": [], "ltv": {"cents": 12550}, "currency": "USD"},
        {"id": "bob@x.com", "contact": {"emails": {"primary": "bob@x.com"}}, "links": {"ghl": None},
         "ltv": {"cents": 0}}]})
    dest.start(binding(tmp_path, values={"rankr.base_url": site.url}))
    try:
        got = read(dest, "customers")
        assert got.records == [
            {"customerId": "1", "firstName": "Jane", "lastName": "Doe", "emails": ["jane@x.com", "jd@y.org"],
             "ghlContactIds": ["con_1", "con_2"], "acuityEmails": [], "lifetimeValue": 125.5, "currency": "USD"},
            {"customerId": "bob@x.com", "ghlContactIds": [], "lifetimeValue": 0}]
        assert got.problems == ["customers record id=bob@x.com: destination.customers.fields.emails: path "
                                "'contact.emails': {'primary': 'bob@x.com'} is not a list of strings (a list, a JSON "
                                "array or comma-separated text)"]
    finally:
        dest.stop()


# ---- command ---------------------------------------------------------------------------------------

DUMP = """\
import json, os, sys, time
from pathlib import Path
runs = Path("runs.txt")
runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else "1")
mode = os.environ.get("VIEW_MODE", "ok")
if mode == "fail":
    print("partial output")
    print("Traceback: database is locked", file=sys.stderr)
    sys.exit(3)
if mode == "slow":
    time.sleep(30)
if mode == "garbage":
    print("orders: none")
    sys.exit(0)
print(json.dumps(json.loads(Path(os.environ["VIEW_FILE"]).read_text())))
"""


def command_dest(tmp_path: Path, view: Any, extra: str = "") -> tuple[Destination, Callable[..., Binding]]:
    (tmp_path / "dump_view.py").write_text(DUMP)
    (tmp_path / "view.json").write_text(json.dumps(view))
    dest = make(tmp_path, f'[destination]\nadapter = "command"\ncommand = "{sys.executable} dump_view.py"\n{extra}')

    def bind(mode: str = "ok") -> Binding:
        return binding(tmp_path, env={"VIEW_FILE": str(tmp_path / "view.json"), "VIEW_MODE": mode})

    return dest, bind


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs.txt"
    return int(path.read_text()) if path.exists() else 0


def test_command_view_kinds_present_are_exposed_one_run_per_round(tmp_path: Path) -> None:
    view = {"orders": [{"orderId": "o1", "status": "completed", "amount": "10.50", "currency": "USD",
                        "contactId": 42, "fulfillmentStatus": "fulfilled", "internal": True}],
            "events": [{"eventId": "w1", "eventType": "OrderCreate", "orderId": "o1"},
                       {"eventType": "OrderCreate"}]}
    dest, bind = command_dest(tmp_path, view)
    dest.start(bind())
    try:
        orders = read(dest, "orders")
        assert orders == KindRead([{"orderId": "o1", "status": "completed", "amount": 10.5, "currency": "USD",
                                    "contactId": "42", "fulfillmentStatus": "fulfilled"}], [])
        events = read(dest, "events")
        assert events.records == [{"eventId": "w1", "eventType": "OrderCreate", "orderId": "o1"},
                                  {"eventType": "OrderCreate"}]
        assert events.problems == ["events record #1: destination.command: field 'eventId' is missing"]
        with pytest.raises(NotExposed, match="does not expose alerts"):
            dest.read("alerts")  # not in the output, no `kinds`: not exposed
        assert runs(tmp_path) == 1, "kinds read together share one run"
        time.sleep(0.3)
        read(dest, "orders")
        assert runs(tmp_path) == 2
        dest.stop()
        dest.start(bind())  # the next scenario never gets the previous one's cached run
        read(dest, "orders")
        assert runs(tmp_path) == 3
    finally:
        dest.stop()


def test_command_view_payments_and_customers(tmp_path: Path) -> None:
    view = {"payments": [{**{k: v for k, v in PAYMENT.items() if k != "paidAt"}, "amount": "75.50", "parentId": 1048576,
                          "paidAt": "kept out"},
                         {"source": "ghl", "amount": 10}],
            "customers": [{**CUSTOMER, "ghlContactIds": "con_1, con_2", "acuityEmails": None}]}
    dest, bind = command_dest(tmp_path, view)
    dest.start(bind())
    try:
        payments = read(dest, "payments")
        assert payments.records == [{k: PAYMENT[k] for k in KINDS["payments"]}, {"source": "ghl", "amount": 10}]
        assert payments.problems == ["payments record #1: destination.command: field 'paymentKey' is missing"]
        assert read(dest, "customers") == KindRead([{**{k: CUSTOMER[k] for k in KINDS["customers"]},
                                                     "ghlContactIds": ["con_1", "con_2"], "acuityEmails": []}], [])
        with pytest.raises(NotExposed):
            dest.read("orders")
    finally:
        dest.stop()


def test_command_declared_kinds(tmp_path: Path) -> None:
    dest, bind = command_dest(tmp_path, {"orders": [], "alerts": [{"severity": "critical", "message": "m"}]},
                              'kinds = ["orders", "events"]\n')
    assert dest.kinds() == {"orders", "events"}
    dest.start(bind())
    try:
        assert read(dest, "orders") == KindRead([], [])
        assert read(dest, "events").problems == [
            "events: destination.kinds lists events, but the output of "
            f"'{sys.executable} dump_view.py' has no 'events' (it has: orders, alerts)"]
        with pytest.raises(NotExposed):
            dest.read("alerts")  # printed, but not declared
    finally:
        dest.stop()


@pytest.mark.parametrize(("mode", "pattern"), [
    ("fail", r"^orders: destination\.command: '.*dump_view\.py' exited with 3; stderr: Traceback: database is locked$"),
    ("garbage", r"^orders: destination\.command: the output of '.*' is not JSON \(.*\); stdout: orders: none$"),
    ("slow", r"^orders: destination\.command: '.*dump_view\.py' did not finish within 0\.5s; it printed nothing$"),
])
def test_command_failures_are_problems_with_the_output_tail(tmp_path: Path, mode: str, pattern: str) -> None:
    dest, bind = command_dest(tmp_path, {"orders": []}, "timeout = 0.5\n")
    dest.start(bind(mode))
    try:
        started = time.monotonic()
        got = read(dest, "orders")
        assert time.monotonic() - started < 5
        assert got.records == [] and len(got.problems) == 1
        assert re.match(pattern, got.problems[0]), got.problems[0]
    finally:
        dest.stop()


def test_command_output_that_is_not_an_object_of_lists(tmp_path: Path) -> None:
    dest, bind = command_dest(tmp_path, [1, 2])
    dest.start(bind())
    try:
        assert read(dest, "orders").problems == [
            f"orders: destination.command: the output of '{sys.executable} dump_view.py' is a JSON list, not an "
            'object {"orders": [...], ...}']
    finally:
        dest.stop()
    dest, bind = command_dest(tmp_path, {"orders": {"o1": {}}})
    dest.start(bind())
    try:
        assert read(dest, "orders").problems == ["orders: destination.command: the output's 'orders' is not a list"]
    finally:
        dest.stop()
