"""BROKEN on purpose: takes GHL workflow webhooks without checking `X-Workflow-Secret`, so anyone who
learns the URL can make it act (workflow deliveries are unsigned: the shared secret is the only proof).
Everything else is the reference client."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, main


class NoWorkflowSecretCheck(ReferenceClient):
    def workflow_secret_ok(self, headers: Any) -> bool:
        return True  # the bug: trusts whoever posts to /webhooks/ghl-workflow


if __name__ == "__main__":
    main(NoWorkflowSecretCheck)
