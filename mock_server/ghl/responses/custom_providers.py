"""Handlers for the custom payment provider operations (`/payments/custom-provider/...`): parse and
validate, call the domain (ghl/custom_providers.py), shape the answer as the official response schemas."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_server.clock import iso_ms
from mock_server.ghl.custom_providers import Keys, ProviderFields
from mock_server.ghl.models import CustomProvider, Token
from mock_server.ghl.responses.guard import check_location
from mock_server.ghl.responses.params import Validator
from mock_server.ghl.responses.payments import read_json
from mock_server.ghl.world import ghl_of
from mock_server.http.errors import forbidden, json_response
from mock_server.http.query import query_values

# An absolute http(s) URL with a plain host name (GHL calls these URLs; a malformed host such as `https://[`
# is refused here rather than echoed back).
HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\s]*)?")


def provider_shape(p: CustomProvider) -> dict[str, Any]:
    """`GetCustomProvidersResponseSchema` (and the create/connect answers, which share it)."""
    payment_provider: dict[str, Any] = {}
    for mode, keys in (("live", p.live), ("test", p.test)):
        if keys is not None:
            payment_provider[mode] = {"liveMode": mode == "live", "apiKey": keys["api_key"],
                                      "publishableKey": keys["publishable_key"]}
    return {"_id": p.id, "name": p.name, "description": p.description, "paymentsUrl": p.payments_url,
            "queryUrl": p.query_url, "imageUrl": p.image_url, "locationId": p.location_id,
            "marketplaceAppId": p.marketplace_app_id, "paymentProvider": payment_provider,
            "supportsSubscriptionSchedule": p.supports_subscription_schedule, "deleted": False,
            "createdAt": iso_ms(p.created_at), "updatedAt": iso_ms(p.updated_at)}


def _boolean(v: Validator, name: str) -> bool | None:
    """A required JSON boolean: the body is JSON, so `"true"` (a string) is refused as class-validator does."""
    value = v.source.get(name)
    if value is None:
        v.errors += [f"{name} should not be empty", f"{name} must be a boolean value"]
        return None
    if not isinstance(value, bool):
        v.errors.append(f"{name} must be a boolean value")
        return None
    return value


def _optional_id(v: Validator, name: str) -> str | None:
    """An optional id of the body: absent is None; present, it must be a non-empty string."""
    if name not in v.source:
        return None
    value = v.source[name]
    if not isinstance(value, str) or not value:
        v.errors += [f"{name} should not be empty", f"{name} must be a string"]
        return None
    if len(value) > 1000:
        v.errors.append(f"{name} must be shorter than or equal to 1000 characters")
        return None
    return value


def _location(request: Request, token: Token, v: Validator | None = None) -> str:
    """The required `locationId` query parameter: it must be the token's location (another is 403)."""
    q = Validator(query_values(request))
    location_id = q.string("locationId", required=True)
    if v is not None:
        q.errors += v.errors  # one 422 lists the query's and the body's problems together
    q.done()
    assert location_id is not None
    return check_location(token, location_id)


async def create_integration(request: Request, token: Token) -> Response:
    body = await read_json(request)
    v = Validator(body)
    name = v.string("name", required=True, max_length=200)
    description = v.string("description", required=True, max_length=2000)
    payments_url = v.string("paymentsUrl", required=True, max_length=2000)
    query_url = v.string("queryUrl", required=True, max_length=2000)
    image_url = v.string("imageUrl", required=True, max_length=2000)
    schedules = _boolean(v, "supportsSubscriptionSchedule")
    for field, value in (("paymentsUrl", payments_url), ("queryUrl", query_url), ("imageUrl", image_url)):
        if value is not None and not HTTP_URL.fullmatch(value):
            v.errors.append(f"{field} must be a URL address")
    loc = _location(request, token, v)
    assert name and description and payments_url and query_url and image_url and schedules is not None
    fields = ProviderFields(name, description, payments_url, query_url, image_url, schedules)
    record = ghl_of(request).custom_providers.create(loc, token.company_id, token.app_id, fields)
    return json_response(provider_shape(record))


async def delete_integration(request: Request, token: Token) -> Response:
    loc = _location(request, token)
    ghl_of(request).custom_providers.delete(loc)
    return json_response({"success": True})


async def fetch_config(request: Request, token: Token) -> Response:
    loc = _location(request, token)
    return json_response(provider_shape(ghl_of(request).custom_providers.get(loc)))


def _keys(v: Validator, mode: str, raw: Any) -> Keys | None:
    if not isinstance(raw, dict):
        v.errors.append(f"{mode} must be an object")
        return None
    found: list[str] = []
    for key in ("apiKey", "publishableKey"):
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            v.errors += [f"{mode}.{key} should not be empty", f"{mode}.{key} must be a string"]
        elif len(value) > 1000:
            v.errors.append(f"{mode}.{key} must be shorter than or equal to 1000 characters")
        else:
            found.append(value)
    return Keys(found[0], found[1]) if len(found) == 2 else None


async def create_config(request: Request, token: Token) -> Response:
    body = await read_json(request)
    v = Validator(body)
    live = _keys(v, "live", body["live"]) if "live" in body else None
    test = _keys(v, "test", body["test"]) if "test" in body else None
    if "live" not in body and "test" not in body:
        v.errors += ["live should not be empty", "test should not be empty"]  # at least one of the two
    loc = _location(request, token, v)
    record = ghl_of(request).custom_providers.connect(loc, live, test)
    return json_response(provider_shape(record))


async def disconnect_config(request: Request, token: Token) -> Response:
    body = await read_json(request)
    v = Validator(body)
    live_mode = _boolean(v, "liveMode")
    loc = _location(request, token, v)
    assert live_mode is not None
    ghl_of(request).custom_providers.disconnect(loc, live_mode)
    return json_response({"success": True})


async def update_capabilities(request: Request, token: Token) -> Response:
    body = await read_json(request)
    v = Validator(body)
    schedules = _boolean(v, "supportsSubscriptionSchedules")
    company_id = _optional_id(v, "companyId")
    location_id = _optional_id(v, "locationId")
    if "companyId" not in body and "locationId" not in body:
        v.errors += ["companyId should not be empty when locationId is not provided",
                     "locationId should not be empty when companyId is not provided"]
    v.done()
    assert schedules is not None
    service = ghl_of(request).custom_providers
    if company_id is not None and company_id != token.company_id:
        raise forbidden()
    if location_id is not None:
        check_location(token, location_id)
        service.set_capabilities(token.app_id, schedules, location_id=location_id)
    else:
        service.set_capabilities(token.app_id, schedules, company_id=company_id)
    return json_response({"success": True})
