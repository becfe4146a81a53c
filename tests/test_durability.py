"""`--state FILE`: every acknowledged write survives a `kill -9` (SIGKILL right after the last
response), and a restart without writes keeps the same seeded data and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mock_server.testing import SandboxClient, SandboxProcess

ORDERS = "/payments/orders"
WHITELABEL = "/payments/integrations/provider/whitelabel"
ARGS = ["--rate-limit", "off", "--orders", "80"]


def first(sb: SandboxClient, index: int = 0) -> dict[str, Any]:
    view = sb.location(index)
    return {"id": view["locationId"], "token": view["tokens"][0]["token"]}


def get(sb: SandboxClient, loc: dict[str, Any], path: str, **params: Any) -> Any:
    r = sb.api("GET", path, loc["token"], params={"altId": loc["id"], "altType": "location", **params})
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def fulfil_many(sb: SandboxClient, loc: dict[str, Any], count: int) -> dict[str, str]:
    """Fulfil `count` paid, unfulfilled orders: {orderId: fulfillmentId}, each acknowledged with a 200."""
    rows = get(sb, loc, ORDERS, paymentStatus="paid", limit=100)["data"]
    targets = [o["_id"] for o in rows if o["fulfillmentStatus"] == "unfulfilled"][:count]
    assert len(targets) == count
    done = {}
    for order_id in targets:
        items = [{"priceId": i["price"]["_id"], "qty": i["qty"]} for i in get(sb, loc, f"{ORDERS}/{order_id}")["items"]]
        r = sb.api("POST", f"{ORDERS}/{order_id}/fulfillments", loc["token"],
                   json={"altId": loc["id"], "altType": "location", "items": items, "notifyCustomer": True,
                         "trackings": [{"trackingNumber": f"TRK-{order_id[:6]}", "shippingCarrier": "DHL"}]})
        assert r.status_code == 200, r.text
        done[order_id] = r.json()["data"]["_id"]
    return done


def create_provider(sb: SandboxClient, loc: dict[str, Any], name: str) -> dict[str, Any]:
    r = sb.api("POST", WHITELABEL, loc["token"],
               json={"altId": loc["id"], "altType": "location", "uniqueName": name, "title": name.title(),
                     "provider": "nmi", "description": "durability", "imageUrl": "https://img.example.com/x.png"})
    assert r.status_code == 200, r.text
    return r.json()


def fulfillment_ids(sb: SandboxClient, loc: dict[str, Any], order_id: str) -> list[str]:
    return [f["_id"] for f in get(sb, loc, f"{ORDERS}/{order_id}/fulfillments")["data"]]


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    state = str(tmp_path / "sandbox.db")
    proc = SandboxProcess(["--state", state, *ARGS]).start()
    try:
        sb = proc.client()
        loc, other = first(sb), first(sb, 1)
        done = fulfil_many(sb, loc, 3)
        done_other = fulfil_many(sb, other, 1)
        minted = sb.token(loc["id"], scopes=["payments/orders.readonly"])
        provider = create_provider(sb, loc, "durable-pay")  # the last acknowledged write
    finally:
        proc.kill()  # SIGKILL at once: nothing gets a chance to flush
    assert proc.proc is not None and proc.proc.returncode == -9
    sb.close()

    with SandboxProcess(["--state", state, *ARGS]) as again:
        sb = again.client()
        for order_id, ful_id in done.items():
            assert fulfillment_ids(sb, loc, order_id) == [ful_id]
            assert get(sb, loc, f"{ORDERS}/{order_id}")["fulfillmentStatus"] == "fulfilled"
        for order_id, ful_id in done_other.items():
            assert fulfillment_ids(sb, other, order_id) == [ful_id]
        listed = get(sb, loc, WHITELABEL)["providers"]
        assert provider in listed
        assert sb.api("GET", ORDERS, minted["token"], params={"altId": loc["id"]}).status_code == 200

        # Writes after the restart get new ids: they never overwrite what was acknowledged before.
        more = fulfil_many(sb, loc, 2)
        assert set(more.values()).isdisjoint(done.values())
        for order_id, ful_id in done.items():
            assert fulfillment_ids(sb, loc, order_id) == [ful_id]
        second = create_provider(sb, loc, "durable-two")
        assert second["_id"] != provider["_id"]
        names = {p["_id"] for p in get(sb, loc, WHITELABEL)["providers"]}
        assert {provider["_id"], second["_id"]} <= names
        again_minted = sb.token(loc["id"])
        assert again_minted["tokenId"] != minted["tokenId"]
        assert sb.api("GET", ORDERS, minted["token"], params={"altId": loc["id"]}).status_code == 200
        sb.close()


def snapshot(sb: SandboxClient) -> list[bytes]:
    loc = first(sb)
    out = [sb.http.get("/_sandbox/locations").content]
    for path, params in ((ORDERS, {"limit": 100}), ("/payments/transactions", {"limit": 50}),
                         ("/payments/subscriptions", {"limit": 50}), (WHITELABEL, {})):
        r = sb.api("GET", path, loc["token"], params={"altId": loc["id"], "altType": "location", **params})
        assert r.status_code == 200
        out.append(r.content)
    return out


def test_restart_without_writes_keeps_seeded_data_and_tokens(tmp_path: Path) -> None:
    state = str(tmp_path / "quiet.db")
    with SandboxProcess(["--state", state, *ARGS]) as proc:
        sb = proc.client()
        before = snapshot(sb)
        sb.close()
    # A graceful stop, then a kill -9, then a restart with another --seed: the file's world wins.
    proc = SandboxProcess(["--state", state, *ARGS]).start()
    sb = proc.client()
    assert snapshot(sb) == before
    sb.close()
    proc.kill()
    with SandboxProcess(["--state", state, "--seed", "7", *ARGS]) as proc:
        sb = proc.client()
        assert snapshot(sb) == before
        assert sb.http.get("/_sandbox/health").json()["seed"] == 42
        sb.close()
