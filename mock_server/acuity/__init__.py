"""A fake Acuity Scheduling API (`/acuity/api/v1`, OAuth2 at `/acuity/oauth2`): one Acuity account per
sandbox location, its appointments, payments, orders and certificates, seeded beside GHL's data.

Kept import-light: `mock_server.store` users import `models` from here.
"""
