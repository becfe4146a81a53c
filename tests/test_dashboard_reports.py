"""The dashboard's Reports panel in a real browser (the system's Chromium, as tests/test_dashboard.py drives
it): every report is drawn as an inline SVG chart from `GET /_sandbox/reports/{name}`, the values the
charts and figures show are the API's, each card links its CSV, and nothing the page runs throws. The
panel's screenshot is saved to tests/artifacts/reports.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from receiver import Receiver
from test_dashboard import ARTIFACTS, _chromium_or_skip, open_dashboard

from mock_server.testing import SandboxClient, SandboxProcess

NAMES = ["revenue-by-day", "revenue-by-source", "payment-rates", "subscriptions", "sync-health", "sync-lag",
         "webhook-delivery", "routing-load"]


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxClient]:
    with SandboxProcess(["--orders", "40", "--webhook-retry-interval", "0.2"]) as proc:
        client = proc.client()
        yield client
        client.close()


def _activity(sb: SandboxClient, rx: Receiver) -> dict[str, Any]:
    """Payments, a failure, a refund, deliveries to a receiver, and Rankr records (one right, one wrong)."""
    location = sb.location(0)
    lid = location["locationId"]
    sb.webhook_target(rx.url, locationId=lid)
    created = sb.simulate("order.create", locationId=lid)
    order_id = next(r["id"] for r in created["resources"] if r["type"] == "order")
    sb.simulate("order.fail_payment", locationId=lid, orderId=order_id)
    sb.simulate("order.pay", locationId=lid, orderId=order_id)
    sb.simulate("order.refund", locationId=lid, orderId=order_id, amount=1)
    sb.simulate("subscription.create", locationId=lid)
    sb.simulate("acuity.schedule", locationId=lid, pay="full")
    assert sb.wait_settled(20)
    order = next(o for o in sb.control("GET", f"/locations/{lid}/state")["orders"] if o["_id"] == order_id)
    headers = {"Authorization": f"Bearer {location['rankr']['apiKey']}"}
    body = {"orderId": order_id, "source": "ghl", "status": "cancelled", "fulfillmentStatus": order["fulfillmentStatus"],
            "amount": order["amount"] + 3, "currency": order["currency"], "contactId": order["contactId"],
            "updatedAt": order["updatedAt"]}
    r = sb.http.put(f"{location['rankr']['basePath']}/v1/orders/{order_id}", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    r = sb.http.put("/_sandbox/rankr/providers", params={"locationId": lid}, json={"providers": [
        {"providerId": "north", "name": "North crew", "dailyCapacity": 4}, {"providerId": "south", "dailyCapacity": 2}]})
    assert r.status_code == 200, r.text
    for oid in (order_id, "walk-in-1"):
        r = sb.http.put(f"/rankr/v1/assignments/{oid}", json={"providerId": "north"}, headers=headers)
        assert r.status_code == 201, r.text
    return {"locationId": lid, "orderId": order_id}


def _attr_values(page: Any, selector: str) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('data-value'))")]


def test_reports_panel_draws_the_apis_numbers(sb: SandboxClient) -> None:
    sync_playwright = _chromium_or_skip()
    errors: list[str] = []
    with Receiver() as rx:
        did = _activity(sb, rx)
        lid = did["locationId"]
        api = {n: sb.control("GET", f"/reports/{n}", params={"locationId": lid}) for n in NAMES}
        with sync_playwright() as pw:
            browser, page = open_dashboard(pw, sb.url + "/", errors, height=1100)
            try:
                page.locator(f"#reports[data-location='{lid}'] figure[data-report='routing-load']").wait_for()
                for name in NAMES:
                    card = page.locator(f"#reports figure[data-report='{name}']")
                    assert card.locator(f"svg[data-chart='{name}']").count() == 1, name
                    assert card.locator(".result.err").count() == 0, name
                    href = card.locator("a[data-csv]").get_attribute("href") or ""
                    assert href.startswith(f"/_sandbox/reports/{name}?") and "format=csv" in href and lid in href

                # Revenue by day: the bars are the API's rows, the figures its totals.
                rows = [r for r in api["revenue-by-day"]["rows"] if r["currency"] == "USD"]
                total = api["revenue-by-day"]["summary"]["currencies"][0]
                ghl = _attr_values(page, "svg[data-chart='revenue-by-day'] rect[data-series='ghl']")
                acuity = _attr_values(page, "svg[data-chart='revenue-by-day'] rect[data-series='acuity']")
                assert ghl == [r["ghl"] for r in rows] and acuity == [r["acuity"] for r in rows]
                assert sum(ghl) > 0 and sum(acuity) > 0
                card = page.locator("figure[data-report='revenue-by-day']")
                assert card.locator("[data-figure=gross]").inner_text() == f"{total['gross']:.2f} USD"
                assert card.locator("[data-figure=net]").inner_text() == f"{total['net']:.2f} USD"

                # Payment rates: one bar per source and rate.
                for row in api["payment-rates"]["rows"]:
                    [value] = _attr_values(page, f"svg[data-chart='payment-rates'] rect[data-key='{row['source']}']"
                                                 f"[data-series='successRate']")
                    assert value == (row["successRate"] or 0)

                # Sync health: the per-collection bars, and the differing order in the table.
                orders = api["sync-health"]["summary"]["collections"]["orders"]
                [differs] = _attr_values(page, "svg[data-chart='sync-health'] rect[data-key='orders'][data-series='differs']")
                [missing] = _attr_values(page, "svg[data-chart='sync-health'] rect[data-key='orders'][data-series='missing']")
                assert (differs, missing) == (orders["differs"], orders["missing"]) and differs == 1
                row = page.locator("table[data-table='sync-health'] tr", has_text=did["orderId"])
                assert "differs" in row.inner_text() and "status" in row.inner_text() and "amount" in row.inner_text()

                # Subscriptions, lag, deliveries.
                subs = api["subscriptions"]["summary"]["currencies"][0]
                assert page.locator("figure[data-report='subscriptions'] [data-figure=activeAtEnd]").inner_text() == \
                    str(subs["activeAtEnd"])
                mrr = _attr_values(page, "svg[data-chart='subscriptions'] rect[data-series='mrr']")
                assert mrr == [r["mrr"] for r in api["subscriptions"]["rows"] if r["currency"] == subs["currency"]]
                lag = api["sync-lag"]["summary"]
                assert page.locator("figure[data-report='sync-lag'] [data-figure=pairs]").inner_text() == str(lag["pairs"])
                assert lag["pairs"] >= 1
                [delivered] = _attr_values(page, "svg[data-chart='webhook-delivery'] rect[data-series='delivered']")
                assert delivered == api["webhook-delivery"]["rows"][0]["delivered"] > 0

                # Routing load: assigned today against the capacity mark, per provider.
                for row in api["routing-load"]["rows"]:
                    [today] = _attr_values(page, f"svg[data-chart='routing-load'] rect[data-key='{row['providerId']}']")
                    [capacity] = _attr_values(page, f"svg[data-chart='routing-load'] line[data-key='{row['providerId']}']")
                    assert (today, capacity) == (row["assignedToday"], row["dailyCapacity"])
                assert [r["assignedToday"] for r in api["routing-load"]["rows"]] == [2, 0]

                csv = page.evaluate("u => fetch(u).then(r => r.text())",
                                    page.locator("figure[data-report='revenue-by-day'] a[data-csv]").get_attribute("href"))
                assert csv.splitlines()[0] == "date,currency,ghl,acuity,gross,refunds,net,payments"
                ARTIFACTS.mkdir(exist_ok=True)
                page.evaluate("document.querySelector('.topbar').style.position = 'static'")  # not over the panel
                page.locator("#reports-panel").screenshot(path=str(ARTIFACTS / "reports.png"))
            finally:
                browser.close()
    assert not errors, errors
