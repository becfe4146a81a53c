"""The live dashboard served at `/`: a page (static/), its JSON views and a server-sent event stream.

`bus.EventBus` is the live feed (sandbox.bus): API requests from the journal, webhook attempts from the
delivery worker and simulated actions from the control plane, with rolling metrics for the charts.
"""
