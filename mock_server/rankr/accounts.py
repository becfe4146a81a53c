"""Rankr accounts: one per sandbox location, keys derived from the sandbox seed and the location id
(no storage; the same seed always gives the same keys)."""

from __future__ import annotations

import hashlib
from typing import Any

from mock_server.rankr.models import Account

BASE_PATH = "/rankr"


def _digest(purpose: str, seed: int, location_id: str) -> str:
    return hashlib.sha256(f"{purpose}:{seed}:{location_id}".encode()).hexdigest()[:32]


def account(seed: int, location_id: str) -> Account:
    return Account(location_id=location_id, api_key="rk_" + _digest("rankr-key", seed, location_id),
                   webhook_secret="whsec_" + _digest("rankr-webhook", seed, location_id))


def account_view(seed: int, location_id: str) -> dict[str, Any]:
    """What the control plane shows for a location under `rankr`."""
    acct = account(seed, location_id)
    return {"apiKey": acct.api_key, "webhookSecret": acct.webhook_secret, "basePath": BASE_PATH}
