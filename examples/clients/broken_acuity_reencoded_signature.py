"""BROKEN on purpose: verifies `X-Acuity-Signature` over a re-encoding of the parsed form (fields in
sorted order, as a framework's form dict gives them back) instead of the raw body bytes, the slip of the
fact sheet's §5.1 (the official JS example once hashed what its body parser left, not the raw buffer).
Every genuine appointment webhook (`action=…&id=…&calendarID=…&appointmentTypeID=…`, not in sorted
order) is refused with 401, and Acuity does not retry it; a forged re-encoding whose sorted form matches
a signed body (say an `order.completed` body with its fields swapped or percent-encoded) is accepted.
Polling still brings the payments in. Everything else is the reference client."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from reference_client import ReferenceClient, main


class ReencodedSignature(ReferenceClient):
    def verify_acuity_signature(self, raw: bytes, headers: Any) -> bool:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        reencoded = urlencode(sorted(form.items())).encode()  # the bug: not the bytes that were signed
        return super().verify_acuity_signature(reencoded, headers)


if __name__ == "__main__":
    main(ReencodedSignature)
