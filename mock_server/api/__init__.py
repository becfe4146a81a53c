"""The GHL-facing HTTP layer: thin handlers that parse, call the domain and shape the response."""
