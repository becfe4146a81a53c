"""Reports over one location's data across the services (`GET /_sandbox/reports/{name}`): revenue,
payment rates, subscriptions, how well the destination (Rankr) copies the sources, webhook delivery and
routing load.

`sources.py` reads each service through its own queries into typed facts (`model.py`); `compute.py`
turns facts into a report's rows as pure functions; `registry.py` names the reports; `render.py` writes
CSV; `routes.py` is the HTTP part. Like `mock_server.app`, this package names the services on purpose:
a report is about them all.
"""
