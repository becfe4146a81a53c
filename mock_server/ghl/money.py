"""Money as integer minor units (cents for USD). Records and the store hold ints; amounts become major
units (49.99) only where the API and webhooks render them, and incoming amounts become minor units at
the boundary, so nothing in between compares or sums floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

# ISO 4217 minor-unit exponents that differ from the default of 2.
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
DEFAULT_EXPONENT = 2
# Wide enough that no amount the control plane accepts loses a digit (the default context keeps 28).
_CONTEXT = Context(prec=60)


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


def to_minor(value: int | float | str | Decimal, currency: str) -> int:
    """A JSON number or decimal string in major units -> minor units, rounded half-up at the
    currency's precision (10.005 USD -> 1001). A float is read as the shortest decimal that parses
    back to it (its repr), i.e. the number as the JSON text wrote it, not its binary expansion."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return int(exact.scaleb(exponent(currency), _CONTEXT).quantize(Decimal(1), ROUND_HALF_UP, _CONTEXT))


def to_major(minor: int, currency: str) -> float:
    """Minor units -> the major-unit number the API renders (4999 USD -> 49.99, 5000 -> 50.0, which
    JSON writes as 50). Always a float, as the API's amounts have always been: true division gives
    the float nearest the exact decimal, the same float the literal 49.99 is."""
    return minor / 10 ** exponent(currency)


def scale(minor: int, factor: int | float | str | Decimal) -> Decimal:
    """`minor` times `factor` (a quantity, possibly fractional), exactly; round it with `round_minor`."""
    exact = Decimal(repr(factor)) if isinstance(factor, float) else Decimal(factor)
    return _CONTEXT.multiply(exact, Decimal(minor))


def round_minor(value: Decimal) -> int:
    """An exact amount of minor units, rounded half-up to a whole one."""
    return int(value.quantize(Decimal(1), ROUND_HALF_UP, _CONTEXT))
