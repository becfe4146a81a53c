"""HTTP pieces every service shares: the error envelope, the request gateway, the response cache and
the typed per-request context."""
