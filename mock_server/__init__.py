"""ghl-sandbox: a local, stateful fake of the GoHighLevel Payments / Orders API."""

__version__ = "0.1.0"
