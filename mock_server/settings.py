"""Server settings, from the CLI or from code (tests, the harness)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 42
    state_file: str | None = None
    orders: int = 260
    admin_token: str | None = None
    rate_limit: str = "default"
    journal_capacity: int = 10_000
    max_body_bytes: int = 1024 * 1024
