"""A fake Rankr: the destination system integration clients sync GHL data into (CLIENT_CONTRACT §3).

Served by the sandbox under `/rankr`. Kept import-light: `mock_server.store` imports `models` from here.
"""
