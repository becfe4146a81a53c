"""Error paths of the ten endpoints: Version header, tokens, scopes, token class, locations,
validation, not found, routing, bodies and odd inputs. Every error is GHL-shaped
{statusCode, message, error, traceId}; nothing ever answers 500."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from api_support import (
    ORDERS,
    SUBSCRIPTIONS,
    TRANSACTIONS,
    WHITELABEL,
    assert_ghl_error,
    everything,
    get,
    ids,
    listing,
    ok,
    second_location,
    token_of,
)

from mock_server.ghl.models import PAYMENTS_SCOPES
from mock_server.testing import SandboxClient

# (name, method, path, scope) — the scopes of the reference (§2), not read from the code.
ENDPOINTS = [
    ("list-providers", "GET", WHITELABEL, "payments/integration.readonly"),
    ("create-provider", "POST", WHITELABEL, "payments/integration.write"),
    ("list-orders", "GET", ORDERS, "payments/orders.readonly"),
    ("get-order", "GET", ORDERS + "/{order}", "payments/orders.readonly"),
    ("list-fulfillments", "GET", ORDERS + "/{order}/fulfillments", "payments/orders.readonly"),
    ("create-fulfillment", "POST", ORDERS + "/{order}/fulfillments", "payments/orders.write"),
    ("list-transactions", "GET", TRANSACTIONS, "payments/transactions.readonly"),
    ("get-transaction", "GET", TRANSACTIONS + "/{txn}", "payments/transactions.readonly"),
    ("list-subscriptions", "GET", SUBSCRIPTIONS, "payments/subscriptions.readonly"),
    ("get-subscription", "GET", SUBSCRIPTIONS + "/{sub}", "payments/subscriptions.readonly"),
]
GETS = [e for e in ENDPOINTS if e[1] == "GET"]
LISTS = [ORDERS, TRANSACTIONS, SUBSCRIPTIONS, WHITELABEL]


class Caller:
    """Builds a valid request for any of the ten endpoints, so a test can break exactly one thing."""

    def __init__(self, sb: SandboxClient, loc: dict[str, Any]) -> None:
        self.sb = sb
        self.loc = loc
        self.order = ok(get(sb, loc, f"{ORDERS}/{listing(sb, loc, ORDERS, paymentStatus='paid')[0][0]['_id']}"))
        self.ids = {"order": self.order["_id"], "txn": listing(sb, loc, TRANSACTIONS)[0][0]["_id"],
                    "sub": listing(sb, loc, SUBSCRIPTIONS)[0][0]["_id"]}

    def path(self, template: str) -> str:
        return template.format(**self.ids)

    def params(self, path: str, alt_id: str | None = None) -> dict[str, str]:
        return {"altId": alt_id or self.loc["id"], "altType": "location"}

    def body(self, path: str, alt_id: str | None = None) -> dict[str, Any]:
        alt = alt_id or self.loc["id"]
        if path.startswith(WHITELABEL):
            return {"altId": alt, "altType": "location", "uniqueName": "fresh-gateway", "title": "Fresh",
                    "provider": "nmi", "description": "d", "imageUrl": "https://cdn.example.com/x.png"}
        item = self.order["items"][0]
        return {"altId": alt, "altType": "location", "trackings": [], "notifyCustomer": False,
                "items": [{"priceId": item["price"]["_id"], "qty": 1}]}

    def call(self, method: str, template: str, token: str | None = None, version: str | None = "2021-07-28",
             alt_id: str | None = None, **kwargs: Any) -> httpx.Response:
        path = self.path(template)
        token = self.loc["token"] if token is None else token
        if method == "GET":
            kwargs.setdefault("params", self.params(path, alt_id))
        else:
            kwargs.setdefault("json", self.body(path, alt_id))
        return self.sb.api(method, path, token, version=version, **kwargs)


@pytest.fixture
def caller(ghl_sandbox: SandboxClient, loc: dict) -> Caller:
    return Caller(ghl_sandbox, loc)


def test_every_endpoint_answers_a_valid_request(caller: Caller) -> None:
    for _, method, template, _ in ENDPOINTS:
        r = caller.call(method, template)
        assert r.status_code == 200, (template, r.text)


# ---- Version header -------------------------------------------------------------------------------


def test_missing_version_header(caller: Caller) -> None:
    for _, method, template, _ in ENDPOINTS:
        assert_ghl_error(caller.call(method, template, version=None), 401, "version header was not found.")


def test_unknown_version_header(caller: Caller) -> None:
    for version in ("2020-01-01", "v2", "V3", "2021-7-28", "", "latest", "Legacy", "2021-07-28,v3"):
        for _, method, template, _ in ENDPOINTS:
            assert_ghl_error(caller.call(method, template, version=version), 401, "version header is invalid")


@pytest.mark.parametrize("version", ["2021-04-15", "2021-07-28", "2023-02-21", "v3", "legacy"])
def test_accepted_versions(caller: Caller, version: str) -> None:
    for _, method, template, _ in GETS:
        assert caller.call(method, template, version=version).status_code == 200


def test_version_is_checked_before_the_token(caller: Caller) -> None:
    r = caller.sb.http.get(ORDERS, params={"altId": caller.loc["id"]})
    assert_ghl_error(r, 401, "version header was not found.")


# ---- tokens ---------------------------------------------------------------------------------------


def test_bad_tokens(caller: Caller) -> None:
    invalid = "Invalid token: access token is invalid"
    for _, method, template, _ in ENDPOINTS:
        assert_ghl_error(caller.call(method, template, headers={"Authorization": "Bearer"}), 401, invalid)
        assert_ghl_error(caller.call(method, template, token="not-a-token"), 401, invalid)
        basic = caller.call(method, template, headers={"Authorization": f"Basic {caller.loc['token']}"})
        assert_ghl_error(basic, 401, invalid)
        no_header = caller.sb.http.request(method, caller.path(template), headers={"Version": "v3"},
                                           params=caller.params(template))
        assert_ghl_error(no_header, 401, invalid)


def test_bearer_scheme_is_case_insensitive(caller: Caller) -> None:
    r = caller.call("GET", ORDERS, headers={"Authorization": f"bearer {caller.loc['token']}"})
    assert r.status_code == 200


def test_revoked_token(caller: Caller) -> None:
    minted = caller.sb.token(caller.loc["id"])
    assert caller.call("GET", ORDERS, token=minted["token"]).status_code == 200
    caller.sb.control("POST", "/tokens/revoke", json={"token": minted["token"]})
    for _, method, template, _ in ENDPOINTS:
        assert_ghl_error(caller.call(method, template, token=minted["token"]), 401,
                         "Invalid token: access token is invalid")
    # Other tokens of the location still work.
    assert caller.call("GET", ORDERS).status_code == 200


def test_expired_token(caller: Caller) -> None:
    expired = caller.sb.token(caller.loc["id"], expiresIn=0)["token"]
    for _, method, template, _ in ENDPOINTS:
        assert_ghl_error(caller.call(method, template, token=expired), 401, "Invalid token: access token is expired")
    fresh = caller.sb.token(caller.loc["id"], expiresIn=3600)["token"]
    assert caller.call("GET", ORDERS, token=fresh).status_code == 200


def test_each_endpoint_needs_its_scope(caller: Caller) -> None:
    missing = "The token is not authorized for this scope."
    nothing = caller.sb.token(caller.loc["id"], scopes=[])["token"]
    for _, method, template, scope in ENDPOINTS:
        without = caller.sb.token(caller.loc["id"], scopes=[s for s in PAYMENTS_SCOPES if s != scope])["token"]
        assert_ghl_error(caller.call(method, template, token=without), 401, missing)
        only = caller.sb.token(caller.loc["id"], scopes=[scope])["token"]
        assert caller.call(method, template, token=only).status_code == 200, template
        assert_ghl_error(caller.call(method, template, token=nothing), 401, missing)


AUTH_CLASS = ("This authClass type is not allowed to access this scope. "
              "Please verify your IAM configuration if this is not the case.")


def test_agency_token_is_the_wrong_user_type(caller: Caller) -> None:
    """An agency PIT is refused by user type; an OAuth Company token by GHL's IAM (its authClass)."""
    seeded = token_of(caller.loc, "oauth", "agency")
    minted = caller.sb.token(caller.loc["id"], tokenClass="agency", tokenType="pit")["token"]
    for _, method, template, _ in ENDPOINTS:
        assert_ghl_error(caller.call(method, template, token=minted), 401, "Token's user type mismatch!")
        assert_ghl_error(caller.call(method, template, token=seeded), 401, AUTH_CLASS)


# ---- locations ------------------------------------------------------------------------------------


def test_another_locations_alt_id_is_forbidden(caller: Caller) -> None:
    other = second_location(caller.sb)
    for _, method, template, _ in ENDPOINTS:
        r = caller.call(method, template, alt_id=other["id"])
        assert_ghl_error(r, 403, "The token does not have access to this location.")
        assert r.json()["error"] == "Forbidden"


def test_location_two_cannot_read_location_one_by_id(caller: Caller) -> None:
    other = second_location(caller.sb)
    for template, message in ((ORDERS + "/{order}", "Order not found"),
                              (ORDERS + "/{order}/fulfillments", "Order not found"),
                              (TRANSACTIONS + "/{txn}", "Transaction not found"),
                              (SUBSCRIPTIONS + "/{sub}", "Subscription not found")):
        # Its own altId: our records do not exist there (400, as for any unknown id).
        own = caller.call("GET", template, token=other["token"], alt_id=other["id"])
        assert_ghl_error(own, 400, message)
        # Our altId with its token: 403, checked before the record is looked up.
        assert_ghl_error(caller.call("GET", template, token=other["token"]), 403)
    own = caller.call("POST", ORDERS + "/{order}/fulfillments", token=other["token"], alt_id=other["id"])
    assert_ghl_error(own, 400, "Order not found")


def test_lists_never_leak_across_locations(caller: Caller) -> None:
    sb, loc = caller.sb, caller.loc
    other = second_location(sb)
    for path in (ORDERS, TRANSACTIONS, SUBSCRIPTIONS):
        mine = everything(sb, loc, path)
        theirs = everything(sb, other, path)
        assert theirs and not set(ids(mine)) & set(ids(theirs))
        assert all(r["altId"] == other["id"] for r in theirs)
        # Filtering the other location by one of our contacts, ids or names finds nothing of ours.
        probe = mine[0]
        for params in ({"contactId": probe["contactId"]}, {"search": probe["_id"]},
                       {"search": probe["contactEmail"]}):
            assert everything(sb, other, path, **params) == []
    assert everything(sb, other, TRANSACTIONS, entityId=caller.ids["order"]) == []
    assert everything(sb, other, SUBSCRIPTIONS, id=caller.ids["sub"]) == []
    mine = {p["_id"] for p in ok(get(sb, loc, WHITELABEL))["providers"]}
    theirs = ok(get(sb, other, WHITELABEL))["providers"]
    assert theirs and not mine & {p["_id"] for p in theirs}


# ---- validation -----------------------------------------------------------------------------------


def test_missing_alt_id_is_422(caller: Caller) -> None:
    for _, method, template, _ in ENDPOINTS:
        if method == "GET":
            r = caller.call(method, template, params={"altType": "location"})
        else:
            body = caller.body(caller.path(template))
            del body["altId"]
            r = caller.call(method, template, json=body)
        assert assert_ghl_error(r, 422, "altId should not be empty")["error"] == "Unprocessable Entity"


def test_get_order_without_alt_type_is_the_live_apis_422(caller: Caller) -> None:
    r = caller.call("GET", ORDERS + "/{order}", params={"altId": caller.loc["id"]})
    body = assert_ghl_error(r, 422)
    assert body["message"] == ["altType should not be empty", "altType must be a string"]
    assert body["error"] == "Unprocessable Entity"
    r = caller.call("GET", ORDERS + "/{order}", params={"altId": caller.loc["id"], "altType": "company"})
    assert_ghl_error(r, 422, "altType must be one of the following values: location")


def test_missing_everything_lists_every_problem(caller: Caller) -> None:
    r = caller.call("GET", TRANSACTIONS, params={})
    body = assert_ghl_error(r, 422)
    assert {"altId should not be empty", "altType should not be empty"} <= set(body["message"])


BAD_PAGING = [
    ("limit", "-1", "limit must not be less than 0"),
    ("limit", "abc", "limit must be a number conforming to the specified constraints"),
    ("limit", "1.5", "limit must be an integer number"),
    ("limit", "Infinity", "limit must be a number conforming to the specified constraints"),
    ("limit", "NaN", "limit must be a number conforming to the specified constraints"),
    ("limit", "1e20", "limit must not be greater than 9007199254740991"),
    ("offset", "-5", "offset must not be less than 0"),
    ("offset", "x1", "offset must be a number conforming to the specified constraints"),
    ("offset", "99999999999999999999", "offset must not be greater than 9007199254740991"),
    # An empty value is not a number either (the contract types both as numbers).
    ("limit", "", "limit must be a number conforming to the specified constraints"),
    ("offset", "", "offset must be a number conforming to the specified constraints"),
]


@pytest.mark.parametrize("path", LISTS)
def test_bad_paging_numbers_are_422(ghl_sandbox: SandboxClient, loc: dict, path: str) -> None:
    for name, value, message in BAD_PAGING:
        assert_ghl_error(get(ghl_sandbox, loc, path, **{name: value}), 422, message)


@pytest.mark.parametrize("path", LISTS)
def test_largest_paging_numbers_still_answer(ghl_sandbox: SandboxClient, loc: dict, path: str) -> None:
    body = ok(get(ghl_sandbox, loc, path, limit=str(2**53 - 1), offset=str(2**53 - 1)))
    assert body.get("data", body.get("providers")) == []


def test_not_found(caller: Caller) -> None:
    missing = "0123456789abcdef01234567"
    for template, message in ((ORDERS, "Order not found"), (TRANSACTIONS, "Transaction not found"),
                              (SUBSCRIPTIONS, "Subscription not found")):
        for bad in (missing, "not-an-object-id", "%F0%9F%98%80", "a" * 3000):
            r = caller.call("GET", f"{template}/{bad}")
            body = assert_ghl_error(r, 400, message)
            assert body["error"] == "Bad Request"


# ---- routing --------------------------------------------------------------------------------------


def test_unknown_path_is_404(caller: Caller) -> None:
    for path in ("/payments", "/payments/nope", "/payments/orders/x/y", "/payments/order", "/nope",
                 "/payments/transactions/x/fulfillments", "/payments//orders", "/payments/integrations/provider",
                 "/payments/orders/x/fulfillments/y"):
        for method in ("GET", "POST"):
            r = caller.sb.api(method, path, caller.loc["token"], params={"altId": caller.loc["id"]})
            assert_ghl_error(r, 404, f"Cannot {method} {path}")


WRONG_METHODS = [
    ("DELETE", ORDERS, {"GET", "HEAD"}),
    ("POST", ORDERS, {"GET", "HEAD"}),
    ("PUT", WHITELABEL, {"GET", "HEAD", "POST"}),
    ("PATCH", ORDERS + "/{order}/fulfillments", {"GET", "HEAD", "POST"}),
    ("POST", TRANSACTIONS + "/{txn}", {"GET", "HEAD"}),
    ("DELETE", SUBSCRIPTIONS + "/", {"GET", "HEAD"}),
]


def test_wrong_method_is_405_with_allow(caller: Caller) -> None:
    for method, template, allow in WRONG_METHODS:
        path = caller.path(template)
        r = caller.sb.api(method, path, caller.loc["token"], json={})
        assert_ghl_error(r, 405, f"Cannot {method} {path}")
        assert {m.strip() for m in r.headers["allow"].split(",")} == allow


def test_head_answers_like_get_without_a_body(caller: Caller) -> None:
    r = caller.call("HEAD", ORDERS, params=caller.params(ORDERS))
    assert r.status_code == 200 and r.content == b""


# ---- bodies ---------------------------------------------------------------------------------------


MALFORMED = [
    (b"{", None), (b'{"altId": }', None), (b"{'altId': 'x'}", None), (b"\xff\xfe\x00", None),
    (b"[]", "Request body must be a JSON object"), (b"42", "Request body must be a JSON object"),
    (b'"text"', "Request body must be a JSON object"),
]


@pytest.mark.parametrize("template", [WHITELABEL, ORDERS + "/{order}/fulfillments"])
def test_malformed_json_is_400(caller: Caller, template: str) -> None:
    for raw, message in MALFORMED:
        r = caller.call("POST", template, content=raw, headers={"Content-Type": "application/json"})
        assert assert_ghl_error(r, 400, message)["error"] == "Bad Request"


@pytest.mark.parametrize("template", [WHITELABEL, ORDERS + "/{order}/fulfillments"])
def test_body_over_one_mib_is_413(caller: Caller, template: str) -> None:
    big = b'{"altId": "' + b"x" * (1024 * 1024) + b'"}'
    r = caller.call("POST", template, content=big, headers={"Content-Type": "application/json"})
    assert_ghl_error(r, 413, "request entity too large")

    def chunks():  # no Content-Length: the limit applies while reading
        yield b'{"altId": "'
        for _ in range(1100):
            yield b"y" * 1024
        yield b'"}'

    r = caller.call("POST", template, content=chunks(), headers={"Content-Type": "application/json"})
    assert_ghl_error(r, 413, "request entity too large")


def test_body_just_under_the_limit_is_read(caller: Caller) -> None:
    body = caller.body(WHITELABEL)
    body["description"] = "d" * (1024 * 1024 - 1000)
    r = caller.call("POST", WHITELABEL, json=body)
    assert_ghl_error(r, 422, "description must be shorter than or equal to 2000 characters")


# ---- odd inputs -----------------------------------------------------------------------------------


ODD_QUERY_VALUES = ["\x00", "ü😀\u202e", "' OR 1=1 --", "%", "_", "\\", "a" * 5000, "[]", "{}", "null", "-0", "1e-9",
                    "0x1F", "  ", "\t\n", "\ud7ff", "2024-01-01T00:00:00Z\x00"]
LIST_PARAMS = {
    ORDERS: ["status", "paymentStatus", "paymentMode", "startAt", "endAt", "search", "contactId", "funnelProductIds",
             "sourceId", "locationId", "limit", "offset", "altType"],
    TRANSACTIONS: ["paymentMode", "startAt", "endAt", "entitySourceType", "entitySourceSubType", "search",
                   "subscriptionId", "entityId", "contactId", "locationId", "limit", "offset"],
    SUBSCRIPTIONS: ["entityId", "paymentMode", "startAt", "endAt", "entitySourceType", "search", "contactId", "id",
                    "limit", "offset", "getPaymentsCollectedCount"],
    WHITELABEL: ["limit", "offset"],
}


def _never_500(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert_ghl_error(r, r.status_code)


@pytest.mark.parametrize("path", LISTS)
def test_odd_query_values_never_500(ghl_sandbox: SandboxClient, loc: dict, path: str) -> None:
    for name in LIST_PARAMS[path]:
        for value in ODD_QUERY_VALUES:
            _never_500(get(ghl_sandbox, loc, path, **{name: value}))
    # Repeated parameters (arrays in the query), bracket syntax, and odd altIds.
    for params in ([("altId", loc["id"]), ("altId", loc["id"]), ("altType", "location"), ("limit", "1"), ("limit", "2")],
                   [("altId", loc["id"]), ("altType", "location"), ("limit[]", "1"), ("search[$ne]", "x")],
                   [("altId", loc["id"] + "\x00"), ("altType", "location")],
                   [("altId", ""), ("altType", "")],
                   [("altId[]", loc["id"]), ("altType", "location")]):
        _never_500(ghl_sandbox.api("GET", path, loc["token"], params=params))
    assert not [e for e in ghl_sandbox.journal(limit=10_000) if e["status"] >= 500]


def test_repeated_query_parameters_use_one_value(ghl_sandbox: SandboxClient, loc: dict) -> None:
    r = ghl_sandbox.api("GET", ORDERS, loc["token"], params=[("altId", loc["id"]), ("limit", "3"), ("limit", "4")])
    assert len(ok(r)["data"]) in (3, 4)


def test_odd_path_ids_never_500(caller: Caller) -> None:
    for template in (ORDERS + "/{x}", ORDERS + "/{x}/fulfillments", TRANSACTIONS + "/{x}", SUBSCRIPTIONS + "/{x}"):
        for bad in ("%00", "%C3%BC%F0%9F%98%80", "..", "%2F", "null", "%25", "'%20OR%201=1", "a" * 8000):
            path = template.replace("{x}", bad)
            r = caller.sb.api("GET", path, caller.loc["token"], params=caller.params(path))
            _never_500(r)
            assert r.status_code in (400, 404)


def test_odd_bodies_never_500(caller: Caller) -> None:
    sb, loc = caller.sb, caller.loc
    bodies: list[Any] = [
        {}, {"altId": None}, {"altId": 123, "altType": 1, "items": "1", "trackings": {}, "notifyCustomer": "1"},
        {"altId": [loc["id"]], "altType": ["location"]}, {"altId": {"$ne": None}},
        {"altId": loc["id"], "altType": "location", "items": [{"priceId": "x", "qty": "2"}], "trackings": [],
         "notifyCustomer": "false"},
        {"altId": loc["id"], "altType": "location", "items": [{"priceId": ["x"], "qty": {"n": 1}}], "trackings": [[]],
         "notifyCustomer": 0},
        {"altId": loc["id"], "altType": "location", "items": [None, 1, "x", [], {}], "trackings": [None],
         "notifyCustomer": True},
        {"altId": loc["id"], "altType": "location", "uniqueName": "ü-é", "title": "😀" * 100, "provider": "nmi",
         "description": "\x00", "imageUrl": "https://\x00"},
        {"altId": loc["id"], "altType": "location", "uniqueName": "a" * 5000, "title": ["t"], "provider": None,
         "description": {"d": 1}, "imageUrl": 5},
        {"a": {"b": {"c": {"d": {"e": [[[[[[[[[[{}]]]]]]]]]]}}}}},
        {"altId": loc["id"], "altType": "location", "items": [{"priceId": "x", "qty": 10**18}], "trackings": [],
         "notifyCustomer": False},
        {"altId": loc["id"], "altType": "location", "items": [{"priceId": "x", "qty": 1e-320}], "trackings": [],
         "notifyCustomer": False},
    ]
    for template in (WHITELABEL, ORDERS + "/{order}/fulfillments"):
        for body in bodies:
            _never_500(caller.call("POST", template, json=body))
        for raw in (b"", b" ", b"\x00", "{\"altId\": \"\u0000\"}".encode(), b"{" * 10000 + b"}" * 10000,
                    b"[" * 100000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"1" * 10000):
            _never_500(caller.call("POST", template, content=raw, headers={"Content-Type": "application/json"}))
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            _never_500(caller.call("POST", template, content=b"altId=x", headers={"Content-Type": content_type}))
    assert not [e for e in sb.journal(limit=10_000) if e["status"] >= 500]


def test_odd_headers_never_500(caller: Caller) -> None:
    for headers in ({"Version": "v3\u00e9".encode()}, {"Authorization": "Bearer \u00ff".encode("latin-1")},
                    {"Authorization": "Bearer " + "x" * 8000}, {"Authorization": "Bearer a b c"},
                    {"Content-Length": "abc"}, {"Content-Type": "application/json; charset=utf-16"}):
        try:
            r = caller.call("GET", ORDERS, headers=headers)
        except httpx.HTTPError:  # the client itself may refuse to send it
            continue
        _never_500(r)


def test_huge_query_strings_never_500(ghl_sandbox: SandboxClient, loc: dict) -> None:
    # Within what an HTTP parser accepts, the API answers (a search that long is a 422).
    r = get(ghl_sandbox, loc, ORDERS, search="s" * 60_000)
    assert_ghl_error(r, 422, "search must be shorter than or equal to 1000 characters")
    r = get(ghl_sandbox, loc, ORDERS, **{f"p{i}": "v" * 40 for i in range(1000)})
    assert ok(r)["totalCount"] >= 250
    # Beyond it, the server refuses the request line: still a 4xx, never a 5xx.
    url = urlsplit(ghl_sandbox.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        query = "search=" + "q" * 200_000
        s.sendall(f"GET {ORDERS}?altId={loc['id']}&{query} HTTP/1.1\r\nHost: x\r\nVersion: v3\r\n"
                  f"Authorization: Bearer {loc['token']}\r\nConnection: close\r\n\r\n".encode())
        status_line = s.makefile("rb").readline().decode()
    assert status_line.startswith("HTTP/1.1 4"), status_line


# ---- error bodies ---------------------------------------------------------------------------------


def test_trace_ids_differ_per_request(caller: Caller) -> None:
    traces = {assert_ghl_error(caller.call("GET", f"{ORDERS}/{'0' * 24}"), 400)["traceId"] for _ in range(5)}
    assert len(traces) == 5
