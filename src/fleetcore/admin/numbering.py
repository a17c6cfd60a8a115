"""Gapless document numbers per tenant and series (money.md "Invoices and usage").

A number is taken in the transaction that finalises the document, by one ``UPDATE …
RETURNING`` on the series' ``adm_number_sequences`` row: the row stays locked until that
transaction ends, so concurrent finalisations of one series run one after the other, and a
finalisation that rolls back rolls its increment back with it — no number is skipped, none is
given twice. Drafts never take a number.

Series are per tenant and year (``client_invoice_2026``, ``self_billing_2026``): numbers start
again at 1 each year and print with their series' prefix, e.g. ``AF-2026-000042``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["TakenNumbers", "format_number", "lock_series", "take_numbers", "yearly_series"]


def yearly_series(name: str, year: int) -> str:
    """The series of ``name`` for ``year`` (``client_invoice`` → ``client_invoice_2026``)."""
    return f"{name}_{year:04d}"


def format_number(prefix: str, value: int, padding: int) -> str:
    """``prefix`` then ``value`` zero-padded to ``padding`` digits."""
    return f"{prefix}{value:0{padding}d}"


@dataclass(frozen=True, slots=True)
class TakenNumbers:
    """``count`` consecutive numbers of a series, the first being ``first``."""

    series: str
    prefix: str
    padding: int
    first: int
    count: int

    def formatted(self) -> list[str]:
        """The numbers as printed, in order."""
        return [format_number(self.prefix, self.first + n, self.padding)
                for n in range(self.count)]


def take_numbers(
    session: Session, tenant_id: uuid.UUID, series: str, count: int = 1, *, prefix: str = "",
    padding: int = 6,
) -> TakenNumbers:
    """Take the next ``count`` numbers of ``series`` in the session's transaction.

    The series is created on first use (``prefix`` and ``padding`` apply then; an existing
    series keeps its own). The row is locked until the transaction ends.
    """
    if count < 1:
        raise ValueError("take at least one number")
    _ensure(session, tenant_id, series, prefix, padding)
    row = session.execute(text("""
        UPDATE adm_number_sequences SET next_value = next_value + :n
         WHERE tenant_id = :t AND series = :series
        RETURNING next_value - :n AS first, prefix, padding"""),
        {"t": tenant_id, "series": series, "n": count}).one()
    return TakenNumbers(series=series, prefix=row.prefix, padding=row.padding,
                        first=int(row.first), count=count)


def _ensure(session: Session, tenant_id: uuid.UUID, series: str, prefix: str,
            padding: int) -> None:
    session.execute(text("""
        INSERT INTO adm_number_sequences (tenant_id, id, series, prefix, next_value, padding)
        VALUES (:t, gen_random_uuid(), :series, :prefix, 1, :padding)
        ON CONFLICT (tenant_id, series) DO NOTHING"""),
        {"t": tenant_id, "series": series, "prefix": prefix, "padding": padding})


def lock_series(session: Session, tenant_id: uuid.UUID, series: str, *, prefix: str = "",
                padding: int = 6) -> None:
    """Lock ``series`` (created on first use) until the transaction ends, taking no number:
    a caller that must decide *how many* numbers it needs under the lock takes it first."""
    _ensure(session, tenant_id, series, prefix, padding)
    session.execute(text("SELECT 1 FROM adm_number_sequences WHERE tenant_id = :t"
                         " AND series = :series FOR UPDATE"), {"t": tenant_id, "series": series})
