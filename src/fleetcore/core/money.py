"""Money: one small immutable value type, minor-unit rounding and exact splits (spec: money.md).

Decisions (money.md, "Types"):

* Amounts are :class:`~decimal.Decimal` only. Floats are refused everywhere, because
  ``0.1 + 0.2`` is not ``0.3`` and a lost cent on a driver payout is a lost customer.
* A currency is an ISO 4217 code in upper case, checked against pycountry's ISO 4217 list.
  Lower case is refused rather than silently upper-cased: the database CHECK is ``^[A-Z]{3}$``
  and a lower-case code means a bug upstream that should surface here.
* The minor unit (number of decimals) comes from CLDR through babel
  (``get_currency_precision``): 2 for EUR, 0 for JPY, 3 for KWD/BHD/OMR. CLDR differs from
  ISO 4217 for a few currencies (e.g. IQD, LBP, RSD, ALL have 0 digits in CLDR), none of which
  Fleetcore's markets use; we follow CLDR so that what we post is what babel displays.
* Posted amounts are rounded with ``ROUND_HALF_UP`` (ties away from zero, so rounding is
  symmetric: -0.125 EUR -> -0.13). Intermediate results keep full precision: nothing here
  rounds unless asked to.
* API form is ``{"amount": "12.50", "currency": "EUR"}``. An amount that is a whole number of
  minor units is written with *exactly* the currency's minor digits (``"12.50"``, ``"1250"``
  for JPY, ``"1.001"`` for KWD), whatever its internal scale (``Decimal("12.5000")`` read from a
  ``numeric(18,4)`` column gives ``"12.50"``). An unrounded amount (a unit price such as a fuel
  price per litre, an intermediate share) keeps its full precision, trailing zeros beyond the
  minor digits stripped (``"1.789"``, ``"0.125"``). The string is thus a function of the value,
  never of how the Decimal happened to be scaled, and ``from_api(to_api(m)) == m`` always.
* Splits floor every part to the minor unit and hand out the remainder one minor unit at a
  time, largest fractional part first, ties by a stable key, so parts always sum exactly to the
  (rounded) whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from typing import Any, NoReturn

import pycountry
from babel.numbers import format_currency, get_currency_precision

__all__ = [
    "CurrencyMismatch",
    "Money",
    "allocate_evenly",
    "is_currency",
    "minor_unit_exponent",
    "round_minor",
    "split",
    "validate_currency",
]

AmountLike = Decimal | int | str
"""What a money amount may be built from: never ``float``."""

# The API boundary accepts plain decimal notation only: no exponent, no spaces, no "NaN",
# no "1_000" (all of which Decimal() itself would accept).
_API_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class CurrencyMismatch(ValueError):  # noqa: N818 - the name the spec and callers use
    """Two amounts in different currencies were combined or compared."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"currency mismatch: {left} vs {right}")
        self.left = left
        self.right = right


@cache
def _iso4217_codes() -> frozenset[str]:
    # pycountry ships the current ISO 4217 list; built once, since it is consulted on every
    # Money construction.
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_currency(code: object) -> bool:
    """True when ``code`` is an upper-case ISO 4217 currency code."""
    return isinstance(code, str) and code in _iso4217_codes()


def validate_currency(code: object) -> str:
    """Return ``code`` if it is an upper-case ISO 4217 currency code, else raise ValueError."""
    if not is_currency(code):
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")
    assert isinstance(code, str)  # narrowed by is_currency
    return code


@cache
def minor_unit_exponent(currency: str) -> int:
    """Number of decimals of ``currency``'s minor unit (CLDR via babel): EUR 2, JPY 0, KWD 3."""
    return int(get_currency_precision(validate_currency(currency)))


@cache
def _quantum(currency: str) -> Decimal:
    # Decimal("0.01") for EUR, Decimal("1") for JPY, Decimal("0.001") for KWD.
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


def _to_decimal(value: object) -> Decimal:
    # bool is an int subclass: True as an amount is always a bug.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(
            f"money amounts must be Decimal, int or str, not {type(value).__name__}"
            + (" (floats are inexact; pass a str or Decimal)" if isinstance(value, float) else "")
        )
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"money amounts must be finite, not {result}")
    return result


def _to_factor(value: object) -> Decimal:
    # Multipliers follow the amount rules: a float factor would smuggle binary error back in.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(
            f"money can be multiplied by Decimal or int only, not {type(value).__name__}"
        )
    return _to_decimal(value)


def round_minor(amount: Decimal | int, currency: str) -> Decimal:
    """Round ``amount`` to ``currency``'s minor unit, ROUND_HALF_UP (ties away from zero)."""
    return _to_factor(amount).quantize(_quantum(currency), rounding=ROUND_HALF_UP)


class Money:
    """An immutable amount in one currency; arithmetic across currencies raises."""

    __slots__ = ("amount", "currency")
    __match_args__ = ("amount", "currency")

    amount: Decimal
    currency: str

    def __init__(self, amount: AmountLike, currency: str) -> None:
        # object.__setattr__ because __setattr__ is closed: a value type must not change under
        # the feet of whoever holds it (ledger lines, cache keys, dict keys).
        object.__setattr__(self, "amount", _to_decimal(amount))
        object.__setattr__(self, "currency", validate_currency(currency))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Money is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Money is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Money], tuple[Decimal, str]]:
        # copy/pickle would otherwise try to set the slots one by one and hit __setattr__.
        return (Money, (self.amount, self.currency))

    # --- construction -------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``."""
        return cls(Decimal(0).quantize(_quantum(currency)), currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """The amount of ``units`` minor units (cents, fils...) of ``currency``."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"minor units must be an int, not {type(units).__name__}")
        return cls(Decimal(units).scaleb(-minor_unit_exponent(currency)), currency)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Money:
        """Parse the API form ``{"amount": "12.50", "currency": "EUR"}`` (amount as a string)."""
        if not isinstance(data, Mapping):
            raise ValueError("money must be an object with 'amount' and 'currency'")
        keys = set(data)
        if keys != {"amount", "currency"}:
            raise ValueError(
                f"money must have exactly 'amount' and 'currency', got {sorted(map(str, keys))}"
            )
        amount, currency = data["amount"], data["currency"]
        # A JSON number would have gone through float on most clients: refuse it at the edge.
        if not isinstance(amount, str) or not _API_AMOUNT.fullmatch(amount):
            raise ValueError(f"money amount must be a decimal string like '12.50', got {amount!r}")
        return cls(Decimal(amount), validate_currency(currency))

    # --- queries --------------------------------------------------------------------------

    @property
    def exponent(self) -> int:
        """Number of decimals of this currency's minor unit."""
        return minor_unit_exponent(self.currency)

    def is_zero(self) -> bool:
        """True when the amount is zero."""
        return self.amount.is_zero()

    def is_negative(self) -> bool:
        """True when the amount is below zero."""
        return self.amount < 0

    def is_rounded(self) -> bool:
        """True when the amount is a whole number of minor units."""
        scaled = self.amount.scaleb(self.exponent)
        return scaled == scaled.to_integral_value()

    def rounded(self) -> Money:
        """This amount rounded to the minor unit, ROUND_HALF_UP (for posting)."""
        return Money(round_minor(self.amount, self.currency), self.currency)

    def minor_units(self) -> int:
        """The amount in minor units; raises ValueError unless it is already rounded.

        Rounding silently here would hide an unrounded amount on its way to a payment
        provider; call :meth:`rounded` first when rounding is intended.
        """
        if not self.is_rounded():
            raise ValueError(f"{self} is not a whole number of minor units; round it first")
        return int(self.amount.scaleb(self.exponent))

    # --- serialisation --------------------------------------------------------------------

    def amount_str(self) -> str:
        """The amount as the API writes it: exactly the minor digits when rounded, else full."""
        if self.is_rounded():
            value = self.amount.quantize(_quantum(self.currency))
            if value.is_zero():
                value = abs(value)  # never "-0.00"
            return format(value, "f")
        # Not a whole number of minor units, so there are non-zero digits beyond the minor
        # ones: stripping trailing zeros can never eat into the minor digits. (Not normalize():
        # it rounds to the context precision.)
        return format(self.amount, "f").rstrip("0")

    def to_api(self) -> dict[str, str]:
        """The API form ``{"amount": "12.50", "currency": "EUR"}``."""
        return {"amount": self.amount_str(), "currency": self.currency}

    def format(self, locale: str, *, full_precision: bool = False) -> str:
        """Localised display via babel, rounded HALF_UP to the minor unit unless full_precision."""
        if full_precision:
            return str(
                format_currency(
                    self.amount, self.currency, locale=locale, decimal_quantization=False
                )
            )
        # babel rounds half-even on its own; round first so display matches what we post.
        return str(format_currency(self.rounded().amount, self.currency, locale=locale))

    def __str__(self) -> str:
        return f"{self.amount_str()} {self.currency}"

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"

    # --- arithmetic -----------------------------------------------------------------------

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, Money):
            return NotImplemented  # money x money has no meaning
        return Money(self.amount * _to_factor(factor), self.currency)

    __rmul__ = __mul__

    # --- comparison -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        # Numeric equality: 12.5 EUR == 12.50 EUR; different currencies are simply unequal.
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        # Decimal hashes equal values alike (hash(Decimal("1.0")) == hash(Decimal("1.00"))).
        return hash((self.amount, self.currency))

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount


def split(
    total: Money,
    shares: Sequence[Decimal | int],
    keys: Sequence[str] | None = None,
) -> list[Money]:
    """Split ``total`` (rounded first) by ``shares`` into parts that sum to it exactly."""
    if not isinstance(total, Money):
        raise TypeError(f"split() needs a Money total, not {type(total).__name__}")
    if len(shares) == 0:
        raise ValueError("split() needs at least one share")
    weights = [_to_factor(s) for s in shares]
    if any(w < 0 for w in weights):
        raise ValueError("shares must not be negative")
    if all(w.is_zero() for w in weights):
        raise ValueError("at least one share must be positive")
    if keys is not None:
        if len(keys) != len(shares):
            raise ValueError(f"{len(keys)} keys for {len(shares)} shares")
        if len(set(keys)) != len(keys):
            raise ValueError("keys must be unique to break ties stably")

    currency = total.currency
    units = total.rounded().minor_units()
    # Split the magnitude and put the sign back, so a refund splits exactly like the charge
    # it reverses (the same parts get the extra minor unit).
    sign = -1 if units < 0 else 1
    magnitude = abs(units)

    # Fractions, not Decimal division: exact shares, so the "largest fractional part" order is
    # not perturbed by rounding in the 28th digit.
    weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
    exact = [magnitude * Fraction(w) / weight_sum for w in weights]
    floors = [int(e.numerator // e.denominator) for e in exact]  # floor: e >= 0
    remainder = magnitude - sum(floors)  # 0 <= remainder < number of positive shares

    tie_keys: Sequence[str] = keys if keys is not None else [""] * len(weights)
    order = sorted(
        range(len(weights)),
        key=lambda i: (-(exact[i] - floors[i]), tie_keys[i], i),
    )
    # Each of the first `remainder` parts gets one more unit. Their fractional parts are
    # positive (the fractions sum to `remainder` and each is < 1), so a zero share never does.
    for i in order[:remainder]:
        floors[i] += 1
    return [Money.from_minor(sign * part, currency) for part in floors]


def allocate_evenly(total: Money, n: int) -> list[Money]:
    """Split ``total`` into ``n`` parts as equal as the minor unit allows (first parts larger)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"allocate_evenly() needs a positive number of parts, not {n!r}")
    return split(total, [1] * n)
