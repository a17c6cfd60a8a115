"""Request and response models of the revenue imports API.

The import summary is the preview a user reads before committing: counts, one entry per
platform account found in the file (``driver_id`` null while the account is not linked to a
driver), and the row errors (``row`` is the line number in the file, the header being line 1).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetcore.core.schemas import MoneyOut
from fleetcore.revenue.models import ImportStatus, ReportType, RevenueImport
from fleetcore.revenue.reports.limits import clip

MAX_TEXT = 200
"""Characters shown of any text that comes from a file (summaries written before texts were
bounded at write time included)."""

LIST_ERRORS = 20
LIST_ACCOUNTS = 100
LIST_COLUMNS = 100
"""Row errors and accounts an import shows in a list (``GET /v1/revenue-imports``); one import
(``GET /v1/revenue-imports/{id}``) shows what its summary keeps (1,000 errors, 1,000 accounts),
and ``errors.csv`` every error."""

_EXAMPLE_ID = "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d04"


IMPORT_EXAMPLE: dict[str, Any] = {
    "id": _EXAMPLE_ID, "platform": "uber",
    "platform_id": "0194f3a2-7c1e-7b4a-9d2f-3e5a6b7c8d02",
    "report_type": "payments_order", "status": "validated",
    "file_name": "2026-11-16-payments_order.csv",
    "sha256": "9b74c9897bac770ffc029102a200c5de0b2c1bdc6a4c5fbd1c8e1e3e2f6d2a11",
    "size_bytes": 18342, "period_start": "2026-11-15T23:00:00Z",
    "period_end": "2026-11-22T23:00:00Z", "rows_total": 104, "rows_valid": 102,
    "rows_rejected": 2, "rows_duplicate": 1,
    "accounts": [{"platform_account": "9f8e2c1a-4b3d-4e5f-8a7b-6c5d4e3f2a1b",
                  "name": "Karim Benali", "rows": 52,
                  "earnings": {"amount": "812.40", "currency": "EUR"},
                  "cash_collected": {"amount": "120.00", "currency": "EUR"},
                  "payout": {"amount": "692.40", "currency": "EUR"}, "currency": "EUR",
                  "driver_id": None}],
    "accounts_total": 1, "unknown_accounts": 1,
    "errors": [{"row": 17, "column": "Paid to you", "value": "12,3,4",
                "reason": "not a number"},
               {"row": 58, "column": "external_transaction_id",
                "value": "5d1c0a6e-2f4b-4c3d-9e8f-7a6b5c4d3e2f",
                "reason": "duplicate of row 57"}],
    "errors_total": 2, "errors_csv": f"/v1/revenue-imports/{_EXAMPLE_ID}/errors.csv",
    "unknown_columns": ["Paid to you:Your earnings:Fare:Moon surcharge"],
    "trips": None, "currency": "EUR", "currency_source": "fleet", "period_source": "file",
    "replaces": [], "locale": "en", "encoding": "utf-8-sig",
    "delimiter": ",", "started_at": "2026-11-23T09:00:00Z",
    "validated_at": "2026-11-23T09:00:02Z", "committed_at": None, "rolled_back_at": None,
    "created_at": "2026-11-23T09:00:00Z", "version": 2}


class ImportAccount(BaseModel):
    """One platform account of the report and what its rows add up to."""

    platform_account: str | None = Field(description=(
        "The platform's driver identifier as in the file (normalised): Uber Driver UUID, "
        "Bolt phone (E.164) or e-mail."))
    name: str | None = Field(description="The driver's name as the file spells it.")
    rows: int
    earnings: MoneyOut | None = Field(description="Earnings after the platform's fee.")
    cash_collected: MoneyOut | None = Field(description="Cash taken from riders (positive).")
    payout: MoneyOut | None = Field(description="What the platform transfers (signed).")
    currency: str | None
    driver_id: uuid.UUID | None = Field(description="Null until the account is linked.")
    conflict: str | None = Field(default=None, description=(
        "Set when the rows name their driver twice (Bolt: phone and e-mail) and the two "
        "identifiers are the accounts of different drivers: the rows wait, unassigned, until "
        "the accounts are corrected and the import validated again."))


class RowErrorOut(BaseModel):
    """One rejected cell or row."""

    row: int = Field(description="Line number in the file; the header is line 1.")
    column: str | None
    value: str | None
    reason: str


class TripCounts(BaseModel):
    created: int
    updated: int
    unchanged: int


class ImportOut(BaseModel):
    """A report import: its state and its preview."""

    model_config = ConfigDict(json_schema_extra={"examples": [IMPORT_EXAMPLE]})

    id: uuid.UUID
    platform: str | None
    platform_id: uuid.UUID | None
    report_type: ReportType | None
    status: ImportStatus
    file_name: str
    sha256: str
    size_bytes: int
    period_start: datetime | None
    period_end: datetime | None
    rows_total: int
    rows_valid: int
    rows_rejected: int
    rows_duplicate: int
    accounts: list[ImportAccount] = Field(description=(
        "The platform accounts of the report (the first 100 in a list of imports, the first "
        "1,000 in one import)."))
    accounts_total: int = Field(description="How many platform accounts the report has.")
    unknown_accounts: int
    errors: list[RowErrorOut] = Field(description=(
        "The first row errors (20 in a list of imports, 1,000 in one import; every one in "
        "`errors_csv`). Texts from the file are cut to 200 characters."))
    errors_total: int
    errors_csv: str
    unknown_columns: list[str]
    trips: TripCounts | None
    currency: str | None
    currency_source: Literal["file", "given", "fleet"] | None = Field(description=(
        "Where the currency came from: the file's own (header suffixes or a currency column), "
        "the one given with the upload, or the fleet's default currency for a file that states "
        "none (Uber's CSVs)."))
    period_source: Literal["file", "period_start", "file name"] | None = Field(description=(
        "Where the period came from: the dates in the file, the `period_start` given with the "
        "upload, or the download's name (`20261116-20261123-payments_driver-….csv`) for a "
        "weekly summary, which has no dates."))
    replaces: list[uuid.UUID] = Field(default_factory=list, description=(
        "The earlier previews of the same file that this upload replaced (deleted)."))
    locale: str | None
    encoding: str | None
    delimiter: str | None
    started_at: datetime | None
    validated_at: datetime | None
    committed_at: datetime | None
    rolled_back_at: datetime | None
    created_at: datetime
    version: int

    @classmethod
    def of(cls, imp: RevenueImport, platform_code: str | None, *,
           listed: bool = False) -> ImportOut:
        """The API form of an import row (``listed``: the shorter form of a list page)."""
        summary: dict[str, Any] = imp.summary or {}
        accounts = list(summary.get("accounts", []))
        errors = list(summary.get("errors", []))
        if listed:
            accounts, errors = accounts[:LIST_ACCOUNTS], errors[:LIST_ERRORS]
        return cls(
            id=imp.id, platform=platform_code, platform_id=imp.platform_id,
            report_type=ReportType(imp.report_type) if imp.report_type else None,
            status=ImportStatus(imp.status), file_name=imp.file_name, sha256=imp.sha256,
            size_bytes=imp.size_bytes, period_start=imp.period_start,
            period_end=imp.period_end, rows_total=imp.rows_total, rows_valid=imp.rows_valid,
            rows_rejected=imp.rows_invalid, rows_duplicate=imp.rows_duplicate,
            accounts=[ImportAccount.model_validate(
                _clipped(a, ("platform_account", "name", "conflict"))) for a in accounts],
            accounts_total=int(summary.get("accounts_total", len(summary.get("accounts", [])))),
            unknown_accounts=int(summary.get("unknown_accounts", 0)),
            errors=[RowErrorOut.model_validate(_clipped(e, ("column", "value", "reason")))
                    for e in errors],
            errors_total=int(summary.get("errors_total", 0)),
            errors_csv=f"/v1/revenue-imports/{imp.id}/errors.csv",
            unknown_columns=[str(clip(str(c), MAX_TEXT)) for c in
                             list(summary.get("unknown_columns", []))[:LIST_COLUMNS]],
            trips=TripCounts.model_validate(summary["trips"]) if summary.get("trips") else None,
            currency=summary.get("currency"), currency_source=summary.get("currency_source"),
            period_source=summary.get("period_source"),
            replaces=[uuid.UUID(i) for i in summary.get("replaces", [])],
            locale=imp.locale, encoding=imp.encoding,
            delimiter=imp.delimiter, started_at=imp.started_at, validated_at=imp.validated_at,
            committed_at=imp.committed_at, rolled_back_at=imp.rolled_back_at,
            created_at=imp.created_at, version=imp.version,
        )


def _clipped(entry: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {**entry, **{k: clip(entry[k], MAX_TEXT) for k in keys
                        if isinstance(entry.get(k), str)}}


class ImportUploadOut(BaseModel):
    """The imports an upload created: one, or one per report inside a zip."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"imports": [IMPORT_EXAMPLE]}]})

    imports: list[ImportOut]
