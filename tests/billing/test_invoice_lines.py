"""Invoice lines always sum to the total, whatever the plan, usage, prorations, discount and
tax (hypothesis); each line is rounded to the minor unit; the tax is computed on the subtotal;
proration is the fee difference for the time left. Both billing paths draft in SQL
(``pricing.DRAFT_LINES_SQL``): the same lines and totals as ``build_invoice``, to the digit."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from fleetcore.billing.pricing import (
    DRAFT_LINES_SQL,
    METRICS,
    PlanPrices,
    add_month,
    build_invoice,
    proration,
)
from fleetcore.core.money import minor_unit_exponent, round_minor

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


# One draft as the close's ``drafts`` CTE has it, typed as the tables are (numeric(18,4)).
_SQL_DRAFT = text("""
WITH drafts AS (
    SELECT CAST(:invoice AS uuid) AS invoice_id, CAST(:e AS int) AS e,
           CAST(:fee AS numeric(18, 4)) AS monthly_fee,
           CAST(:v AS numeric(18, 4)) AS v, CAST(:r AS numeric(18, 4)) AS r,
           CAST(:t AS numeric(18, 4)) AS t, CAST(:k AS numeric(18, 4)) AS k,
           CAST(:inc_v AS int) AS included_vehicles, CAST(:inc_r AS int) AS included_drivers,
           CAST(:inc_t AS int) AS included_trips, CAST(:inc_k AS int) AS included_km,
           CAST(:ov_v AS numeric(18, 4)) AS overage_vehicle_price,
           CAST(:ov_r AS numeric(18, 4)) AS overage_driver_price,
           CAST(:ov_t AS numeric(18, 4)) AS overage_trip_price,
           CAST(:ov_k AS numeric(18, 4)) AS overage_km_price,
           CAST(:prorations AS jsonb) AS prorations,
           CAST(:discount AS numeric) AS discount_pct),
""" + DRAFT_LINES_SQL + """
SELECT 'line' AS kind, n, line_type, description, metric, quantity, unit_price, amount
  FROM lines
UNION ALL
SELECT 'totals', NULL, NULL, NULL, NULL, NULL, subtotal, tax FROM taxes
 ORDER BY kind, n""")

_KEYS = {"active_vehicles": "v", "active_drivers": "r", "trips": "t", "distance_km": "k"}


@settings(max_examples=150, deadline=None)
@given(plan=plans(), used=st.fixed_dictionaries(dict.fromkeys(METRICS, usage)),
       prorations=st.lists(st.decimals(min_value=-5000, max_value=5000, places=4), max_size=3),
       discount=st.decimals(min_value=0, max_value=100, places=2),
       tax=st.decimals(min_value=0, max_value=Decimal("0.3"), places=4))
def test_the_close_drafts_in_sql_what_build_invoice_drafts(
    app_engine: Engine, plan: PlanPrices, used: dict[str, Decimal], prorations: list[Decimal],
    discount: Decimal, tax: Decimal,
) -> None:
    draft = build_invoice(plan, used, prorations=[(f"p{n}", p) for n, p in enumerate(prorations)],
                          discount_pct=discount, tax_rate=tax)
    params: dict[str, object] = {
        "invoice": uuid.uuid4(), "e": minor_unit_exponent(plan.currency),
        "fee": plan.monthly_fee, "tax_rate": tax, "discount": discount,
        "prorations": json.dumps([{"description": f"p{n}", "amount": str(p)}
                                  for n, p in enumerate(prorations)])}
    for metric, key in _KEYS.items():
        params[key] = used[metric]
        params[f"inc_{key}"] = plan.included[metric]
        params[f"ov_{key}"] = plan.overage[metric]
    with app_engine.connect() as conn:
        rows = conn.execute(_SQL_DRAFT, params).all()
    *lines, (_, _, _, _, _, _, subtotal, tax_amount) = rows
    assert [(r.line_type, r.description, r.metric, r.quantity, r.unit_price, r.amount)
            for r in lines] == [
        (line.line_type, line.description, line.metric, line.quantity, line.unit_price,
         line.amount) for line in draft.lines]
    assert (subtotal, tax_amount) == (draft.subtotal, draft.tax)
    assert sum(r.amount for r in lines) == draft.total
