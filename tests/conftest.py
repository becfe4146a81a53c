"""Shared fixtures: the `ghl_sandbox` fixture comes from our own pytest plugin (mock_server.pytest_plugin)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

from mock_server.testing import SandboxClient

# `ghl-sandbox check` saves its report for the dashboard under $GHL_SANDBOX_HOME: keep the suite's
# runs out of the user's ~/.cache.
os.environ.setdefault("GHL_SANDBOX_HOME", tempfile.mkdtemp(prefix="ghl-sandbox-home-"))


@pytest.fixture
def loc(ghl_sandbox: SandboxClient) -> dict[str, Any]:
    """The first seeded location with its all-scopes token."""
    location = ghl_sandbox.location(0)
    return {"id": location["locationId"], "token": location["tokens"][0]["token"], "view": location}
