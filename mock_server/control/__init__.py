"""The control plane under /_sandbox: JSON endpoints that tests, the harness and people use to drive
the sandbox (locations, tokens, reset, state, journal)."""
