"""BROKEN on purpose: merges customers by first and last name instead of by normalised email (Acuity
has no client id, and its own client API matches on names, which makes this tempting). Two different
people who share a name become one Rankr customer, and one person's second email is merged into their
first. Everything else is the reference client."""

from __future__ import annotations

from typing import Any

from reference_client import ReferenceClient, main, normalise_email


class MergeByName(ReferenceClient):
    def merge_key(self, email: Any, first: Any, last: Any) -> str:
        name = f"{str(first or '').strip()} {str(last or '').strip()}".strip().lower()
        return name or normalise_email(email)  # the bug: the name decides who is who


if __name__ == "__main__":
    main(MergeByName)
