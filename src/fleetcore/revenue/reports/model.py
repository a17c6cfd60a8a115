"""What reading a platform report produces: the contract between the report readers
(``fleetcore.revenue.reports``) and the import pipeline (``fleetcore.revenue.service``).

A reader turns one file (CSV, XLSX, Bolt orders JSON; a zip gives one per member) into a
:class:`ParsedReport`: one row per data line of the file in a polars DataFrame with the
canonical columns below, every value already normalised *by meaning* (cash collected and
commission as positive magnitudes, identifiers normalised so they compare by equality), plus
the row-level errors it found. The pipeline then stages the frame with ``COPY`` and does the
checks that need the database (known driver, duplicates against committed data) in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

MONEY = pl.Decimal(18, 4)
UTC_TIME = pl.Datetime("us", "UTC")

CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    # Line number in the source file, the header being line 1 (what row errors quote).
    "row_number": pl.Int64(),
    # The file the row comes from (the member's name inside a zip).
    "source": pl.String(),
    # The platform's driver identifier, normalised: lower-case Uber Driver UUID, E.164 phone
    # or lower-case email (Bolt weekly files have no id). NULL when the row has none.
    "platform_account_ref": pl.String(),
    # "uuid" | "phone" | "email" | "other" (trp_platform_accounts.external_account_kind).
    "account_kind": pl.String(),
    # A second identifier of the same driver in the row, normalised like the first (Bolt
    # weekly: the e-mail beside the phone), so an account registered by either matches.
    "platform_account_alt": pl.String(),
    # The driver's name as the file spells it: shown to the user, never used to match.
    "account_name": pl.String(),
    "external_trip_id": pl.String(),
    "external_transaction_id": pl.String(),
    # When the platform says the row happened (Uber "vs reporting", Bolt timestamps), UTC.
    "occurred_at": UTC_TIME,
    # The platform's row description, lower-case ("trip completed order", ...).
    "description": pl.String(),
    # Money, normalised by meaning (see docs/imports.md):
    # the driver's earnings after the platform's fee (Uber "Your earnings", Bolt "Net earnings")
    "earnings": MONEY,
    # what the rider paid for the ride before the platform's fee (fare + surge + booking ...)
    "fare_gross": MONEY,
    # the platform's fee, positive
    "commission": MONEY,
    "tip": MONEY,
    # toll refunds paid by the platform to the driver
    "tolls": MONEY,
    # cash the driver took from riders, positive
    "cash_collected": MONEY,
    # what the platform transfers (Uber "Paid to you", Bolt "Projected payout"), signed
    "payout": MONEY,
    "promotions": MONEY,
    # everything else that changes the driver's earnings (fare adjustments, other), signed
    "adjustments": MONEY,
    # ISO 4217, from a currency column or the header suffix (|€) or the caller
    "currency": pl.String(),
    # Trip facts (trip activity reports, Bolt orders).
    "requested_at": UTC_TIME,
    "started_at": UTC_TIME,
    "ended_at": UTC_TIME,
    "distance_km": pl.Decimal(10, 3),
    "duration_s": pl.Int64(),
    "service_type": pl.String(),
    # trp_trips.status values: completed, cancelled_by_driver, cancelled_by_rider, no_show
    "trip_status": pl.String(),
    # trp_trips.payment_method values: cash, card, wallet
    "payment_method": pl.String(),
    "vehicle_plate": pl.String(),
    # Columns the mapping does not know: a JSON object {header: raw value}, "{}" when none.
    "extra": pl.String(),
    # False when the row has at least one error in ``ParsedReport.errors``.
    "valid": pl.Boolean(),
}
"""Every reader returns exactly these columns, in this order, with these types."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one cell (or the whole row when ``column`` is None)."""

    row: int
    column: str | None
    value: str | None
    reason: str


class UnreadableReport(ValueError):  # noqa: N818 - reads as what it is
    """The file cannot be read as a whole (undecodable, no known header, a required column
    missing, empty): refused with one clear reason, no rows."""

    def __init__(self, reason: str, *, source: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.source = source


class ReportTooLarge(UnreadableReport):
    """The file, a zip member or everything a zip inflates to is over its size limit
    (``fleetcore.revenue.reports.limits``): refused before it is read any further."""


@dataclass(slots=True)
class ParsedReport:
    """One report file read and normalised."""

    source: str
    platform: str  # dir_platforms.code: "uber" | "bolt"
    report_type: str  # fleetcore.revenue.models.ReportType value
    rows: pl.DataFrame  # CANONICAL_SCHEMA
    errors: list[RowError] = field(default_factory=list)
    # Headers kept as extra columns (reported in the import summary, never fatal).
    unknown_columns: list[str] = field(default_factory=list)
    # How the file was read, detected (never guessed silently).
    locale: str | None = None  # "en", "fr", "pt"
    encoding: str | None = None  # "utf-8-sig", "utf-8", "cp1252"
    delimiter: str | None = None
    decimal_comma: bool = False
    # Where the currency came from: "file" (header suffixes or a currency column), "given"
    # (the caller's), "fleet" (the fleet's own, for a file that states none); None: no money.
    currency_source: str | None = None
    # First and last occurred_at, when the report has dates (weekly summaries have none).
    period_start: datetime | None = None
    period_end: datetime | None = None
    # Canonical field → the file's header that feeds it, so an error found later (in the
    # database) names the column as the user sees it.
    headers: dict[str, str] = field(default_factory=dict)
    # A report read in batches (``read_report(..., batches=True)``): ``rows`` stays empty and
    # ``stream()`` yields the rows in bounded batches (CANONICAL_SCHEMA), adding each batch's
    # row errors to ``errors`` and its dates to the period as it goes. Rows that repeat the
    # ``unique`` field are not found there (they may be batches apart): ``repeats`` says, once
    # the stream is read, whether any may (their hashes repeat).
    stream: Callable[[], Iterator[pl.DataFrame]] | None = None
    unique: str | None = None
    repeats: bool = False

    def header_of(self, canonical: str) -> str:
        """The file's header for a canonical field (the field's name when no header feeds it)."""
        return self.headers.get(canonical, canonical)

    @property
    def rows_total(self) -> int:
        """Data rows in the file."""
        return self.rows.height
