from mock_server.testing import SandboxClient


def test_list_orders_default_page(ghl_sandbox: SandboxClient, loc: dict) -> None:
    r = ghl_sandbox.api("GET", "/payments/orders", loc["token"], params={"altId": loc["id"]})
    assert r.status_code == 200
    body = r.json()
    assert len(body["data"]) == 10
    assert body["totalCount"] >= 250
