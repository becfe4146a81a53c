"""One TLS context per process for every outgoing HTTP client.

httpx builds a new `ssl.SSLContext` for each client it creates, reading and parsing the whole CA
bundle: about 30 ms of CPU each time. The sandbox makes a client per Rankr send and per forged
webhook, the harness one per job and per step that posts; on a 2-core `check --jobs 8` that was a
tenth of the run's CPU. A context is safe to share between threads and event loops, and verifies
exactly as httpx's default does (certifi's bundle, host names checked)."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once."""
    return httpx.create_ssl_context()
