"""Pure billing arithmetic: billing periods, proration, and invoice lines that sum to the total.

Every posted amount is rounded to the currency's minor unit (``ROUND_HALF_UP``) when it is
computed; the tax is computed once on the subtotal (``money.md``), never summed from lines, and
the total is the sum of the lines, so lines and total agree by construction.

Invoices are drafted in the database, by :data:`DRAFT_LINES_SQL` — the per-tenant path
(``service.draft_for``) and the hourly close (``closing``) alike, one source of truth.
:func:`build_invoice` is the same arithmetic in Python: the specification the property tests
hold the SQL to (``tests/billing/test_invoice_lines.py``: same lines, same amounts, to the
digit, for arbitrary plans, usage, prorations, discounts, taxes and currencies).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fleetcore.core.money import round_minor

__all__ = [
    "DRAFT_LINES_SQL",
    "METRICS",
    "InvoiceDraft",
    "LineDraft",
    "PlanPrices",
    "add_month",
    "build_invoice",
    "proration",
]

METRICS: tuple[str, ...] = ("active_vehicles", "active_drivers", "trips", "distance_km")
"""The usage metrics, in invoice order (``bil_tenant_usage_metrics.metric``)."""


def add_month(instant: datetime) -> datetime:
    """``instant`` one calendar month later, the day clamped to the month's end
    (Jan 31 → Feb 28)."""
    year, month0 = divmod(instant.year * 12 + instant.month, 12)  # month0: 0-based, next
    month = month0 + 1
    day = min(instant.day, calendar.monthrange(year, month)[1])
    return instant.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class PlanPrices:
    """What a plan version charges: the monthly fee, included quantities (None = unlimited)
    and overage unit prices (None = not billed) per metric."""

    monthly_fee: Decimal
    currency: str
    included: Mapping[str, int | None]
    overage: Mapping[str, Decimal | None]


@dataclass(frozen=True, slots=True)
class LineDraft:
    """One invoice line before it is stored (amount signed and already rounded)."""

    line_type: str
    description: str
    amount: Decimal
    metric: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """The lines of an invoice and the totals they make."""

    currency: str
    lines: tuple[LineDraft, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def proration(old_fee: Decimal, new_fee: Decimal, currency: str, *, period_start: datetime,
              period_end: datetime, at: datetime) -> Decimal:
    """The signed amount of switching from ``old_fee`` to ``new_fee`` at ``at`` within the
    period: the new fee for the time left minus the old fee for the time left (a credit when
    negative), rounded once."""
    if not period_start <= at <= period_end or period_end <= period_start:
        raise ValueError("the change must fall inside a non-empty period")
    left = Decimal((period_end - at).total_seconds()) / Decimal(
        (period_end - period_start).total_seconds())
    return round_minor((new_fee - old_fee) * left, currency)


def build_invoice(prices: PlanPrices, usage: Mapping[str, Decimal], *,
                  prorations: Sequence[tuple[str, Decimal]] = (),
                  discount_pct: Decimal = Decimal(0), tax_rate: Decimal = Decimal(0)
                  ) -> InvoiceDraft:
    """The lines of one period's invoice: the base fee, an overage line per metric used beyond
    what is included, the prorations carried into this invoice, a discount (``discount_pct``
    percent of base + overage, never below zero) and the tax on the subtotal (``tax_rate``, a
    fraction, on a positive subtotal only)."""
    if not Decimal(0) <= discount_pct <= Decimal(100):
        raise ValueError("discount_pct must be within 0..100")
    if tax_rate < 0:
        raise ValueError("tax_rate must not be negative")
    cur = prices.currency
    lines = [LineDraft("base", "Monthly subscription", round_minor(prices.monthly_fee, cur),
                       unit_price=prices.monthly_fee)]
    for metric in METRICS:
        unit = prices.overage.get(metric)
        included = prices.included.get(metric)
        used = usage.get(metric, Decimal(0))
        if unit is None or included is None or used <= included:
            continue
        extra = used - included
        lines.append(LineDraft("overage", f"Overage: {metric.replace('_', ' ')}",
                               round_minor(extra * unit, cur), metric=metric, quantity=extra,
                               unit_price=unit))
    charged = sum((line.amount for line in lines), Decimal(0))
    for description, amount in prorations:
        lines.append(LineDraft("proration", description, round_minor(amount, cur)))
    if discount_pct > 0 and charged > 0:
        discount = round_minor(charged * discount_pct / 100, cur)
        if discount:
            # "10", not normalize()'s "1E+1" (DRAFT_LINES_SQL writes trim_scale(10.00)).
            lines.append(LineDraft("discount", f"Discount {discount_pct.normalize():f}%",
                                   -discount))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax = round_minor(subtotal * tax_rate, cur) if subtotal > 0 else Decimal(0)
    if tax:
        lines.append(LineDraft("tax", "Tax", tax, unit_price=None))
    total = sum((line.amount for line in lines), Decimal(0))
    return InvoiceDraft(currency=cur, lines=tuple(lines), subtotal=subtotal, tax=tax, total=total)


DRAFT_LINES_SQL = """
charges AS (
    SELECT x.invoice_id, 0 AS n, 'base' AS line_type, 'Monthly subscription' AS description,
           CAST(NULL AS text) AS metric, CAST(1 AS numeric) AS quantity,
           x.monthly_fee AS unit_price, round(x.monthly_fee, x.e) AS amount
      FROM drafts x
    UNION ALL
    SELECT x.invoice_id, o.n, 'overage', 'Overage: ' || replace(o.metric, '_', ' '), o.metric,
           o.used - o.included, o.unit, round((o.used - o.included) * o.unit, x.e)
      FROM drafts x
     CROSS JOIN LATERAL (VALUES
           (1, 'active_vehicles', x.v, x.included_vehicles, x.overage_vehicle_price),
           (2, 'active_drivers', x.r, x.included_drivers, x.overage_driver_price),
           (3, 'trips', x.t, x.included_trips, x.overage_trip_price),
           (4, 'distance_km', x.k, x.included_km, x.overage_km_price))
           AS o(n, metric, used, included, unit)
     WHERE o.unit IS NOT NULL AND o.included IS NOT NULL AND o.used > o.included),
charged AS (SELECT invoice_id, sum(amount) AS amount FROM charges GROUP BY invoice_id),
credits AS (
    SELECT x.invoice_id, 10 + CAST(p.n AS int) AS n, 'proration' AS line_type,
           p.item ->> 'description' AS description, CAST(NULL AS text) AS metric,
           CAST(1 AS numeric) AS quantity, CAST(NULL AS numeric) AS unit_price,
           round(CAST(p.item ->> 'amount' AS numeric), x.e) AS amount
      FROM drafts x
     CROSS JOIN LATERAL jsonb_array_elements(
           CASE jsonb_typeof(x.prorations) WHEN 'array' THEN x.prorations ELSE '[]' END)
           WITH ORDINALITY AS p(item, n)
    UNION ALL
    SELECT x.invoice_id, 100, 'discount', 'Discount ' || trim_scale(x.discount_pct) || '%',
           NULL, 1, NULL, -round(c.amount * x.discount_pct / 100, x.e)
      FROM drafts x JOIN charged c ON c.invoice_id = x.invoice_id
     WHERE x.discount_pct > 0 AND c.amount > 0
       AND round(c.amount * x.discount_pct / 100, x.e) <> 0),
subtotals AS (
    SELECT x.invoice_id, sum(l.amount) AS subtotal
      FROM drafts x
      JOIN (SELECT invoice_id, amount FROM charges
            UNION ALL SELECT invoice_id, amount FROM credits) l ON l.invoice_id = x.invoice_id
     GROUP BY x.invoice_id),
taxes AS (
    SELECT x.invoice_id, s.subtotal,
           CASE WHEN s.subtotal > 0 THEN round(s.subtotal * CAST(:tax_rate AS numeric), x.e)
                ELSE 0 END AS tax
      FROM drafts x JOIN subtotals s ON s.invoice_id = x.invoice_id),
lines AS (
    SELECT * FROM charges
    UNION ALL SELECT * FROM credits
    UNION ALL
    SELECT invoice_id, 1000, 'tax', 'Tax', NULL, 1, NULL, tax FROM taxes WHERE tax <> 0)"""
"""The lines and totals of every row of a ``drafts`` CTE, as a CTE list to follow it: the
arithmetic of :func:`build_invoice`, in the same order — the base fee; an overage line per
metric used beyond what is included (quantity times unit price); the prorations carried in; a
discount of ``discount_pct`` percent of base + overage (when positive); the tax, once, on a
positive subtotal. Every amount is rounded half away from zero (``round`` on numeric, as
``ROUND_HALF_UP``) to the currency's minor unit when it is computed; the total is the sum of
the lines.

``drafts`` has: invoice_id, e (the currency's minor-unit exponent), monthly_fee, the four used
quantities (v, r, t, k), the plan's included quantities and overage prices, prorations
(jsonb), discount_pct; the statement binds ``:tax_rate``. It yields ``lines`` (invoice_id, n:
the line's position, then the columns of :class:`LineDraft`) and ``taxes`` (invoice_id,
subtotal, tax)."""
