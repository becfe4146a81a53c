"""pytest plugin (entry point `pytest11`): a `ghl_sandbox` fixture with a running sandbox on a free port.

The server is started once per session and reset to its seeded state before each test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mock_server.testing import SandboxClient, SandboxProcess


@pytest.fixture(scope="session")
def ghl_sandbox_process() -> Iterator[SandboxProcess]:
    with SandboxProcess(["--rate-limit", "off"]) as proc:
        yield proc


@pytest.fixture
def ghl_sandbox(ghl_sandbox_process: SandboxProcess) -> Iterator[SandboxClient]:
    client = ghl_sandbox_process.client()
    client.reset()
    client.clear_journal()
    try:
        yield client
    finally:
        client.close()
