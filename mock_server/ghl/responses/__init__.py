"""GHL's HTTP layer: thin handlers that parse, call the domain and shape the response as GHL does."""
