"""Money value type, minor-unit rounding and exact splits (money.md: Types, Splits, API, M6)."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetcore.core.money import (
    CurrencyMismatch,
    Money,
    allocate_evenly,
    is_currency,
    minor_unit_exponent,
    round_minor,
    split,
    validate_currency,
)

# Two-, zero-, three- and four-decimal currencies (CLF has 4 in CLDR).
CURRENCIES = ["EUR", "GBP", "USD", "AED", "JPY", "KWD", "BHD", "OMR", "CLF"]

currencies = st.sampled_from(CURRENCIES)
amounts = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)
shares_element = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)
share_lists = st.lists(shares_element, min_size=1, max_size=40).filter(
    lambda shares: any(s > 0 for s in shares)
)


def unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


# --- currencies and exponents -----------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("EUR", 2),
        ("GBP", 2),
        ("USD", 2),
        ("AED", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("OMR", 3),
    ],
)
def test_minor_unit_exponent_comes_from_cldr(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize("code", ["eur", "EURO", "ZZZ", "", "E", "978", None, 978])
def test_invalid_currency_is_refused(code: object) -> None:
    assert not is_currency(code)
    with pytest.raises(ValueError, match="ISO 4217"):
        validate_currency(code)
    with pytest.raises(ValueError, match="ISO 4217"):
        Money("1", code)  # type: ignore[arg-type]


def test_valid_currency_accepted() -> None:
    assert validate_currency("EUR") == "EUR"
    assert Money("1", "KWD").currency == "KWD"


# --- construction: no floats --------------------------------------------------------------


@pytest.mark.parametrize("amount", [Decimal("12.5"), 12, "12.50", "-0.001"])
def test_amount_accepts_decimal_int_and_str(amount: Decimal | int | str) -> None:
    assert Money(amount, "EUR").amount == Decimal(amount)


def test_float_amount_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        Money(12.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [True, None, [1], b"1"])
def test_other_amount_types_refused(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-inf", "abc", "", Decimal("NaN")])
def test_non_finite_or_garbage_amount_refused(amount: str | Decimal) -> None:
    with pytest.raises(ValueError, match=r"finite|decimal"):
        Money(amount, "EUR")


def test_float_refused_in_multiplication_rounding_and_splits() -> None:
    m = Money("10", "EUR")
    with pytest.raises(TypeError):
        m * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        1.5 * m  # type: ignore[operator]
    with pytest.raises(TypeError):
        round_minor(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        split(m, [0.5, 0.5])  # type: ignore[list-item]


# --- value semantics ----------------------------------------------------------------------


def test_money_is_immutable_hashable_and_copyable() -> None:
    m = Money("12.50", "EUR")
    with pytest.raises(AttributeError):
        m.amount = Decimal(1)
    with pytest.raises(AttributeError):
        del m.currency
    assert Money("12.5", "EUR") == Money("12.5000", "EUR")
    assert hash(Money("12.5", "EUR")) == hash(Money("12.5000", "EUR"))
    assert len({Money("1", "EUR"), Money("1.00", "EUR"), Money("1", "USD")}) == 2
    assert copy.deepcopy(m) == m
    assert pickle.loads(pickle.dumps(m)) == m


def test_arithmetic_within_a_currency() -> None:
    a, b = Money("10.10", "EUR"), Money("0.15", "EUR")
    assert a + b == Money("10.25", "EUR")
    assert a - b == Money("9.95", "EUR")
    assert -a == Money("-10.10", "EUR")
    assert abs(-a) == a
    assert a * 3 == Money("30.30", "EUR")
    assert Decimal("0.2") * a == Money("2.02", "EUR")
    # Intermediate results keep full precision; only rounded() rounds.
    assert (a * Decimal("0.333")).amount == Decimal("3.36330")
    assert sum([a, b, b], Money.zero("EUR")) == Money("10.40", "EUR")


def test_comparison_within_a_currency() -> None:
    assert Money("1", "EUR") < Money("1.01", "EUR") <= Money("1.010", "EUR")
    assert Money("2", "EUR") > Money("-2", "EUR") >= Money("-2.00", "EUR")
    assert max(Money("3", "JPY"), Money("5", "JPY")) == Money("5", "JPY")


def test_currency_mismatch_raises_and_is_a_value_error() -> None:
    eur, usd = Money("1", "EUR"), Money("1", "USD")
    with pytest.raises(CurrencyMismatch):
        eur + usd
    with pytest.raises(CurrencyMismatch):
        eur - usd
    with pytest.raises(CurrencyMismatch):
        eur < usd  # noqa: B015 - the comparison itself must raise
    with pytest.raises(CurrencyMismatch):
        eur >= usd  # noqa: B015
    with pytest.raises(ValueError, match="EUR vs USD"):
        eur + usd
    # Equality across currencies is a plain "no", not an error.
    assert eur != usd


def test_money_does_not_mix_with_bare_numbers() -> None:
    with pytest.raises(TypeError):
        Money("1", "EUR") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money("1", "EUR") * Money("1", "EUR")  # type: ignore[operator]
    assert Money("1", "EUR") != Decimal(1)


def test_zero_and_predicates() -> None:
    assert Money.zero("EUR").is_zero()
    assert Money.zero("JPY").to_api() == {"amount": "0", "currency": "JPY"}
    assert Money.zero("KWD").to_api() == {"amount": "0.000", "currency": "KWD"}
    assert not Money("0.01", "EUR").is_zero()
    assert Money("-0.01", "EUR").is_negative()
    assert Money("-0.00", "EUR").is_zero()


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "EUR", "0.13"),
        ("0.124999", "EUR", "0.12"),
        ("0.115", "EUR", "0.12"),  # half-even would give 0.12 too; 0.125 is the telling case
        ("-0.125", "EUR", "-0.13"),  # ties away from zero: symmetric
        ("2.5", "JPY", "3"),
        ("3.5", "JPY", "4"),
        ("-2.5", "JPY", "-3"),
        ("1.0005", "KWD", "1.001"),
        ("1.0004", "KWD", "1.000"),
        ("0.0005", "BHD", "0.001"),
        ("12", "EUR", "12.00"),
    ],
)
def test_rounding_is_half_up_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    assert round_minor(Decimal(amount), currency) == Decimal(expected)
    rounded = Money(amount, currency).rounded()
    assert rounded == Money(expected, currency)
    assert rounded.to_api()["amount"] == expected


@given(amount=amounts, currency=currencies)
def test_rounding_is_within_half_a_unit_and_on_the_grid(amount: Decimal, currency: str) -> None:
    r = round_minor(amount, currency)
    q = unit(currency)
    assert abs(r - amount) <= q / 2
    assert (r / q) == (r / q).to_integral_value()
    assert round_minor(-amount, currency) == -r


def test_minor_units_round_trip() -> None:
    assert Money("12.50", "EUR").minor_units() == 1250
    assert Money("12.5000", "EUR").minor_units() == 1250
    assert Money("1250", "JPY").minor_units() == 1250
    assert Money("1.001", "KWD").minor_units() == 1001
    assert Money.from_minor(1250, "EUR") == Money("12.50", "EUR")
    assert Money.from_minor(-5, "KWD") == Money("-0.005", "KWD")
    with pytest.raises(ValueError, match="round it first"):
        Money("0.125", "EUR").minor_units()
    with pytest.raises(TypeError):
        Money.from_minor(Decimal(5), "EUR")  # type: ignore[arg-type]


@given(units=st.integers(min_value=-(10**15), max_value=10**15), currency=currencies)
def test_from_minor_and_minor_units_are_inverse(units: int, currency: str) -> None:
    assert Money.from_minor(units, currency).minor_units() == units


# --- API form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.5", "EUR", "12.50"),
        ("12.5000", "EUR", "12.50"),
        ("1250", "JPY", "1250"),
        ("1E+3", "JPY", "1000"),
        ("1.001", "KWD", "1.001"),
        ("-0.00", "EUR", "0.00"),
        ("-7.1", "EUR", "-7.10"),
        # Not a whole number of minor units: full precision, trailing zeros stripped.
        ("0.125", "EUR", "0.125"),
        ("1.78900", "EUR", "1.789"),
        ("2.5", "JPY", "2.5"),
        ("0.00001", "EUR", "0.00001"),
    ],
)
def test_to_api_amount_string(amount: str, currency: str, expected: str) -> None:
    assert Money(amount, currency).to_api() == {"amount": expected, "currency": currency}


@given(amount=amounts, currency=currencies)
def test_to_api_from_api_round_trip(amount: Decimal, currency: str) -> None:
    m = Money(amount, currency)
    assert Money.from_api(m.to_api()) == m
    rounded = m.rounded()
    api_amount = rounded.to_api()["amount"]
    decimals = len(api_amount.partition(".")[2])
    assert decimals == minor_unit_exponent(currency)
    assert Money.from_api(rounded.to_api()) == rounded


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": 12.5, "currency": "EUR"},
        {"amount": 12, "currency": "EUR"},
        {"amount": "1e3", "currency": "EUR"},
        {"amount": "NaN", "currency": "EUR"},
        {"amount": " 1.00", "currency": "EUR"},
        {"amount": "1,00", "currency": "EUR"},
        {"amount": "1.", "currency": "EUR"},
        {"amount": "1.00", "currency": "eur"},
        {"amount": "1.00"},
        {"amount": "1.00", "currency": "EUR", "extra": 1},
        ["1.00", "EUR"],
    ],
)
def test_from_api_refuses_malformed_payloads(payload: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each payload fails for its own reason
        Money.from_api(payload)  # type: ignore[arg-type]


# --- display ------------------------------------------------------------------------------


def test_format_is_localised_and_rounds_half_up() -> None:
    fr = Money("1234.5", "EUR").format("fr_FR")
    assert "234,50" in fr
    assert "€" in fr
    # babel alone would round half-even (0.12); we show what we post.
    assert Money("0.125", "EUR").format("en_US") == "€0.13"
    assert Money("2.5", "JPY").format("ja_JP").endswith("3")
    assert "1,789" in Money("1.789", "EUR").format("de_DE", full_precision=True)
    assert str(Money("12.5", "EUR")) == "12.50 EUR"


# --- splits (M6) --------------------------------------------------------------------------


def test_split_examples() -> None:
    assert split(Money("100", "EUR"), [1, 1, 1]) == [
        Money("33.34", "EUR"),
        Money("33.33", "EUR"),
        Money("33.33", "EUR"),
    ]
    assert split(Money("-100", "EUR"), [1, 1, 1]) == [
        Money("-33.34", "EUR"),
        Money("-33.33", "EUR"),
        Money("-33.33", "EUR"),
    ]
    # 70/30 revenue share of 99.99 EUR: 69.993 / 29.997 -> the larger fraction (.7) wins.
    assert split(Money("99.99", "EUR"), [Decimal("70"), Decimal("30")]) == [
        Money("69.99", "EUR"),
        Money("30.00", "EUR"),
    ]
    assert split(Money("1000", "JPY"), [1, 0, 2]) == [
        Money("333", "JPY"),
        Money("0", "JPY"),
        Money("667", "JPY"),
    ]
    assert split(Money("0.010", "KWD"), [1, 1, 1]) == [
        Money("0.004", "KWD"),
        Money("0.003", "KWD"),
        Money("0.003", "KWD"),
    ]


def test_split_ties_go_to_the_smallest_key() -> None:
    parts = split(Money("0.05", "EUR"), [1, 0, 1, 1], keys=["b", "z", "a", "c"])
    assert parts == [
        Money("0.02", "EUR"),
        Money("0", "EUR"),
        Money("0.02", "EUR"),
        Money("0.01", "EUR"),
    ]
    # Without keys, the index breaks ties: the first parts get the extra units.
    assert allocate_evenly(Money("0.05", "EUR"), 3) == [
        Money("0.02", "EUR"),
        Money("0.02", "EUR"),
        Money("0.01", "EUR"),
    ]


def test_split_rounds_the_total_first() -> None:
    assert split(Money("0.125", "EUR"), [1, 1]) == [Money("0.07", "EUR"), Money("0.06", "EUR")]


@pytest.mark.parametrize(
    ("shares", "keys", "message"),
    [
        ([], None, "at least one share"),
        ([1, -1], None, "negative"),
        ([0, 0], None, "positive"),
        ([1, 1], ["a"], "keys"),
        ([1, 1], ["a", "a"], "unique"),
    ],
)
def test_split_refuses_bad_shares(shares: list[int], keys: list[str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split(Money("1", "EUR"), shares, keys)


def test_allocate_evenly_refuses_non_positive_counts() -> None:
    with pytest.raises(ValueError, match="positive"):
        allocate_evenly(Money("1", "EUR"), 0)


@given(amount=amounts, currency=currencies, shares=share_lists)
def test_m6_split_sums_exactly_and_each_part_is_within_one_unit(
    amount: Decimal, currency: str, shares: list[Decimal | int]
) -> None:
    total = Money(amount, currency)
    parts = split(total, shares)

    assert len(parts) == len(shares)
    assert all(p.currency == currency for p in parts)
    assert sum(parts, Money.zero(currency)) == total.rounded()

    whole = Fraction(total.rounded().amount)
    weight_sum = sum(Fraction(s) for s in shares)
    one_unit = Fraction(unit(currency))
    for part, share in zip(parts, shares, strict=True):
        exact = whole * Fraction(share) / weight_sum
        assert abs(Fraction(part.amount) - exact) < one_unit
        assert part.is_rounded()
        if share == 0:
            assert part.is_zero()
        # No part ever has the opposite sign of the whole.
        assert part.amount * total.rounded().amount >= 0


@given(amount=amounts, currency=currencies, shares=share_lists)
def test_split_is_symmetric_for_negative_totals(
    amount: Decimal, currency: str, shares: list[Decimal | int]
) -> None:
    total = Money(amount, currency)
    assert split(-total, shares) == [-p for p in split(total, shares)]


@given(
    amount=amounts,
    currency=currencies,
    shares=share_lists,
    data=st.data(),
)
def test_split_with_keys_does_not_depend_on_input_order(
    amount: Decimal, currency: str, shares: list[Decimal | int], data: st.DataObject
) -> None:
    keys = [f"driver-{i:03d}" for i in range(len(shares))]
    by_key = dict(zip(keys, split(Money(amount, currency), shares, keys), strict=True))
    order = data.draw(st.permutations(range(len(shares))))
    shuffled = split(Money(amount, currency), [shares[i] for i in order], [keys[i] for i in order])
    assert dict(zip([keys[i] for i in order], shuffled, strict=True)) == by_key


@given(amount=amounts, currency=currencies, n=st.integers(min_value=1, max_value=100))
def test_allocate_evenly_parts_differ_by_at_most_one_unit(
    amount: Decimal, currency: str, n: int
) -> None:
    total = Money(amount, currency)
    parts = allocate_evenly(total, n)
    assert sum(parts, Money.zero(currency)) == total.rounded()
    assert max(parts).amount - min(parts).amount <= unit(currency)
