"""Money out of a report: integer minor units become decimal major units of their currency (the
project's one table of minor-unit exponents, `ghl.money`), exactly, only when a row is written."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from mock_server.ghl.money import exponent, round_minor, to_major


def major(minor: int, currency: str) -> float:
    """4999 USD -> 49.99 (a JSON number, as the API's amounts are)."""
    return to_major(minor, currency)


def text(minor: int, currency: str) -> str:
    """4999 USD -> "49.99", 5000 -> "50.00" (CSV cells, exact)."""
    return str(Decimal(minor).scaleb(-exponent(currency)).quantize(Decimal(1).scaleb(-exponent(currency))))


def major_text(value: float, currency: str) -> str:
    """A major-unit amount as a row holds it -> its CSV text with the currency's decimals."""
    places = Decimal(1).scaleb(-exponent(currency))
    return str(Decimal(repr(value)).quantize(places, ROUND_HALF_UP))


def minor_of(value: object, currency: str) -> int | None:
    """A destination's amount (a JSON number or a decimal string, major units) in minor units; None when it
    is neither."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not exact.is_finite():
        return None
    return round_minor(exact.scaleb(exponent(currency)))


def monthly(amount_minor: int, interval: str, count: int) -> Decimal:
    """A recurring amount as an exact monthly amount in minor units (a year is 12 months, a week 12/52 of
    one, a day 12/365 of one), divided by the interval count."""
    per_year = {"day": Decimal(365), "week": Decimal(52), "month": Decimal(12), "year": Decimal(1)}.get(
        interval, Decimal(12))
    return Decimal(amount_minor) * per_year / Decimal(12) / Decimal(max(1, count))


def rounded(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))
