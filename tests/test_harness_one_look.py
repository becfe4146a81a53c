"""A round of checks reads the sandbox once: inside `one_look()` a repeated control-plane GET is the
first one's answer (each reader decoding it afresh), a write or a wait is never answered so, any other
call forgets what was read, and outside a round every read is asked of the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_server.inprocess import running_sandbox
from mock_server.settings import Settings
from scenarios.client import ClientProcess
from scenarios.context import HarnessSandbox, ScenarioContext
from scenarios.destinations.rankr import RankrDestination
from scenarios.project import Table


@pytest.fixture
def sandbox() -> Iterator[tuple[HarnessSandbox, dict[str, Any]]]:
    with running_sandbox(Settings(port=0, seed=7, orders=2)) as running:
        client = HarnessSandbox(running.url)
        location = client.locations()[0]
        try:
            yield client, {"id": location["locationId"], "token": location["tokens"][0]["token"]}
        finally:
            client.close()


def _api_call(client: HarnessSandbox, loc: dict[str, Any]) -> None:
    answer = client.api("GET", f"/payments/orders?altId={loc['id']}&altType=location", loc["token"])
    assert answer.status_code == 200


def test_a_round_reads_each_thing_once_and_forgets_it_after(sandbox: tuple[HarnessSandbox, dict[str, Any]]) -> None:
    client, loc = sandbox
    client.clear_journal()
    _api_call(client, loc)
    with client.one_look():
        first = client.journal(path="/payments")
        _api_call(client, loc)  # an API call is no control-plane call: the round's reads stand
        again = client.journal(path="/payments")
        assert len(first) == len(again) == 1
        first.append({"changed": "by one reader"})
        assert len(client.journal(path="/payments")) == 1  # decoded afresh for each reader
        assert len(client.journal(path="/payments", method="GET")) == 2  # other parameters: another read
        with client.one_look():  # nested: the same round
            assert len(client.journal(path="/payments")) == 1
        assert len(client.journal(path="/payments")) == 1
    assert len(client.journal(path="/payments")) == 2  # outside a round: asked of the sandbox


def test_any_other_call_in_a_round_forgets_what_was_read(sandbox: tuple[HarnessSandbox, dict[str, Any]]) -> None:
    client, loc = sandbox
    client.clear_journal()
    with client.one_look():
        assert client.journal(path="/payments") == []
        _api_call(client, loc)
        assert client.wait_settled(1)  # a wait is asked each time, and forgets too
        assert len(client.journal(path="/payments")) == 1
        _api_call(client, loc)
        client.clear_journal()  # a write
        assert client.journal(path="/payments") == []


def test_a_scenarios_journal_is_read_once_and_then_only_what_came_after(
        sandbox: tuple[HarnessSandbox, dict[str, Any]], tmp_path: Path) -> None:
    client, loc = sandbox
    client.clear_journal()
    ctx = ScenarioContext(sandbox_url=client.url, sandbox=client, location_id=loc["id"], token=loc["token"],
                          token_id="", rankr_key="", rankr_secret="",
                          client=ClientProcess("true", {}, tmp_path / "client.log", port=1), deadline_s=1.0,
                          destination=RankrDestination(Table({}, "destination")))
    asked: list[str] = []
    read = client.journal

    def counted(**params: Any) -> list[dict[str, Any]]:
        asked.append(str(params["since"]))
        return read(**params)

    client.journal = counted  # type: ignore[method-assign]
    _api_call(client, loc)
    _api_call(client, loc)
    first = ctx.journal("/payments")
    assert [e["path"].startswith("/payments") for e in first] == [True, True]
    first[0]["path"] = "changed by a reader"
    again = ctx.journal("/payments")
    assert again == read(since="0", path="/payments")  # the same entries, untouched by the reader
    _api_call(client, loc)
    third = ctx.journal("/payments")
    assert len(third) == 3 and third[:2] == again
    assert [e["id"] for e in third] == [e["id"] for e in read(since="0", path="/payments")]
    # The first read from the scenario's start, then each from the last entry read.
    assert asked == ["0", str(first[1]["id"]), str(first[1]["id"])]
    assert ctx.journal("/rankr") == [] and asked[-1] == "0"  # another prefix: its own reading
