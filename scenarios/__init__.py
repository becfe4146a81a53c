"""The contract harness: scenarios, checks and property-based runs that drive an integration client
against the sandbox through its public HTTP API and control plane, as a user would."""
