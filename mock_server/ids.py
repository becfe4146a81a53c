"""Deterministic identifiers in GHL's formats, drawn from one seeded random source."""

from __future__ import annotations

import base64
import random
import uuid

_TO_ALNUM = bytes.maketrans(b"+/", b"Xq")


class IdFactory:
    """Every id the sandbox mints comes from here, so one seed gives the same ids."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(f"ids-{seed}")

    def object_id(self) -> str:
        """24-hex Mongo-style ObjectId (orders, transactions, subscriptions, ...)."""
        return f"{self._rng.getrandbits(96):024x}"

    def _alnum(self, length: int) -> str:
        # base64 of random bits with `+` and `/` mapped onto letters: alphanumeric, and done in C
        # (this runs hundreds of thousands of times when seeding a big location).
        raw = self._rng.getrandbits(length * 6).to_bytes((length * 6 + 7) // 8, "big")
        return base64.b64encode(raw).translate(_TO_ALNUM)[:length].decode()

    def short_id(self) -> str:
        """20-char alphanumeric id (locations, contacts)."""
        return self._alnum(20)

    def token(self, prefix: str) -> str:
        return prefix + uuid.UUID(int=self._rng.getrandbits(128), version=4).hex

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def provider_ref(self, prefix: str, length: int = 24) -> str:
        """Provider-side ids keep the provider's format (`sub_...`, `ch_...`)."""
        return prefix + self._alnum(length)
