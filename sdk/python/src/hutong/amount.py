"""Decimal amounts <-> minor units, exactly (never through floats)."""

import re
from decimal import Decimal
from typing import Union

from .borsh import U128_MAX
from .errors import AmountError

_DECIMAL = re.compile(r"^(\d+)(?:\.(\d*))?$|^\.(\d+)$")


def parse_amount(value: Union[str, int, Decimal], decimals: int) -> int:
    """``"123.45"`` with 2 decimals -> ``12345``.

    Accepts a decimal string, an ``int`` (whole units) or a ``Decimal``;
    refuses floats, signs, exponents, more fractional digits than the asset
    has, and values past ``u128``.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise AmountError("amounts are decimal strings, ints or Decimals, never floats")
    if not 0 <= decimals <= 38:
        raise AmountError(f"decimals out of range: {decimals}")
    if isinstance(value, int):
        if value < 0:
            raise AmountError("an amount is not negative")
        minor = value * 10**decimals
    else:
        if isinstance(value, Decimal):
            if not value.is_finite() or value.is_signed() and value != 0:
                raise AmountError(f"not a non-negative finite amount: {value}")
            text = format(value, "f")
        elif isinstance(value, str):
            text = value.strip().replace("_", "")
        else:
            raise AmountError(f"cannot read an amount from {type(value).__name__}")
        m = _DECIMAL.match(text)
        if not m:
            raise AmountError(f"not a decimal amount: {value!r}")
        whole = m.group(1) or "0"
        frac = m.group(2) if m.group(1) is not None else m.group(3)
        frac = (frac or "")
        stripped = frac.rstrip("0")
        if len(stripped) > decimals:
            raise AmountError(f"{value!r} has more than {decimals} decimal places")
        minor = int(whole) * 10**decimals + int((stripped or "0").ljust(decimals, "0") or "0")
    if minor > U128_MAX:
        raise AmountError(f"{value!r} exceeds a u128 amount")
    return minor


def format_amount(minor: Union[int, str], decimals: int) -> str:
    """``12345`` with 2 decimals -> ``"123.45"`` (always ``decimals`` places)."""
    if isinstance(minor, str):
        if not minor.isdigit():
            raise AmountError(f"not a minor-unit amount: {minor!r}")
        minor = int(minor)
    if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
        raise AmountError(f"not a minor-unit amount: {minor!r}")
    if decimals == 0:
        return str(minor)
    whole, frac = divmod(minor, 10**decimals)
    return f"{whole}.{str(frac).rjust(decimals, '0')}"
