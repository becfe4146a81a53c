"""ASGI entry point for external servers (granian): settings come from GHL_SANDBOX_SETTINGS."""

from __future__ import annotations

import ast
import os

from mock_server.app import create_app
from mock_server.settings import Settings

app = create_app(Settings(**ast.literal_eval(os.environ.get("GHL_SANDBOX_SETTINGS", "{}"))))
