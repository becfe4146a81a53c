"""The workflows service's simulated actions, named once (the plugin, the control plane and the CLI read this list)."""

from __future__ import annotations

ACTIONS = ("invoice.update",)
