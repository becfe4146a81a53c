"""Control-plane reads answered 304 while nothing they read was written (`mock_server.http.conditional`):
what the store notes as read and how its stamps move, the two state reads over real HTTP, and the
client that asks again with If-None-Match."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from test_store_kept import FEW, Setting
from test_store_versions import HERE, SPEC, Note

from mock_server.http.conditional import ConditionalReads
from mock_server.store import Store
from mock_server.testing import SandboxClient

# ---- the store: what a block read, and stamps of it ---------------------------------------------


def test_tracking_notes_the_kinds_and_meta_keys_read_in_the_block_only() -> None:
    store = Store(None, [FEW, SPEC])
    store.table(Note).put(Note("n", "loc", 1.0))
    store.table(Setting).get("nothing")  # before the block: not noted
    with store.tracking_reads() as names:
        store.table(Note).all(HERE)
        store.get_meta("seed")
        with store.tracking_reads() as inner:
            store.table(Note).count(HERE)
        store.table(Note).put(Note("m", "loc", 2.0))  # a write is not a read
    assert inner == {"notes"}
    assert names == {"notes", "meta:seed"}
    with store.tracking_reads() as everything:
        store.counts()
    assert everything == {"*"}


def test_a_stamp_moves_with_a_write_of_what_was_read_and_nothing_else() -> None:
    store = Store(None, [FEW, SPEC])
    read = ["notes", "meta:seed"]
    stamp = store.read_stamp(read)
    assert store.read_stamp(read) == stamp
    assert store.read_stamp(read, salt="/other") != stamp  # another resource reading the same: another tag
    store.table(Setting).put(Setting("s", "loc", 1.0))
    store.set_meta("other", 1)
    assert store.read_stamp(read) == stamp  # neither was read
    store.set_meta("seed", 7)
    seeded = store.read_stamp(read)
    assert seeded != stamp
    store.table(Note).put(Note("n", "loc", 1.0))
    assert store.read_stamp(read) != seeded
    written = store.read_stamp(read)
    assert store.read_stamp(["*"]) != store.read_stamp(["*"], salt="x")
    everything = store.read_stamp(["*"])
    store.table(Setting).put(Setting("t", "loc", 2.0))
    assert store.read_stamp(["*"]) != everything and store.read_stamp(read) == written


def test_a_rollback_an_import_and_a_restore_move_every_stamp() -> None:
    store = Store(None, [FEW, SPEC])
    read = ["few"]
    before = store.read_stamp(read)
    with pytest.raises(RuntimeError), store.transaction():
        store.table(Note).put(Note("n", "loc", 1.0))
        raise RuntimeError("undone")
    assert store.read_stamp(read) != before
    snapshot = store.snapshot()
    after_rollback = store.read_stamp(read)
    store.restore(snapshot)
    assert store.read_stamp(read) != after_rollback
    restored = store.read_stamp(read)
    store.import_({"tables": {}, "meta": {}})
    assert store.read_stamp(read) != restored
    assert Store(None, [FEW, SPEC]).read_stamp(read) != Store(None, [FEW, SPEC]).read_stamp(read)


def _request(path: str, if_none_match: str | None = None) -> Request:
    headers = [(b"if-none-match", if_none_match.encode())] if if_none_match else []
    return Request({"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
                    "headers": headers, "scheme": "http", "server": ("127.0.0.1", 80), "root_path": ""})


def test_an_answer_built_while_the_store_was_written_carries_no_tag() -> None:
    store = Store(None, [FEW, SPEC])
    reads = ConditionalReads(store)
    calm = reads.answer(_request("/state"), lambda: [n.id for n in store.table(Note).all(HERE)])
    assert calm.headers.get("etag")
    assert reads.answer(_request("/state", calm.headers["etag"]), lambda: pytest.fail("not built")).status_code == 304

    def racing() -> list[str]:
        found = [n.id for n in store.table(Note).all(HERE)]
        store.table(Note).put(Note("late", "loc", 1.0))  # as another writer between two of its reads
        return found

    raced = reads.answer(_request("/state"), racing)
    assert raced.status_code == 200 and "etag" not in raced.headers
    again = reads.answer(_request("/state", calm.headers["etag"]), lambda: [n.id for n in store.table(Note).all(HERE)])
    assert again.status_code == 200 and again.body == b'["late"]'  # the old tag no longer matches


# ---- over HTTP ------------------------------------------------------------------------------------


def _get(sb: SandboxClient, path: str, tag: str | None = None) -> httpx.Response:
    return sb.request("GET", path, headers={"If-None-Match": tag} if tag else None)


def test_a_locations_state_is_answered_304_until_its_payments_change(ghl_sandbox: SandboxClient,
                                                                     loc: dict[str, Any]) -> None:
    path = f"/locations/{loc['id']}/state"
    first = _get(ghl_sandbox, path)
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"') and tag.endswith('"')
    unchanged = _get(ghl_sandbox, path, tag)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == tag
    assert _get(ghl_sandbox, path, f'"nope", W/{tag}').status_code == 304  # a list, a weak tag
    ghl_sandbox.control("POST", "/webhooks/targets", json={"url": "http://127.0.0.1:9/hook"})  # not payments
    assert _get(ghl_sandbox, path, tag).status_code == 304
    order = ghl_sandbox.control("POST", "/simulate/order.create", json={"locationId": loc["id"]})
    changed = _get(ghl_sandbox, path, tag)
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    created = next(r["id"] for r in order["resources"] if r["type"] == "order")
    assert created in {o["_id"] for o in changed.json()["orders"]}
    assert changed.json() == _get(ghl_sandbox, path).json()
    assert _get(ghl_sandbox, "/locations/nowhere/state", tag).status_code == 404


def test_the_acuity_state_ignores_ghl_writes_and_follows_its_own(ghl_sandbox: SandboxClient,
                                                                 loc: dict[str, Any]) -> None:
    path = f"/acuity/state?locationId={loc['id']}"
    tag = _get(ghl_sandbox, path).headers["etag"]
    assert _get(ghl_sandbox, f"/locations/{loc['id']}/state", tag).status_code == 200  # another resource's tag
    ghl_sandbox.control("POST", "/simulate/order.create", json={"locationId": loc["id"]})
    assert _get(ghl_sandbox, path, tag).status_code == 304
    booked = ghl_sandbox.control("POST", "/simulate/acuity.schedule", json={"locationId": loc["id"]})
    changed = _get(ghl_sandbox, path, tag)
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    booked_id = next(r["id"] for r in booked["resources"] if r["type"] == "appointment")
    assert booked_id in {a["id"] for a in changed.json()["appointments"]}
    ghl_sandbox.reset()
    assert _get(ghl_sandbox, path, changed.headers["etag"]).status_code == 200


def test_the_client_asks_again_with_its_tag_and_decodes_the_kept_answer(ghl_sandbox: SandboxClient,
                                                                        loc: dict[str, Any]) -> None:
    client = SandboxClient(ghl_sandbox.url)
    statuses: list[int] = []
    client.http.event_hooks["response"].append(lambda response: statuses.append(response.status_code))
    try:
        first = client.state(loc["id"])
        first["orders"].clear()  # the caller's copy: the kept answer is decoded afresh
        second = client.state(loc["id"])
        assert statuses == [200, 304] and second["orders"] and second == client.state(loc["id"])
        client.control("POST", "/simulate/order.create", json={"locationId": loc["id"]})
        third = client.state(loc["id"])
        assert statuses[-1] == 200 and len(third["orders"]) == len(second["orders"]) + 1
        client.control("GET", "/health")  # no tag: nothing kept, asked plainly again
        client.control("GET", "/health")
        assert statuses[-2:] == [200, 200]
    finally:
        client.close()


def test_a_harness_round_asks_once_and_the_next_round_revalidates(ghl_sandbox: SandboxClient,
                                                                   loc: dict[str, Any]) -> None:
    from scenarios.context import HarnessSandbox

    harness = HarnessSandbox(ghl_sandbox.url)
    statuses: list[int] = []
    harness.http.event_hooks["response"].append(lambda response: statuses.append(response.status_code))
    try:
        with harness.one_look():
            first = harness.state(loc["id"])
            assert harness.state(loc["id"]) == first and statuses == [200]  # one request per round
        with harness.one_look():
            assert harness.state(loc["id"]) == first and harness.state(loc["id"]) == first
            assert statuses == [200, 304]  # the next round revalidates, once
            harness.control("POST", "/simulate/order.create", json={"locationId": loc["id"]})
            after = harness.state(loc["id"])  # a write in the round: asked again, and changed
            assert statuses[-1] == 200 and len(after["orders"]) == len(first["orders"]) + 1
    finally:
        harness.close()
