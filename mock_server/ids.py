"""Deterministic identifiers in GHL's formats, drawn from one seeded random source."""

from __future__ import annotations

import random
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


class IdFactory:
    """Every id the sandbox mints comes from here, so one seed gives the same ids."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(f"ids-{seed}")

    def object_id(self) -> str:
        """24-hex Mongo-style ObjectId (orders, transactions, subscriptions, ...)."""
        return f"{self._rng.getrandbits(96):024x}"

    def short_id(self) -> str:
        """20-char alphanumeric id (locations, contacts)."""
        return "".join(self._rng.choices(_ALNUM, k=20))

    def token(self, prefix: str) -> str:
        return prefix + uuid.UUID(int=self._rng.getrandbits(128), version=4).hex

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def provider_ref(self, prefix: str, length: int = 24) -> str:
        """Provider-side ids keep the provider's format (`sub_...`, `ch_...`)."""
        return prefix + "".join(self._rng.choices(_ALNUM, k=length))
