"""The fake GHL Payments API: records and rules (`models`, `payments`, `simulation`), seeded data,
OAuth, its HTTP handlers (`responses`) and routing table (`urls`), plugged into the runtime by `plugin`."""
