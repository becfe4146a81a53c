"""Webhooks out: signing, the transactional outbox, delivery chaos, retry policies and the worker."""
