"""Acuity accounts: one per sandbox location, derived from the world seed and the location id (no
storage; the same seed always gives the same credentials). The time zone follows the location's index."""

from __future__ import annotations

import hashlib
from typing import Any

from mock_server.acuity.models import AcuityAccount

BASE_URL = "/acuity/api/v1"
CURRENCY = "USD"
TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "America/Denver", "Europe/London")


def _digest(purpose: str, seed: int, location_id: str) -> str:
    return hashlib.sha256(f"acuity-{purpose}:{seed}:{location_id}".encode()).hexdigest()


def timezone_for(index: int) -> str:
    return TIMEZONES[index % len(TIMEZONES)]


def account(seed: int, location_id: str, index: int) -> AcuityAccount:
    user_id = 10_000_000 + int(_digest("user", seed, location_id)[:12], 16) % 90_000_000
    return AcuityAccount(
        location_id=location_id, user_id=user_id, api_key=_digest("key", seed, location_id)[:32],
        oauth_client_id=_digest("client", seed, location_id)[:24],
        oauth_client_secret=_digest("secret", seed, location_id)[:40],
        currency=CURRENCY, timezone=timezone_for(index))


def account_view(acct: AcuityAccount) -> dict[str, Any]:
    """What the control plane lists for a location under `acuity`."""
    return {"userId": acct.user_id, "apiKey": acct.api_key, "oauthClientId": acct.oauth_client_id,
            "oauthClientSecret": acct.oauth_client_secret, "baseUrl": BASE_URL, "currency": acct.currency,
            "timezone": acct.timezone}
