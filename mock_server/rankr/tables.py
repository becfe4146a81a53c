"""The fake Rankr's tables: records, posts, write history, events sent to clients, providers and
assignments (routing) with the assignment history."""

from __future__ import annotations

from typing import Any

from mock_server.rankr import models as rk
from mock_server.store import TableSpec, by_location, column

RECORDS = TableSpec("rankr_records", rk.RankrRecord,
                    (column("location_id", "TEXT", by_location), column("collection", "TEXT", lambda r: r.collection),
                     column("seq", "INTEGER", lambda r: r.seq)),
                    ("location_id, collection, seq",), location_scoped=True)
POSTS = TableSpec("rankr_posts", rk.RankrPost,
                  (column("location_id", "TEXT", by_location), column("collection", "TEXT", lambda r: r.collection),
                   column("seq", "INTEGER", lambda r: r.seq),
                   column("idempotency_key", "TEXT", lambda r: r.idempotency_key)),
                  ("location_id, collection, seq", "location_id, idempotency_key"), location_scoped=True)
WRITES = TableSpec("rankr_writes", rk.RankrWrite,
                   (column("location_id", "TEXT", by_location), column("seq", "INTEGER", lambda r: r.seq)),
                   ("location_id, seq",), location_scoped=True)
SENDS = TableSpec("rankr_sends", rk.RankrSend,
                  (column("location_id", "TEXT", by_location), column("seq", "INTEGER", lambda r: r.seq)),
                  ("location_id, seq",), location_scoped=True)

# Routing (design i12 §3): data of the location, reset with it; seeded: none.
PROVIDERS = TableSpec("rankr_providers", rk.RankrProvider,
                      (column("location_id", "TEXT", by_location), column("position", "INTEGER", lambda r: r.position)),
                      ("location_id, position",), location_scoped=True)
ASSIGNMENTS = TableSpec("rankr_assignments", rk.RankrAssignment,
                        (column("location_id", "TEXT", by_location), column("seq", "INTEGER", lambda r: r.seq),
                         column("provider_id", "TEXT", lambda r: r.provider_id)),
                        ("location_id, seq", "location_id, provider_id"), location_scoped=True)
ASSIGNMENT_CHANGES = TableSpec("rankr_assignment_changes", rk.RankrAssignmentChange,
                               (column("location_id", "TEXT", by_location), column("seq", "INTEGER", lambda r: r.seq)),
                               ("location_id, seq",), location_scoped=True)

TABLES: tuple[TableSpec[Any], ...] = (RECORDS, POSTS, WRITES, SENDS, PROVIDERS, ASSIGNMENTS, ASSIGNMENT_CHANGES)
