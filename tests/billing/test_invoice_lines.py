"""Invoice lines always sum to the total, whatever the plan, usage, prorations, discount and
tax (hypothesis); each line is rounded to the minor unit; the tax is computed on the subtotal;
proration is the fee difference for the time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcore.billing.pricing import METRICS, PlanPrices, add_month, build_invoice, proration
from fleetcore.core.money import round_minor

money = st.decimals(min_value=0, max_value=100_000, places=4, allow_nan=False,
                    allow_infinity=False)
price = st.one_of(st.none(), st.decimals(min_value=0, max_value=50, places=4))
included = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000))
usage = st.decimals(min_value=0, max_value=1_000_000, places=3)
currency = st.sampled_from(["EUR", "KWD", "JPY", "USD"])


@st.composite
def plans(draw: st.DrawFn) -> PlanPrices:
    return PlanPrices(monthly_fee=draw(money), currency=draw(currency),
                      included={m: draw(included) for m in METRICS},
                      overage={m: draw(price) for m in METRICS})


@settings(max_examples=300, deadline=None)
@given(plan=plans(), used=st.fixed_dictionaries(dict.fromkeys(METRICS, usage)),
       prorations=st.lists(st.decimals(min_value=-5000, max_value=5000, places=4), max_size=3),
       discount=st.decimals(min_value=0, max_value=100, places=2),
       tax=st.decimals(min_value=0, max_value=Decimal("0.3"), places=4))
def test_lines_always_sum_to_the_total(plan: PlanPrices, used: dict[str, Decimal],
                                       prorations: list[Decimal], discount: Decimal,
                                       tax: Decimal) -> None:
    draft = build_invoice(plan, used, prorations=[("p", p) for p in prorations],
                          discount_pct=discount, tax_rate=tax)
    assert sum(line.amount for line in draft.lines) == draft.total
    assert draft.subtotal + draft.tax == draft.total
    for line in draft.lines:
        assert round_minor(line.amount, plan.currency) == line.amount
        if line.line_type in ("base", "overage"):
            assert line.amount >= 0
        if line.line_type == "discount":
            assert line.amount < 0
    # The tax is computed once on the subtotal, never summed from lines.
    expected_tax = round_minor(draft.subtotal * tax, plan.currency) if draft.subtotal > 0 else 0
    assert draft.tax == expected_tax
    assert [line.line_type for line in draft.lines].count("base") == 1


@settings(max_examples=200, deadline=None)
@given(old=money, new=money, days=st.integers(min_value=0, max_value=31),
       cur=currency)
def test_proration_is_the_fee_difference_for_the_time_left(old: Decimal, new: Decimal, days: int,
                                                          cur: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = add_month(start)
    amount = proration(old, new, cur, period_start=start, period_end=end,
                       at=start + timedelta(days=days))
    assert amount == round_minor((new - old) * Decimal(31 - days) / 31, cur)
    assert (amount >= 0) == (new >= old) or amount == 0


def test_overage_bills_only_beyond_what_is_included() -> None:
    plan = PlanPrices(Decimal("10"), "EUR", {"trips": 100, "distance_km": None},
                      {"trips": Decimal("0.05"), "distance_km": Decimal("1")})
    draft = build_invoice(plan, {"trips": Decimal(101), "distance_km": Decimal(500)})
    assert [(line.line_type, line.metric, line.amount) for line in draft.lines] == [
        ("base", None, Decimal("10.00")), ("overage", "trips", Decimal("0.05"))]
