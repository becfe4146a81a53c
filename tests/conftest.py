"""Shared fixtures: the `ghl_sandbox` fixture comes from our own pytest plugin (mock_server.pytest_plugin)."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.testing import SandboxClient


@pytest.fixture
def loc(ghl_sandbox: SandboxClient) -> dict[str, Any]:
    """The first seeded location with its all-scopes token."""
    location = ghl_sandbox.location(0)
    return {"id": location["locationId"], "token": location["tokens"][0]["token"], "view": location}
