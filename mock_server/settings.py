"""Server settings, from the CLI or from code (tests, the harness)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 42
    state_file: str | None = None
    orders: int = 260
    admin_token: str | None = None
    # Host names the control plane and dashboard also answer, besides loopback ones (DNS rebinding).
    allowed_hosts: list[str] = field(default_factory=list)
    rate_limit: str = "default"
    journal_capacity: int = 10_000
    max_body_bytes: int = 1024 * 1024
    response_cache: bool = True  # cache rendered GET answers until the next write (off: measure paging)
    response_cache_mb: int = 32  # the GET cache's byte budget (least recently used answers go first); 0: off
    fragment_cache: bool = True  # keep each record's rendered JSON until the record changes (off: measure rendering)
    fragment_cache_mb: int = 32  # the fragment cache's byte budget (least recently used first); 0: off
    # webhooks out
    webhook_urls: list[str] = field(default_factory=list)
    webhook_policy: str = "ghl"  # ghl | exponential
    webhook_retry_interval: float = 600.0  # seconds on the sandbox clock (GHL: about 10 minutes)
    webhook_max_retries: int = 6
    webhook_backoff_factor: float = 2.0  # exponential policy only
    webhook_timeout: float = 10.0  # per attempt, seconds
    extension_events: bool = False  # sandbox-only transaction/subscription events
    sign_ed25519: bool = True  # x-ghl-signature
    sign_rsa: bool = False  # x-wh-signature: GHL retired it in 2026; --legacy-wh-signature turns it on
    acuity_webhook_retries: str = "none"  # none | exponential (Acuity's policy is unverified)
    acuity_rate_limit: str = "on"  # on | off | edge403: the fake Acuity's limit after a start or a reset
    # No-code workflows (unverified GHL behaviour, see DEVIATIONS): retries of workflow webhook actions,
    # one Order Submitted firing per order or per product line, trigger objects in the standard body.
    workflow_webhook_retries: str = "exponential"  # exponential | none
    workflow_order_submitted: str = "order"  # order | product
    workflow_payload_objects: str = "nested"  # nested | none
    workflow_user_agent: str = "axios/1.13.2"  # the user-agent of workflow webhook deliveries
