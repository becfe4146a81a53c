"""GET/POST /payments/integrations/provider/whitelabel."""

from __future__ import annotations

from typing import Any

from api_support import (
    ISO_MS,
    OBJECT_ID,
    WHITELABEL,
    assert_ghl_error,
    get,
    ok,
    second_location,
    token_of,
)

from mock_server.testing import SandboxClient

# IntegrationProviderSchema of the reference (§2.1): exactly these ten fields.
PROVIDER_KEYS = {"_id", "altId", "altType", "title", "route", "provider", "description", "imageUrl", "createdAt",
                 "updatedAt"}


def providers(sb: SandboxClient, loc: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    body = ok(get(sb, loc, WHITELABEL, **params))
    assert set(body) == {"providers"} and isinstance(body["providers"], list)
    return body["providers"]


def new_provider(loc: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"altId": loc["id"], "altType": "location", "uniqueName": "easy-direct-two", "title": "Easy Direct Two",
            "provider": "authorize-net", "description": "Card payments through Authorize.net",
            "imageUrl": "https://cdn.example.com/logo.png", **overrides}


def create(sb: SandboxClient, loc: dict[str, Any], body: Any, token: str | None = None, suffix: str = "") -> Any:
    return sb.api("POST", WHITELABEL + suffix, token or loc["token"], json=body)


def test_seeded_providers(ghl_sandbox: SandboxClient, loc: dict) -> None:
    rows = providers(ghl_sandbox, loc)
    assert len(rows) == 2
    assert {r["provider"] for r in rows} == {"nmi", "authorize-net"}
    assert [r["createdAt"] for r in rows] == sorted((r["createdAt"] for r in rows), reverse=True)
    for row in rows:
        assert set(row) == PROVIDER_KEYS
        assert OBJECT_ID.match(row["_id"]) and row["altId"] == loc["id"] and row["altType"] == "location"
        assert ISO_MS.match(row["createdAt"]) and ISO_MS.match(row["updatedAt"])
        assert row["imageUrl"].startswith("https://") and row["title"] and row["route"]


def test_limit_defaults_to_zero_meaning_all_and_pages(ghl_sandbox: SandboxClient, loc: dict) -> None:
    for i in range(3):
        ok(create(ghl_sandbox, loc, new_provider(loc, uniqueName=f"gateway-{'abc'[i]}")))
    everyone = providers(ghl_sandbox, loc)
    assert len(everyone) == 5
    assert providers(ghl_sandbox, loc, limit=0) == everyone
    assert providers(ghl_sandbox, loc, limit="2.0") == everyone[:2]
    assert providers(ghl_sandbox, loc, limit=2, offset=2) == everyone[2:4]
    assert providers(ghl_sandbox, loc, offset=4) == everyone[4:]
    assert providers(ghl_sandbox, loc, offset=5) == []
    walked = [p for off in range(0, 6, 2) for p in providers(ghl_sandbox, loc, limit=2, offset=off)]
    assert walked == everyone
    assert_ghl_error(get(ghl_sandbox, loc, WHITELABEL, limit=-1), 422, "limit must not be less than 0")


def test_create_answers_200_and_appears_in_the_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    before = providers(ghl_sandbox, loc)
    r = create(ghl_sandbox, loc, new_provider(loc))
    assert r.status_code == 200
    created = r.json()
    assert set(created) == PROVIDER_KEYS
    assert OBJECT_ID.match(created["_id"]) and created["_id"] not in {p["_id"] for p in before}
    assert created["title"] == "Easy Direct Two" and created["provider"] == "authorize-net"
    assert created["description"] == "Card payments through Authorize.net"
    assert created["imageUrl"] == "https://cdn.example.com/logo.png"
    assert created["altId"] == loc["id"] and created["altType"] == "location"
    assert created["route"] and ISO_MS.match(created["createdAt"]) and created["createdAt"] == created["updatedAt"]
    after = providers(ghl_sandbox, loc)
    assert after == [created, *before]  # newest first


def test_create_with_trailing_slash(ghl_sandbox: SandboxClient, loc: dict) -> None:
    created = ok(create(ghl_sandbox, loc, new_provider(loc), suffix="/"))
    assert providers(ghl_sandbox, loc)[0] == created
    assert ok(get(ghl_sandbox, loc, WHITELABEL + "/")) == ok(get(ghl_sandbox, loc, WHITELABEL))


def test_unique_name_is_unique_per_location(ghl_sandbox: SandboxClient, loc: dict) -> None:
    ok(create(ghl_sandbox, loc, new_provider(loc)))
    r = create(ghl_sandbox, loc, new_provider(loc, title="Again"))
    assert_ghl_error(r, 400, "A provider with uniqueName easy-direct-two already exists")
    assert sum(1 for p in providers(ghl_sandbox, loc) if p["title"] == "Again") == 0
    # The same name in another location is fine.
    other = second_location(ghl_sandbox)
    ok(create(ghl_sandbox, other, new_provider(other)))


BAD_NAME = "uniqueName must start and end with a letter and contain only lowercase letters and hyphens"
INVALID = [
    ({"uniqueName": "Easy"}, BAD_NAME),
    ({"uniqueName": "-easy"}, BAD_NAME),
    ({"uniqueName": "easy-"}, BAD_NAME),
    ({"uniqueName": "easy_pay"}, BAD_NAME),
    ({"uniqueName": "easy2"}, BAD_NAME),
    ({"imageUrl": "http://cdn.example.com/logo.png"}, "imageUrl must start with https://"),
    ({"provider": "stripe"}, "provider must be one of the following values: authorize-net, nmi"),
    ({"altType": "agency"}, "altType must be one of the following values: location"),
    ({"title": ""}, "title should not be empty"),
    ({"title": 42}, "title must be a string"),
    ({"description": None}, "description should not be empty"),
    ({"altId": None}, "altId should not be empty"),
    ({"uniqueName": ["a"]}, "uniqueName must be a string"),
]


def test_invalid_bodies_are_422(ghl_sandbox: SandboxClient, loc: dict) -> None:
    before = providers(ghl_sandbox, loc)
    for overrides, message in INVALID:
        assert_ghl_error(create(ghl_sandbox, loc, new_provider(loc, **overrides)), 422, message)
    assert providers(ghl_sandbox, loc) == before


def test_empty_body_lists_every_missing_field(ghl_sandbox: SandboxClient, loc: dict) -> None:
    body = assert_ghl_error(create(ghl_sandbox, loc, {}), 422)
    for field in ("altId", "altType", "uniqueName", "title", "provider", "description", "imageUrl"):
        assert f"{field} should not be empty" in body["message"]


def test_single_letter_unique_name_is_valid(ghl_sandbox: SandboxClient, loc: dict) -> None:
    assert ok(create(ghl_sandbox, loc, new_provider(loc, uniqueName="x")))["route"]


def test_pit_cannot_create_but_can_list(ghl_sandbox: SandboxClient, loc: dict) -> None:
    pit = token_of(loc, "pit")
    before = providers(ghl_sandbox, loc)
    r = create(ghl_sandbox, loc, new_provider(loc), token=pit)
    assert_ghl_error(r, 401, "This route can only be invoked using a marketplace-app token")
    # Refused before the body is even looked at.
    assert_ghl_error(create(ghl_sandbox, loc, {}, token=pit), 401)
    listed = ghl_sandbox.api("GET", WHITELABEL, pit, params={"altId": loc["id"], "altType": "location"})
    assert ok(listed)["providers"] == before
    # A freshly minted PIT with every scope is refused the same way.
    minted = ghl_sandbox.token(loc["id"], tokenType="pit")
    assert minted["tokenType"] == "pit"
    assert_ghl_error(create(ghl_sandbox, loc, new_provider(loc), token=minted["token"]), 401)


def test_scopes(ghl_sandbox: SandboxClient, loc: dict) -> None:
    read = ghl_sandbox.token(loc["id"], scopes=["payments/integration.readonly"])["token"]
    write = ghl_sandbox.token(loc["id"], scopes=["payments/integration.write"])["token"]
    params = {"altId": loc["id"], "altType": "location"}
    assert ok(ghl_sandbox.api("GET", WHITELABEL, read, params=params))["providers"]
    assert_ghl_error(create(ghl_sandbox, loc, new_provider(loc), token=read), 401,
                     "The token is not authorized for this scope.")
    assert_ghl_error(ghl_sandbox.api("GET", WHITELABEL, write, params=params), 401,
                     "The token is not authorized for this scope.")
    assert ok(create(ghl_sandbox, loc, new_provider(loc), token=write))["_id"]


def test_locations_are_isolated(ghl_sandbox: SandboxClient, loc: dict) -> None:
    other = second_location(ghl_sandbox)
    created = ok(create(ghl_sandbox, loc, new_provider(loc)))
    theirs = providers(ghl_sandbox, other)
    assert created["_id"] not in {p["_id"] for p in theirs}
    assert all(p["altId"] == other["id"] for p in theirs)
    # Another location's altId, with our token: 403 on both methods.
    r = ghl_sandbox.api("GET", WHITELABEL, loc["token"], params={"altId": other["id"], "altType": "location"})
    assert_ghl_error(r, 403, "The token does not have access to this location.")
    assert_ghl_error(create(ghl_sandbox, loc, new_provider(other)), 403)
    assert providers(ghl_sandbox, other) == theirs


def test_list_needs_alt_id_and_alt_type(ghl_sandbox: SandboxClient, loc: dict) -> None:
    r = ghl_sandbox.api("GET", WHITELABEL, loc["token"], params={"altId": loc["id"]})
    assert_ghl_error(r, 422, "altType should not be empty")
    r = ghl_sandbox.api("GET", WHITELABEL, loc["token"], params={"altType": "location"})
    assert_ghl_error(r, 422, "altId should not be empty")
