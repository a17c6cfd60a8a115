"""Platform report imports: upload → validate (the preview) → commit → roll back.

How an import runs (``docs/imports.md`` tells the user's side):

1. ``fleetcore.revenue.reports.read_report`` parses the file into canonical columns (polars,
   vectorised; a zip gives one report per member, each its own import).
2. The frame is ``COPY``-ed into a temporary staging table (PostgreSQL refuses ``COPY FROM``
   into tables under row-level security; the staging table has none and dies with the
   transaction), and everything that needs the database is checked set-based in SQL: the
   platform account of each row (through ``trp_platform_accounts``, never by name), duplicates
   inside the file and against committed imports, trip amounts and times the trips table would
   refuse, one currency per report.
3. The preview (counts, ``accounts[]``, ``errors[]``, unknown columns) is stored on the import,
   the row errors as a CSV in the storage backend. Nothing else is written: staging is gone at
   the end of the request, and the raw file is kept so commit can re-read it.
4. Commit re-reads and re-validates the file in its transaction (links or other imports may have
   changed since the preview), then writes, set-based: ``rev_import_rows``, trips upserted by
   (platform, external trip id) with unchanged rows skipped, and the driver revenues of every
   (driver, week) the rows touch. All of it or nothing: one transaction.
5. Rollback removes what commit wrote, while no confirmed settlement covers the period or
   consumed its rows, and rebuilds the draft settlements its rows fed, in the same transaction.

Each platform transaction counts once: committed rows carry their ``transaction_key``, unique per
tenant and platform in the database, so two imports of the same transactions committed at the
same moment cannot both count (``docs/decisions/0006-money-settled-once.md``).

Amounts are never added in Python: sums happen in SQL on ``numeric``.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import polars as pl
import psycopg
from psycopg import sql
from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.db import ActorType
from fleetcore.core.errors import Conflict, NotFound, Problem, ValidationProblem
from fleetcore.core.export import csv_cell, csv_line
from fleetcore.core.money import Money
from fleetcore.core.orm import UUID7_SQL, uuid7_prefix, uuid7_series_sql
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.periods import period_containing, period_of_week
from fleetcore.core.versioning import check_if_match, refresh_version
from fleetcore.documents.storage import (
    DocumentStorage,
    LocalStorage,
    StorageError,
    StoredObjectMissing,
    delete_after_commit,
)
from fleetcore.reference.models import Platform
from fleetcore.revenue.models import (
    MONEY_PRECEDENCE,
    ImportStatus,
    ReportType,
    RevenueImport,
    money_precedence_sql,
)
from fleetcore.revenue.reports import (
    CANONICAL_SCHEMA,
    ParsedReport,
    ReportTooLarge,
    RowError,
    UnreadableReport,
    limits,
    read_report,
    zip_member,
)
from fleetcore.trips.models import PlatformAccount
from fleetcore.trips.settlement_service import hold_drafts_fed_by_import, recompute_held_drafts

SUMMARY_TYPES = frozenset({ReportType.PAYMENTS_DRIVER.value, ReportType.BOLT_WEEKLY.value})
"""Weekly per-driver totals: no dates in the file, the period is given by the user."""

MAX_ERRORS_IN_SUMMARY = 1000
"""Row errors kept in the import's summary; all of them are in the downloadable CSV."""

MAX_TEXT_IN_SUMMARY = 200
"""Characters kept of any text taken from a file into the summary (account names, cell values,
column names): a list of imports never carries more than this per text, whatever the file."""

MAX_ACCOUNTS_IN_SUMMARY = 1000
"""Platform accounts listed in the import's summary (``accounts_total`` counts them all)."""

MAX_UNKNOWN_COLUMNS_IN_SUMMARY = 100

Progress = Callable[[str, int], None]
"""Progress of a long import: ``("read", percent)`` while the file is parsed, then
``("stage", rows)`` as rows are copied into staging (CLI progress bar)."""

_SQL_TYPES: dict[str, str] = {
    "row_number": "bigint", "duration_s": "bigint", "distance_km": "numeric(10,3)",
    "valid": "boolean", "extra": "jsonb",
}


def _sql_type(name: str, dtype: pl.DataType) -> str:
    if name in _SQL_TYPES:
        return _SQL_TYPES[name]
    if isinstance(dtype, pl.Datetime):
        return "timestamptz"
    if isinstance(dtype, pl.Decimal):
        return "numeric(18,4)"
    return "text"


# Which columns identify "the same row" per report type, for duplicate detection.
_DUPLICATE_KEY: dict[str, str] = {
    ReportType.PAYMENTS_ORDER.value: "external_transaction_id",
    ReportType.TRIP_ACTIVITY.value: "external_trip_id",
    ReportType.BOLT_ORDERS.value: "external_trip_id",
    ReportType.PAYMENTS_DRIVER.value: "platform_account_ref",
    ReportType.BOLT_WEEKLY.value: "platform_account_ref",
}


def _transaction_key_sql(report_type: str, row: str) -> str | None:
    """SQL of what ``rev_import_rows.transaction_key`` holds for a staged row (alias ``row``):
    the identity of the money it carries, unique per tenant and platform (decision 0006) — the
    transaction id, Bolt's order reference, or ``week:<week start, UTC>:<account>`` for a
    weekly summary (one total per account and week, whatever the file). None for reports that
    carry no money (trip activity). Reads ``%(period_start)s``, the import's week."""
    if report_type in SUMMARY_TYPES:
        return ("'week:' || to_char(CAST(%(period_start)s AS timestamptz) AT TIME ZONE 'UTC',"
                f" 'YYYY-MM-DD\"T\"HH24:MI\"Z\"') || ':' || {row}.platform_account_ref")
    if report_type not in MONEY_PRECEDENCE:
        return None
    return f"{row}.{_DUPLICATE_KEY[report_type]}"


@contextmanager
def _each_transaction_once(imp: RevenueImport) -> Iterator[None]:
    """Turn the unique transaction key's refusal (a concurrent commit of the same transactions
    won the race) into a 409: validated again, this import shows them as duplicates."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "uq_rev_import_rows_transaction_key":
            raise
        raise TransactionsCommittedMeanwhile(
            "Another import committed some of these platform transactions while this one was "
            "being committed; nothing of this import was written. Validate it again: those "
            "rows show as already imported.", import_id=str(imp.id)) from exc


# Rows that describe a trip itself (and so create or update ``trp_trips``). In Uber's
# per-transaction report the trip is the "trip completed order" row; tips and fare adjustments
# of a trip (possibly an older one) stay report rows, settled as what they are.
_TRIP_ROW: dict[str, str] = {
    ReportType.PAYMENTS_ORDER.value: (
        "s.external_trip_id IS NOT NULL AND (s.description IS NULL"
        " OR strpos(s.description, 'complete') > 0)"),
    ReportType.TRIP_ACTIVITY.value: "s.external_trip_id IS NOT NULL",
    ReportType.BOLT_ORDERS.value: "s.external_trip_id IS NOT NULL",
}

_MONEY_COLUMNS = ("earnings", "fare_gross", "commission", "tip", "tolls", "cash_collected",
                  "payout", "promotions", "adjustments")


class UnreadableImport(ValidationProblem):
    """The file cannot be read as a whole: one clear reason, nothing recorded."""

    slug, title = "unreadable-report", "The report cannot be read"


class ImportTooLarge(Problem):
    """The file, or what a zip inflates to, is over a size limit (``reports.limits``)."""

    status, slug, title = 413, "report-too-large", "The report file is too large"


class DuplicateImport(Conflict):
    """The same file (sha256) is already validated or committed."""

    slug, title = "duplicate-import", "This report was already imported"


class TransactionsCommittedMeanwhile(Conflict):
    """Another import committed some of the same platform transactions at the same moment."""

    slug, title = "transactions-already-imported", "These transactions were just imported"


@dataclass(frozen=True, slots=True)
class ImportUpload:
    """One uploaded report file and what the user said about it."""

    file_name: str
    # The file's bytes, or its path (a spooled upload, the CLI's file): read from disk in
    # bounded batches, never held whole.
    data: bytes | Path
    platform: str | None = None
    report_type: str | None = None
    currency: str | None = None
    # Any day of the week a weekly summary covers (those files carry no dates).
    period_start: date | None = None
    # "." or ",": settles a file whose amounts cannot show their decimal mark.
    decimal_mark: str | None = None


@dataclass(slots=True)
class _Outcome:
    """What validating a staged report found (kept in ``RevenueImport.summary``)."""

    rows_total: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    currency: str | None = None


@contextmanager
def _timed(timings: dict[str, int], phase: str) -> Iterator[None]:
    """Add the phase's wall time (ms) to ``timings``: kept in the summary, so a slow import
    says where its time went."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0) + round((time.perf_counter() - started) * 1000)


# --- small lookups -----------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _field_error(name: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": name, "message": message}])


def _tenant_zone(session: Session, tenant_id: uuid.UUID) -> tuple[str, str]:
    timezone, country, _ = _tenant_defaults(session, tenant_id)
    return timezone, country


def _tenant_defaults(session: Session, tenant_id: uuid.UUID) -> tuple[str, str, str]:
    """The fleet's time zone, country and currency: what a report that does not say its own
    is read with."""
    row = session.execute(select(Tenant.timezone, Tenant.country, Tenant.default_currency)
                          .where(Tenant.id == tenant_id)).one_or_none()
    if row is None:
        raise NotFound("No tenant is open.")
    return str(row[0]), str(row[1]), str(row[2])


def _platform_by_code(session: Session, code: str) -> Platform:
    platform = session.scalar(select(Platform).where(Platform.code == code))
    if platform is None:
        raise _field_error("platform", f"No platform with the code {code!r}.")
    return platform


def _platform_code(session: Session, platform_id: uuid.UUID) -> str:
    code = session.scalar(select(Platform.code).where(Platform.id == platform_id))
    if code is None:
        raise NotFound("No such platform.")
    return code


def _raw(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session (for COPY), in the session's transaction."""
    session.flush()
    return cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)


def _importer(actor: Actor) -> uuid.UUID | None:
    return actor.id if actor.type is ActorType.MEMBER else None


# --- reading -----------------------------------------------------------------------------------


def _read(upload: ImportUpload, country: str, timezone: str,
          progress: Progress | None = None, *,
          fleet_currency: str | None = None) -> list[ParsedReport]:
    def reading(percent: int) -> None:
        if progress is not None:
            progress("read", percent)

    try:
        return read_report(upload.data, upload.file_name, platform=upload.platform,
                           report_type=upload.report_type, currency=upload.currency,
                           fleet_currency=fleet_currency,
                           default_region=country, timezone=timezone,
                           decimal_mark=upload.decimal_mark, progress=reading, batches=True)
    except UnreadableReport as exc:
        raise _unreadable(exc, upload.file_name) from exc


def _unreadable(exc: UnreadableReport, file_name: str) -> Problem:
    where = f" ({exc.source})" if exc.source and exc.source != file_name else ""
    problem = ImportTooLarge if isinstance(exc, ReportTooLarge) else UnreadableImport
    return problem(f"{exc.reason}{where}", errors=[{"field": "file", "message": exc.reason}])


def read_upload(stream: BinaryIO) -> bytes:
    """An uploaded file's bytes, for a reader that needs them whole (toll and charge
    statements), read no further than ``MAX_MEMBER_BYTES`` (413 beyond). A report is spooled
    to disk instead (:func:`spooled_upload`)."""
    data = stream.read(limits.MAX_MEMBER_BYTES + 1)
    if len(data) > limits.MAX_MEMBER_BYTES:
        raise _too_large_upload(limits.MAX_MEMBER_BYTES)
    return data


@contextmanager
def spooled_upload(stream: BinaryIO) -> Iterator[Path]:
    """An uploaded report copied to a temporary file in chunks, no further than
    ``MAX_UPLOAD_BYTES`` (413 beyond), removed afterwards: the import reads it from disk in
    bounded batches, so a large report never sits in memory."""
    with tempfile.TemporaryDirectory(prefix="fleetcore-upload-") as folder:
        path = Path(folder) / "report"
        size = 0
        with path.open("wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > limits.MAX_UPLOAD_BYTES:
                    raise _too_large_upload()
                out.write(chunk)
        yield path


def _size(body: bytes | Path) -> int:
    return len(body) if isinstance(body, bytes) else body.stat().st_size


def _sha256(body: bytes | Path) -> str:
    if isinstance(body, bytes):
        return hashlib.sha256(body).hexdigest()
    digest = hashlib.sha256()
    with body.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _put(storage: DocumentStorage, key: str, body: bytes | Path) -> str:
    if isinstance(body, bytes):
        return storage.put(key, io.BytesIO(body), "application/octet-stream")
    with body.open("rb") as handle:
        return storage.put(key, handle, "application/octet-stream")


def _too_large_upload(limit: int | None = None) -> ImportTooLarge:
    size = limits.size_text(limits.MAX_UPLOAD_BYTES if limit is None else limit)
    return ImportTooLarge(f"The file is larger than {size}.",
                          errors=[{"field": "file", "message": f"the file is larger than {size}"}])


def _member_bytes(upload: ImportUpload, source: str) -> bytes | Path:
    """The bytes of one report: the upload itself, or the zip member it came from."""
    data = upload.data
    if source == upload.file_name or not zipfile.is_zipfile(
            io.BytesIO(data) if isinstance(data, bytes) else data):
        return data
    try:
        return zip_member(data, source)
    except UnreadableReport as exc:
        raise _unreadable(exc, upload.file_name) from exc


_NAMED_PERIOD = re.compile(r"(?:^|[/\\])(\d{8})-(\d{8})-[^/\\]*$")
"""Uber names its downloads ``20251103-20251110-payments_driver-<org>.csv``: start and end."""


def _period_from_name(name: str) -> date | None:
    """The first day of the week a download's name gives (``YYYYMMDD-YYYYMMDD-…``), or None
    when the name has no such prefix. A span that is not one week is refused."""
    match = _NAMED_PERIOD.search(name)
    if match is None:
        return None
    try:
        first = datetime.strptime(match.group(1), "%Y%m%d").date()
        last = datetime.strptime(match.group(2), "%Y%m%d").date()
    except ValueError:
        return None
    if not 0 < (last - first).days <= 7:
        raise _field_error(
            "period_start",
            f"The file name {_clean_name(name)!r} spans {match.group(1)}-{match.group(2)}, not one"
            " week: give any day of the week it covers (period_start).")
    return first


def _period(parsed: ParsedReport, upload_period: date | None,
            timezone: str) -> tuple[datetime, datetime, str]:
    """The weeks the report covers (in the tenant's zone) and where that came from: its dates
    (``file``), or for a weekly summary (which has none) the week the user named
    (``period_start``) or the one its download name gives (``file name``)."""
    if parsed.report_type in SUMMARY_TYPES or parsed.period_start is None:
        named = _period_from_name(parsed.source)
        if upload_period is None and named is None:
            raise _field_error(
                "period_start",
                "This report has no dates: give any day of the week it covers (period_start).")
        weeks = {source: period_of_week(day, timezone)
                 for source, day in (("period_start", upload_period), ("file name", named))
                 if day is not None}
        if len({w.start for w in weeks.values()}) > 1:
            raise _field_error(
                "period_start",
                f"period_start names the week of {weeks['period_start'].first_day}, but the"
                f" file name {_clean_name(parsed.source)!r} the week of"
                f" {weeks['file name'].first_day}.")
        source, week = next(iter(weeks.items()))
        return week.start, week.end, source
    assert parsed.period_end is not None
    return (period_containing(parsed.period_start, timezone).start,
            period_containing(parsed.period_end, timezone).end, "file")


# --- staging and validation --------------------------------------------------------------------


def _stage(session: Session, parsed: ParsedReport, tenant_id: uuid.UUID, platform_id: uuid.UUID,
           progress: Progress | None = None) -> str:
    """COPY the parsed rows, with the platform account each belongs to, into a new temporary
    table; returns its name. A report read in batches (``parsed.stream``) is normalised batch by
    batch here, so memory does not grow with the file; its repeats of the unique field, which
    may be batches apart, are found in the staged rows."""
    stage = f"rev_stage_{uuid.uuid4().hex[:12]}"
    columns = list(CANONICAL_SCHEMA)
    ddl = ", ".join(f"{name} {_sql_type(name, dtype)}" for name, dtype in CANONICAL_SCHEMA.items())
    matched = _account_columns(session, tenant_id, platform_id)
    conn = _raw(session)
    batches = (parsed.stream() if parsed.stream is not None
               else parsed.rows.iter_slices(100_000))
    with conn.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} ({ddl}, driver_id uuid, platform_account_id uuid,"
            " account_conflict boolean NOT NULL DEFAULT false,"
            " rejected boolean NOT NULL DEFAULT false, duplicate boolean NOT NULL DEFAULT false,"
            " reject_column text, reject_value text, reject_reason text) ON COMMIT DROP")
        with cursor.copy(f"COPY {stage} ({', '.join(columns)}, driver_id, platform_account_id,"
                         " account_conflict, rejected) FROM STDIN (FORMAT csv)") as copy:
            # The added columns are made per batch: memory for them does not grow with the file.
            for batch in batches:
                for chunk in batch.iter_slices(100_000):
                    copy.write(chunk.select(columns).with_columns(matched(chunk))
                               .write_csv(include_header=False))
                    if progress is not None:
                        progress("stage", chunk.height)
        if parsed.stream is not None and parsed.repeats and parsed.unique is not None:
            _staged_repeats(cursor, stage, parsed, parsed.unique)
        # No index: every later statement reads the whole staging table (a row-number index
        # cost its build and made the report-row insert an index scan).
        cursor.execute(f"ANALYZE {stage}")
    return stage


def _staged_repeats(cursor: psycopg.Cursor[Any], stage: str, parsed: ParsedReport,
                    key: str) -> None:
    """Rows of a report read in batches that repeat its unique field (a transaction or trip
    id, a weekly account) after its first row: invalid, each with the error the reader gives a
    file read whole ("duplicate of row N"), counted as duplicates. Runs only when the reader's
    hashes of the field repeat."""
    cursor.execute(
        f"UPDATE {stage} s SET valid = false, rejected = true FROM"
        f" (SELECT row_number, min(row_number) OVER (PARTITION BY {key}) AS first_row"
        f"  FROM {stage} WHERE {key} IS NOT NULL) f"
        " WHERE f.row_number = s.row_number AND f.first_row <> s.row_number"
        f" RETURNING s.row_number, s.{key}::text, f.first_row")
    column = parsed.header_of(key)
    found = sorted(cursor.fetchall())
    parsed.errors += [RowError(row=row, column=column, value=value,
                               reason=f"duplicate of row {first}")
                      for row, value, first in found]


def _account_columns(session: Session, tenant_id: uuid.UUID,
                     platform_id: uuid.UUID) -> Callable[[pl.DataFrame], list[pl.Expr]]:
    """The staged columns added to a batch's: the live platform account each row names (never
    matched by name) and its driver, whether two identifiers name two drivers, and ``rejected``
    for the rows the reader refused. Matched while staging — the fleet's accounts are a small
    table, read once — instead of rewriting every staged row with an ``UPDATE``."""
    accounts = session.execute(
        select(PlatformAccount.external_account_id, PlatformAccount.driver_id, PlatformAccount.id)
        .where(PlatformAccount.tenant_id == tenant_id,
               PlatformAccount.platform_id == platform_id,
               PlatformAccount.deleted_at.is_(None))).all()
    drivers = {ref: str(driver) if driver else None for ref, driver, _ in accounts}
    ids = {ref: str(account) for ref, _, account in accounts}

    def lookup(column: str, mapping: dict[str, str | None]) -> pl.Expr:
        return pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.String())

    def columns(frame: pl.DataFrame) -> list[pl.Expr]:
        account = lookup("platform_account_ref", dict(ids))
        driver = lookup("platform_account_ref", drivers)
        conflict = pl.lit(False)
        if frame.get_column("platform_account_alt").null_count() < frame.height:
            # Else by the row's second identifier (Bolt: the e-mail beside the phone).
            by_ref = account.is_not_null()
            alt_driver = lookup("platform_account_alt", drivers)
            driver = pl.when(by_ref).then(driver).otherwise(alt_driver)
            account = pl.when(by_ref).then(account).otherwise(
                lookup("platform_account_alt", dict(ids)))
            # Two identifiers naming two different drivers are not settled by a guess: the
            # rows wait as an unknown account, marked, until the accounts are put right.
            conflict = (alt_driver.is_not_null() & driver.is_not_null()
                        & (alt_driver != driver)).fill_null(False)
        return [pl.when(conflict).then(None).otherwise(driver).alias("driver_id"),
                pl.when(conflict).then(None).otherwise(account).alias("platform_account_id"),
                conflict.alias("account_conflict"),
                (~pl.col("valid")).fill_null(value=False).alias("rejected")]

    return columns


_Rule = tuple[str, str, str, str]
"""A row check: (SQL condition on the staged row ``s``, column, value, reason) as SQL texts."""


def _reject(cursor: psycopg.Cursor[Any], stage: str, rules: Sequence[_Rule],
            params: dict[str, Any] | None = None) -> None:
    """Mark the still-accepted rows matching any of ``rules`` rejected, each with the reason of
    the first rule it breaks: one pass over the staged rows for all of them."""
    if not rules:
        return

    def first(pick: int) -> str:
        return "CASE " + " ".join(f"WHEN {rule[0]} THEN {rule[pick]}" for rule in rules) + " END"

    cursor.execute(
        f"UPDATE {stage} s SET rejected = true, reject_column = {first(1)},"
        f" reject_value = {first(2)}, reject_reason = {first(3)}"
        f" WHERE NOT s.rejected AND ({' OR '.join(f'({rule[0]})' for rule in rules)})",
        params or {})


def _validate(session: Session, stage: str, imp: RevenueImport, parsed: ParsedReport,
              tenant_id: uuid.UUID) -> _Outcome:
    """The database checks, set-based, and the preview they give."""
    report_type = parsed.report_type
    params: dict[str, Any] = {"tenant": tenant_id, "platform": imp.platform_id,
                              "report_type": report_type, "period_start": imp.period_start,
                              "import": imp.id}
    conn = _raw(session)
    with conn.cursor() as cursor:
        # One currency per report: the report's is the one most rows carry.
        cursor.execute(
            f"SELECT currency FROM {stage} WHERE NOT rejected AND currency IS NOT NULL"
            " GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 1")
        found = cursor.fetchone()
        currency = found[0] if found else None
        rules: list[_Rule] = []
        if currency is not None:
            rules.append(("s.currency IS DISTINCT FROM %(currency)s AND s.currency IS NOT NULL",
                          "'currency'", "s.currency",
                          "'the currency differs from the report''s (' || %(currency)s || ')'"))
        money = " OR ".join(f"s.{c} IS NOT NULL" for c in _MONEY_COLUMNS)
        rules.append((f"s.currency IS NULL AND ({money})", "'currency'", "NULL::text",
                      "'an amount without a currency'"))

        # What the trips table would refuse, said per row instead of failing the commit.
        trip_row = _TRIP_ROW.get(report_type)
        if trip_row is not None:
            for column, label in (("fare_gross", "fare"), ("tip", "tip"), ("tolls", "tolls"),
                                  ("commission", "commission"),
                                  ("cash_collected", "cash collected"),
                                  ("distance_km", "distance"), ("duration_s", "duration")):
                rules.append((f"({trip_row}) AND s.{column} < 0", f"'{column}'",
                              f"s.{column}::text", f"'a trip''s {label} cannot be negative'"))
            rules.append((f"({trip_row}) AND s.started_at < s.requested_at", "'started_at'",
                          "s.started_at::text", "'the trip starts before it was requested'"))
            rules.append((f"({trip_row}) AND COALESCE(s.ended_at, s.occurred_at) < s.started_at",
                          "'ended_at'", "COALESCE(s.ended_at, s.occurred_at)::text",
                          "'the trip ends before it starts'"))
        _reject(cursor, stage, rules, {"currency": currency})

        # Duplicates inside the file: the first occurrence stays, later ones are rejected (the
        # reader already refuses most; the rewrite only when a hashed count finds any left).
        key = _DUPLICATE_KEY[report_type]
        cursor.execute(f"SELECT EXISTS (SELECT FROM {stage} WHERE NOT rejected"
                       f" AND {key} IS NOT NULL GROUP BY {key} HAVING count(*) > 1)")
        if (cursor.fetchone() or (False,))[0]:
            cursor.execute(
                f"UPDATE {stage} s SET rejected = true, duplicate = true,"
                f" reject_column = '{key}', reject_value = s.{key},"
                " reject_reason = 'duplicate of row ' || f.first_row"
                f" FROM (SELECT row_number, min(row_number) OVER (PARTITION BY {key})"
                f"  AS first_row FROM {stage} WHERE NOT rejected AND {key} IS NOT NULL) f"
                " WHERE f.row_number = s.row_number AND f.first_row <> s.row_number")

        # Duplicates of rows already committed — rows that carry money, which must never count
        # twice: the same transaction key (the unique index that makes this a database rule
        # also finds them). A trip activity report carries none: its re-import is an upsert
        # (corrected trips updated, the others skipped unchanged).
        transaction_key = _transaction_key_sql(report_type, "s")
        if transaction_key is not None:
            cursor.execute(
                f"UPDATE {stage} s SET rejected = true, duplicate = true,"
                f" reject_column = '{key}', reject_value = s.{key},"
                " reject_reason = 'already imported (import ' || r.import_id || ', row '"
                " || r.row_number || ')'"
                " FROM rev_import_rows r"
                " WHERE NOT s.rejected AND r.tenant_id = %(tenant)s"
                " AND r.platform_id = %(platform)s AND r.import_id <> %(import)s"
                f" AND r.transaction_key = {transaction_key}", params)

        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE rejected),"
            f" count(*) FILTER (WHERE duplicate) FROM {stage}")
        total, rejected, duplicate = cursor.fetchone() or (0, 0, 0)
        cursor.execute(
            "SELECT platform_account_ref, max(account_name), count(*), sum(earnings),"
            " sum(cash_collected), sum(payout), currency, (array_agg(driver_id))[1],"
            " max(platform_account_alt) FILTER (WHERE account_conflict)"
            f" FROM {stage} WHERE NOT rejected GROUP BY platform_account_ref, currency"
            " ORDER BY max(account_name) NULLS LAST, platform_account_ref NULLS LAST")
        accounts = [
            {"platform_account": ref, "name": name, "rows": rows,
             "earnings": _amount(earnings, cur), "cash_collected": _amount(cash, cur),
             "payout": _amount(payout, cur), "currency": cur,
             "driver_id": str(driver) if driver else None,
             **({"conflict": f"{ref} and {alt} are the platform accounts of two different"
                             " drivers: correct one of them, then validate the import again"}
                if alt else {})}
            for ref, name, rows, earnings, cash, payout, cur, driver, alt in cursor.fetchall()]
        cursor.execute(
            f"SELECT row_number, reject_column, reject_value, reject_reason FROM {stage}"
            " WHERE rejected AND reject_reason IS NOT NULL ORDER BY row_number")
        # The SQL checks name canonical fields; the user sees the file's headers.
        sql_errors = [{"row": r, "column": parsed.header_of(c) if c else None, "value": v,
                       "reason": why} for r, c, v, why in cursor.fetchall()]
    # The reader already rejects repeats inside the file ("duplicate of row N"); the database
    # adds the repeats of committed rows. Both count as duplicates.
    duplicate += len({e.row for e in parsed.errors if e.reason.startswith("duplicate")})
    errors = sorted([_error_dict(e) for e in parsed.errors] + sql_errors,
                    key=lambda e: (e["row"], e["column"] or ""))
    return _Outcome(rows_total=int(total), rows_rejected=int(rejected),
                    rows_duplicate=int(duplicate), errors=errors, accounts=accounts,
                    currency=currency)


def _amount(value: Any, currency: str | None) -> dict[str, str] | None:
    if value is None or currency is None:
        return None
    return Money(value, currency).to_api()


def _error_dict(error: RowError) -> dict[str, Any]:
    return {"row": error.row, "column": error.column, "value": error.value,
            "reason": error.reason}


def _errors_csv(errors: Sequence[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    buffer.write(csv_line(["row", "column", "value", "reason"]))
    for e in errors:
        # Values come from the uploaded file: a cell a spreadsheet would run is neutralised.
        buffer.write(csv_line([csv_cell(e["row"]), csv_cell(e["column"]), csv_cell(e["value"]),
                               csv_cell(e["reason"])]))
    return buffer.getvalue().encode("utf-8")


def _record(session: Session, imp: RevenueImport, parsed: ParsedReport, outcome: _Outcome,
            storage: DocumentStorage) -> None:
    """Store the preview on the import (and the full error list in the storage backend)."""
    imp.rows_total = outcome.rows_total
    imp.rows_invalid = outcome.rows_rejected
    imp.rows_duplicate = outcome.rows_duplicate
    imp.rows_valid = outcome.rows_total - outcome.rows_rejected
    imp.locale = parsed.locale
    imp.encoding = parsed.encoding
    imp.delimiter = parsed.delimiter
    if outcome.errors:
        key = f"{imp.tenant_id}/{uuid.uuid4()}"
        storage.put(key, io.BytesIO(_errors_csv(outcome.errors)), "text/csv")
        if imp.errors_storage_key:
            storage.delete(imp.errors_storage_key)
        imp.errors_storage_key = key
    imp.error_summary = (f"{len(outcome.errors)} row errors" if outcome.errors else None)
    previous = dict(imp.summary or {})
    imp.summary = {
        **previous,
        "currency": outcome.currency,
        # Where the currency came from: "file", "given" (the caller's) or "fleet" (the
        # tenant's default, for files that carry none, such as Uber's CSVs).
        "currency_source": parsed.currency_source,
        "accounts": [_short_texts(a, ("platform_account", "name", "conflict"))
                     for a in outcome.accounts[:MAX_ACCOUNTS_IN_SUMMARY]],
        "accounts_total": len(outcome.accounts),
        "unknown_accounts": sum(1 for a in outcome.accounts if a["driver_id"] is None),
        "errors": [_short_texts(e, ("column", "value", "reason"))
                   for e in outcome.errors[:MAX_ERRORS_IN_SUMMARY]],
        "errors_total": len(outcome.errors),
        "unknown_columns": [_short(c) for c in
                            parsed.unknown_columns[:MAX_UNKNOWN_COLUMNS_IN_SUMMARY]],
        "decimal_comma": parsed.decimal_comma,
    }


def _short(text: str | None) -> str | None:
    return limits.clip(text, MAX_TEXT_IN_SUMMARY)


def _short_texts(entry: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``entry`` with the texts under ``keys`` (taken from the file) cut to the summary's
    bound: the full values stay in the errors CSV."""
    return {**entry, **{k: _short(entry[k]) for k in keys if isinstance(entry.get(k), str)}}


# --- upload, validate ----------------------------------------------------------------------------


def _refuse_duplicate(session: Session, platform_id: uuid.UUID, sha256: str,
                      exclude: uuid.UUID | None = None) -> None:
    stmt = select(RevenueImport.id, RevenueImport.status, RevenueImport.file_name).where(
        RevenueImport.platform_id == platform_id, RevenueImport.sha256 == sha256,
        RevenueImport.status.in_((ImportStatus.VALIDATED.value, ImportStatus.COMMITTED.value)))
    if exclude is not None:
        stmt = stmt.where(RevenueImport.id != exclude)
    first = session.execute(stmt.limit(1)).one_or_none()
    if first is not None:
        raise DuplicateImport(
            f"This file was already imported as {first.file_name!r} ({first.status}).",
            existing_import_id=str(first.id),
            existing_import=f"/v1/revenue-imports/{first.id}")


def _flush_import(session: Session, imp: RevenueImport) -> None:
    """Flush; two uploads of one file at once meet the unique index: the second is a 409."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
        if name == "uq_rev_revenue_imports_sha256_active":
            assert imp.platform_id is not None
            _refuse_duplicate(session, imp.platform_id, imp.sha256, exclude=imp.id)
            raise DuplicateImport("This file is being imported by another request.") from exc
        raise


def upload_import(
    session: Session, actor: Actor, storage: DocumentStorage, *, upload: ImportUpload,
    commit: bool = False, progress: Progress | None = None,
) -> list[RevenueImport]:
    """Read, store and validate an uploaded report (one import per report in a zip); with
    ``commit``, commit each straight away from the same staged rows (read once)."""
    tenant_id = tenant_of(actor)
    timezone, country, fleet_currency = _tenant_defaults(session, tenant_id)
    if upload.platform is not None:
        _platform_by_code(session, upload.platform)
    if not _size(upload.data):
        raise UnreadableImport("The file is empty.",
                               errors=[{"field": "file", "message": "the file is empty"}])
    if _size(upload.data) > limits.MAX_UPLOAD_BYTES:
        raise _too_large_upload()
    timings: dict[str, int] = {}
    with _timed(timings, "read"):
        reports = _read(upload, country, timezone, progress, fleet_currency=fleet_currency)
    imports: list[RevenueImport] = []
    for parsed in reports:
        data = _member_bytes(upload, parsed.source)
        sha256 = _sha256(data)
        platform = _platform_by_code(session, parsed.platform)
        replaced = _replace_previews(session, storage, platform.id, sha256)
        _refuse_duplicate(session, platform.id, sha256)
        # Staged first: a report read in batches knows its period once it is all read.
        with _timed(timings, "stage"):
            stage = _stage(session, parsed, tenant_id, platform.id, progress)
        start, end, period_source = _period(parsed, upload.period_start, timezone)
        imp = RevenueImport(
            tenant_id=tenant_id, platform_id=platform.id, report_type=parsed.report_type,
            period_start=start, period_end=end, file_name=_clean_name(parsed.source),
            sha256=sha256, size_bytes=_size(data), storage_key="pending",
            status=ImportStatus.VALIDATING.value, imported_by=_importer(actor),
            started_at=_now(), created_by=actor.id, updated_by=actor.id,
            extra={"currency": upload.currency, "decimal_mark": upload.decimal_mark,
                   "source": parsed.source, "fleet_currency": fleet_currency},
            summary={"period_source": period_source,
                     "replaces": [str(i) for i in replaced]},
        )
        session.add(imp)
        session.flush()
        imp.storage_key = _put(storage, f"{tenant_id}/{imp.id}", data)
        with _timed(timings, "validate"):
            outcome = _validate(session, stage, imp, parsed, tenant_id)
            _record(session, imp, parsed, outcome, storage)
        imp.status = ImportStatus.VALIDATED.value
        imp.validated_at = _now()
        _flush_import(session, imp)
        if commit:
            _commit_staged(session, actor, imp, stage, parsed.report_type, timings)
        imp.summary = {**imp.summary, "timings_ms": dict(timings)}
        refresh_version(session, imp)
        _drop(session, stage)
        imports.append(imp)
    return imports


DISCARDABLE = frozenset({ImportStatus.UPLOADED.value, ImportStatus.VALIDATING.value,
                         ImportStatus.VALIDATED.value, ImportStatus.FAILED.value})
"""An import that wrote nothing (a preview, or one that failed) can be discarded; a committed
one is rolled back instead, and a rolled-back one stays as the record of what happened."""


def discard_import(session: Session, actor: Actor, storage: DocumentStorage,
                   import_id: uuid.UUID, *, if_match: str | None = None) -> None:
    """Delete a preview that will not be committed: the import, and once the transaction
    commits, its stored file and errors CSV. The deletion is in the audit trail."""
    imp = session.scalar(select(RevenueImport).where(RevenueImport.id == import_id)
                         .with_for_update())
    if imp is None:
        raise NotFound("No such import.")
    check_if_match(if_match, imp.version)
    if imp.status not in DISCARDABLE:
        hint = (" Roll it back instead (POST …/rollback)."
                if imp.status == ImportStatus.COMMITTED.value else "")
        raise Conflict(f"Only a preview can be discarded (this import is {imp.status}).{hint}")
    _forget(session, storage, [imp])


def _replace_previews(session: Session, storage: DocumentStorage, platform_id: uuid.UUID,
                      sha256: str) -> list[uuid.UUID]:
    """Uploading a file again replaces its earlier preview (never a committed import): the
    ids of the previews replaced."""
    previews = list(session.scalars(
        select(RevenueImport).where(
            RevenueImport.platform_id == platform_id, RevenueImport.sha256 == sha256,
            RevenueImport.status == ImportStatus.VALIDATED.value)
        .with_for_update()))
    _forget(session, storage, previews)
    return [p.id for p in previews]


def _forget(session: Session, storage: DocumentStorage, imports: list[RevenueImport]) -> None:
    """Delete imports that wrote nothing; their files go once the transaction commits."""
    if not imports:
        return
    keys = [key for imp in imports for key in (imp.storage_key, imp.errors_storage_key)
            if key and key != "pending"]
    for imp in imports:
        session.delete(imp)
    session.flush()
    delete_after_commit(session, storage, keys)


def _clean_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "report"
    return base[:255]


def _drop(session: Session, stage: str) -> None:
    with _raw(session).cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")


def _reread(session: Session, imp: RevenueImport, storage: DocumentStorage,
            progress: Progress | None = None) -> ParsedReport:
    """Parse the stored file again (commit and re-validation see the current database)."""
    assert imp.platform_id is not None
    assert imp.report_type is not None
    try:
        # The local backend's file is read in bounded batches where it is; another backend's
        # is fetched whole.
        data: bytes | Path = (storage.path_of(imp.storage_key) if isinstance(storage, LocalStorage)
                              else storage.read(imp.storage_key))
        if isinstance(data, Path) and not data.is_file():
            raise StoredObjectMissing(f"no stored file {imp.storage_key}")
    except StorageError as exc:
        raise Conflict("The stored report file is missing; upload it again.") from exc
    timezone, country = _tenant_zone(session, imp.tenant_id)
    upload = ImportUpload(file_name=imp.file_name, data=data,
                          platform=_platform_code(session, imp.platform_id),
                          report_type=imp.report_type,
                          currency=(imp.extra or {}).get("currency"),
                          decimal_mark=(imp.extra or {}).get("decimal_mark"))
    reports = _read(upload, country, timezone, progress,
                    fleet_currency=(imp.extra or {}).get("fleet_currency"))
    return reports[0]


def get_import(session: Session, actor: Actor, import_id: uuid.UUID) -> RevenueImport:
    """One import, or 404."""
    imp = session.scalar(select(RevenueImport).where(RevenueImport.id == import_id))
    if imp is None:
        raise NotFound("No such import.")
    return imp


def imports_query(actor: Actor, *, status: str | None = None,
                  platform_id: uuid.UUID | None = None,
                  report_type: str | None = None) -> Select[Any]:
    """The filtered imports (list and CSV)."""
    stmt = select(RevenueImport).where(RevenueImport.tenant_id == tenant_of(actor))
    if status is not None:
        stmt = stmt.where(RevenueImport.status == status)
    if platform_id is not None:
        stmt = stmt.where(RevenueImport.platform_id == platform_id)
    if report_type is not None:
        stmt = stmt.where(RevenueImport.report_type == report_type)
    return stmt


def list_imports(session: Session, actor: Actor, params: PageParams,
                 **filters: Any) -> tuple[list[RevenueImport], str | None]:
    """A page of imports, newest first."""
    return keyset_page(session, imports_query(actor, **filters), [RevenueImport.id], params,
                       descending=True)


def revalidate_import(session: Session, actor: Actor, storage: DocumentStorage,
                      import_id: uuid.UUID, *, if_match: str | None = None) -> RevenueImport:
    """Validate a previewed import again (after linking accounts, or another import)."""
    imp = get_import(session, actor, import_id)
    check_if_match(if_match, imp.version)
    if imp.status != ImportStatus.VALIDATED.value:
        raise Conflict(f"Only a validated import can be validated again (this one is "
                       f"{imp.status}).")
    parsed = _reread(session, imp, storage)
    assert imp.platform_id is not None
    stage = _stage(session, parsed, imp.tenant_id, imp.platform_id)
    _record(session, imp, parsed, _validate(session, stage, imp, parsed, imp.tenant_id), storage)
    imp.validated_at = _now()
    imp.updated_by = actor.id
    refresh_version(session, imp)
    _drop(session, stage)
    return imp


def import_errors(storage: DocumentStorage, imp: RevenueImport) -> Iterator[bytes]:
    """The import's row errors as CSV (header only when there are none)."""
    if imp.errors_storage_key is None:
        return iter([b"row,column,value,reason\r\n"])
    return storage.open(imp.errors_storage_key)


# --- commit ------------------------------------------------------------------------------------


def commit_import(
    session: Session, actor: Actor, storage: DocumentStorage, import_id: uuid.UUID, *,
    if_match: str | None = None, progress: Progress | None = None,
) -> RevenueImport:
    """Write the import's valid rows, its trips and the driver revenues they change: all or
    nothing (the request's transaction)."""
    imp = session.scalar(select(RevenueImport).where(RevenueImport.id == import_id)
                         .with_for_update())
    if imp is None:
        raise NotFound("No such import.")
    check_if_match(if_match, imp.version)
    if imp.status != ImportStatus.VALIDATED.value:
        raise Conflict(f"Only a validated import can be committed (this one is {imp.status}).")
    timings: dict[str, int] = {}
    with _timed(timings, "read"):
        parsed = _reread(session, imp, storage)
    assert imp.platform_id is not None
    with _timed(timings, "stage"):
        stage = _stage(session, parsed, imp.tenant_id, imp.platform_id, progress)
    with _timed(timings, "validate"):
        outcome = _validate(session, stage, imp, parsed, imp.tenant_id)
        _record(session, imp, parsed, outcome, storage)
    _commit_staged(session, actor, imp, stage, parsed.report_type, timings)
    imp.summary = {**imp.summary, "timings_ms": timings}
    refresh_version(session, imp)
    _drop(session, stage)
    return imp


def _commit_staged(session: Session, actor: Actor, imp: RevenueImport, stage: str,
                   report_type: str, timings: dict[str, int]) -> None:
    """Write the validated staged rows and mark the import committed."""
    timezone, _, currency = _tenant_defaults(session, imp.tenant_id)
    with _each_transaction_once(imp):
        trips, trip_weeks = _write(session, stage, imp, report_type, timezone, timings)
    imp.summary = {**imp.summary, "trips": trips}
    imp.status = ImportStatus.COMMITTED.value
    imp.committed_at = _now()
    imp.updated_by = actor.id
    session.flush()
    assert imp.platform_id is not None
    with _timed(timings, "driver_revenues"):
        # The (driver, week) pairs the import touches are its accepted staged rows': read
        # from staging, not back from the million rows just written.
        args = {"tenant": imp.tenant_id, "platform": imp.platform_id, "tz": timezone,
                "period_start": imp.period_start, "import": imp.id,
                "report_type": report_type, "fleet_currency": currency}
        keys = f"rev_keys_{uuid.uuid4().hex[:12]}"
        week = ("date_trunc('week', COALESCE(s.occurred_at,"
                " CAST(%(period_start)s AS timestamptz)) AT TIME ZONE %(tz)s)")
        sums = f"rev_sums_{uuid.uuid4().hex[:12]}"
        with _raw(session).cursor() as cursor:
            # The import's own rows are its staged ones (same rows, same currency fallback),
            # totalled from staging in one pass, which also gives the (driver, week) pairs,
            # instead of read back through an index; the rows of other imports are read only
            # when one may have some there.
            cursor.execute(
                f"CREATE TEMPORARY TABLE {sums} ON COMMIT DROP AS"
                f" SELECT s.driver_id, {week} AS week,"
                " CAST(%(report_type)s AS text) AS report_type,"
                " CAST(%(import)s AS uuid) AS from_import,"
                " COALESCE(s.currency, %(fleet_currency)s) AS currency,"
                " sum(s.fare_gross) AS fare_gross, sum(s.commission) AS commission,"
                " sum(s.tip) AS tip, sum(s.tolls) AS tolls,"
                " sum(s.promotions) AS promotions, sum(s.adjustments) AS adjustments,"
                f" sum(s.earnings) AS earnings FROM {stage} s"
                " WHERE NOT s.rejected AND s.driver_id IS NOT NULL GROUP BY 1, 2, 5", args)
            cursor.execute(f"CREATE TEMPORARY TABLE {keys} ON COMMIT DROP AS"
                           f" SELECT DISTINCT driver_id, week FROM {sums}")
            _recompute_keys(cursor, keys, args, staged=f"SELECT * FROM {sums}",
                            trip_weeks=trip_weeks)
            cursor.execute(f"DROP TABLE {sums}")
            cursor.execute(f"DROP TABLE {keys}")


_TRIP_KEY = "uq_trp_trips_tenant_id_platform_id_external_trip_id"

_TripWeeks = list[tuple[uuid.UUID, datetime, int]]
"""(driver, tenant-local week start, trips) of every trip that ended in an import's period."""


def _write(session: Session, stage: str, imp: RevenueImport, report_type: str, timezone: str,
           timings: dict[str, int]) -> tuple[dict[str, int], _TripWeeks | None]:
    """INSERT the import rows, upsert the trips; returns the trip counts, and the trips of the
    import's period per driver and week when those are exactly the trips it created."""
    params = {"tenant": imp.tenant_id, "platform": imp.platform_id, "import": imp.id,
              "period_start": imp.period_start, "period_end": imp.period_end, "tz": timezone}
    # Ids: one time-ordered prefix per statement, then a counter growing in insertion order
    # (the row number, the trip's rank): no strong-random call per row, and the primary-key
    # index is appended to.
    conn = _raw(session)
    with conn.cursor() as cursor, _timed(timings, "import_rows"):
        cursor.execute(
            "INSERT INTO rev_import_rows (id, tenant_id, import_id, row_number, platform_id,"
            " platform_account_ref, driver_id, external_trip_id, external_transaction_id,"
            " transaction_key,"
            " occurred_at, description, earnings, fare_gross, commission, tip, tolls,"
            " cash_collected, payout, promotions, adjustments, currency, extra_columns)"
            f" SELECT {uuid7_series_sql('%(rows_ids)s', 's.row_number')}, %(tenant)s,"
            " %(import)s, row_number, %(platform)s,"
            " platform_account_ref, driver_id, external_trip_id, external_transaction_id,"
            f" {_transaction_key_sql(report_type, 's') or 'NULL'},"
            " occurred_at, description, earnings, fare_gross, commission, tip, tolls,"
            # A row without money (trip activity) still names a currency: the fleet's.
            " cash_collected, payout, promotions, adjustments,"
            " COALESCE(currency, (SELECT default_currency FROM adm_tenants"
            "   WHERE id = %(tenant)s)), extra"
            # In staging's order, which is the file's (COPY wrote it so; the checks above
            # rewrite only rows they reject): no sort.
            f" FROM {stage} s WHERE NOT rejected", {**params, "rows_ids": uuid7_prefix()})
    with conn.cursor() as cursor, _timed(timings, "trips"):
        trip_row = _TRIP_ROW.get(report_type)
        if trip_row is None:
            return {"created": 0, "updated": 0, "unchanged": 0}, None
        # No trip of the platform ended in the import's period before this write, and every
        # candidate is created (below): then the period's trips are the ones created, and
        # the driver revenues count them from here, not back from the trips just written.
        cursor.execute(
            "SELECT EXISTS (SELECT FROM trp_trips t WHERE t.tenant_id = %(tenant)s"
            " AND t.platform_id = %(platform)s AND t.ended_at >= %(period_start)s"
            " AND t.ended_at < %(period_end)s)", params)
        trips_before = imp.period_start is None or imp.period_end is None or bool(
            (cursor.fetchone() or (True,))[0])
        # A money report knows nothing of the trip's status and times beyond the moment it
        # was paid: it fills what it knows and keeps what a trip activity report said.
        money_only = report_type == ReportType.PAYMENTS_ORDER.value
        status = "t.status" if money_only else "EXCLUDED.status"
        kept = ("platform_account_id", "driver_id", "vehicle_id", "service_type",
                "requested_at", "started_at", "ended_at", "distance_km", "duration_s",
                "fare_gross", "tip", "tolls", "platform_commission", "cash_collected",
                "net_earnings", "currency", "payment_method")
        new_values = ", ".join(f"COALESCE(EXCLUDED.{c}, t.{c})" for c in kept)
        old_values = ", ".join(f"t.{c}" for c in kept)
        assignments = ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, t.{c})" for c in kept)
        # The candidates are deduplicated by trip id (one per trip) with a byte-order ("C")
        # sort, which uses abbreviated keys, where the column's libc collation compares
        # through strcoll; equality is the same. work_mem for this statement only.
        cursor.execute("SELECT current_setting('work_mem'), set_config('work_mem', '128MB', true)")
        work_mem = (cursor.fetchone() or ("4MB",))[0]
        upsert = (
            " ON CONFLICT (tenant_id, platform_id, external_trip_id) DO UPDATE SET"
            f" {assignments}, status = {status}, import_id = EXCLUDED.import_id,"
            " deleted_at = NULL"
            f" WHERE ({old_values}, t.status, t.deleted_at IS NULL)"
            f" IS DISTINCT FROM ({new_values}, {status}, true)")
        statement = (
            "WITH candidates AS ("
            " SELECT DISTINCT ON (s.external_trip_id COLLATE \"C\") s.external_trip_id,"
            " s.platform_account_id, s.driver_id, s.trip_status, s.service_type,"
            " s.requested_at, s.started_at, s.ended_at, s.occurred_at, s.distance_km,"
            " s.duration_s, s.fare_gross, s.tip, s.tolls, s.commission, s.cash_collected,"
            " s.earnings, s.currency, s.payment_method, v.id AS vehicle_id"
            # The fleet's plates, compared without spaces and dashes (one hash join).
            f" FROM {stage} s LEFT JOIN (SELECT DISTINCT ON (plate) plate, id FROM ("
            "   SELECT regexp_replace(upper(licence_plate), '[^A-Z0-9]', '', 'g') AS plate, id"
            "   FROM flt_vehicles WHERE tenant_id = %(tenant)s AND deleted_at IS NULL) p"
            "   ORDER BY plate, id) v"
            "   ON v.plate = regexp_replace(upper(s.vehicle_plate), '[^A-Z0-9]', '', 'g')"
            f" WHERE NOT s.rejected AND {trip_row}"
            " ORDER BY s.external_trip_id COLLATE \"C\", s.row_number),"
            " written AS ("
            " INSERT INTO trp_trips AS t (id, tenant_id, platform_id, external_trip_id,"
            " platform_account_id, driver_id, vehicle_id, status, service_type, requested_at,"
            " started_at, ended_at, distance_km, duration_s, fare_gross, tip, tolls,"
            " platform_commission, cash_collected, net_earnings, currency, payment_method,"
            " import_id)"
            f" SELECT {uuid7_series_sql('%(trip_ids)s', 'row_number() OVER ()')},"
            " %(tenant)s, %(platform)s, c.external_trip_id,"
            " c.platform_account_id, c.driver_id, c.vehicle_id,"
            " COALESCE(c.trip_status, 'completed'), c.service_type, c.requested_at,"
            " c.started_at, COALESCE(c.ended_at, c.occurred_at), c.distance_km, c.duration_s,"
            " c.fare_gross, c.tip, c.tolls, c.commission, c.cash_collected, c.earnings,"
            " CASE WHEN c.fare_gross IS NULL AND c.tip IS NULL AND c.tolls IS NULL"
            "  AND c.commission IS NULL AND c.cash_collected IS NULL AND c.earnings IS NULL"
            "  THEN NULL ELSE c.currency END,"
            " c.payment_method, %(import)s FROM candidates c")
        # The upsert: candidates are read twice (written, and counted for the unchanged).
        upserted = (
            f"{statement} {upsert} RETURNING (t.xmax = 0) AS inserted)"
            " SELECT (SELECT count(*) FROM candidates),"
            " count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),"
            " NULL::uuid[], NULL::timestamp[], NULL::bigint[] FROM written")
        # The plain insert reads the candidates once (not kept aside: at a million rows that
        # is hundreds of megabytes of temporary file) and counts what it wrote by driver and
        # the week it ended in.
        inserted = (
            f"{statement} RETURNING t.driver_id, t.ended_at),"
            " weeks AS ("
            " SELECT w.driver_id, date_trunc('week', w.ended_at AT TIME ZONE %(tz)s) AS week,"
            "  count(*) AS n FROM written w WHERE w.driver_id IS NOT NULL"
            "  AND w.ended_at >= %(period_start)s AND w.ended_at < %(period_end)s GROUP BY 1, 2)"
            " SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM written), 0,"
            " (SELECT array_agg(w.driver_id) FROM weeks w),"
            " (SELECT array_agg(w.week) FROM weeks w), (SELECT array_agg(w.n) FROM weeks w)")
        args = {**params, "trip_ids": uuid7_prefix()}
        counted = False
        if trips_before:
            cursor.execute(upserted, args)
            result = cursor.fetchone()
        else:
            # No trip ended in the period: most likely none of these exists yet, so they are
            # inserted without an arbiter (an upsert probes the unique index once more per
            # row and logs a confirmation of each speculative insertion); one that does exist
            # undoes that insert, and the upsert runs instead.
            cursor.execute("SAVEPOINT rev_trips_insert")
            try:
                cursor.execute(inserted, args)
                counted = True
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name != _TRIP_KEY:
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT rev_trips_insert")
                cursor.execute(upserted, args)
            result = cursor.fetchone()
            cursor.execute("RELEASE SAVEPOINT rev_trips_insert")
        candidates, created, updated, drivers, weeks, counts = (
            result or (0, 0, 0, None, None, None))
        cursor.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))
    written = {"created": int(created), "updated": int(updated),
               "unchanged": int(candidates) - int(created) - int(updated)}
    if not counted:
        return written, None
    return written, list(zip(drivers or [], weeks or [], counts or [], strict=True))


def _recompute_revenues(session: Session, tenant_id: uuid.UUID, platform_id: uuid.UUID | None,
                        rows_where: str, params: dict[str, Any]) -> None:
    """Recompute ``rev_driver_revenues`` for every (driver, week) that the import rows matching
    ``rows_where`` (alias ``r``, joined to their import ``i``) fall in."""
    timezone, _ = _tenant_zone(session, tenant_id)
    args = {**params, "tenant": tenant_id, "platform": platform_id, "tz": timezone}
    with _raw(session).cursor() as cursor:
        keys = _affected_weeks(cursor, f"r.platform_id = %(platform)s AND ({rows_where})", args)
        _recompute_keys(cursor, keys, args)
        cursor.execute(f"DROP TABLE {keys}")


def _affected_weeks(cursor: psycopg.Cursor[Any], rows_where: str, args: dict[str, Any]) -> str:
    """A temporary table of the (driver_id, week) pairs that the tenant's import rows matching
    ``rows_where`` (alias ``r``, their import ``i``) fall in; returns its name."""
    keys = f"rev_keys_{uuid.uuid4().hex[:12]}"
    cursor.execute(
        f"CREATE TEMPORARY TABLE {keys} ON COMMIT DROP AS"
        " SELECT DISTINCT r.driver_id, date_trunc('week',"
        "   COALESCE(r.occurred_at, i.period_start) AT TIME ZONE %(tz)s) AS week"
        " FROM rev_import_rows r JOIN rev_revenue_imports i"
        "   ON i.tenant_id = r.tenant_id AND i.id = r.import_id"
        f" WHERE r.tenant_id = %(tenant)s AND r.driver_id IS NOT NULL AND ({rows_where})", args)
    return keys


def _recompute_keys(cursor: psycopg.Cursor[Any], keys: str, args: dict[str, Any],
                    staged: str | None = None, trip_weeks: _TripWeeks | None = None) -> None:
    """Upsert (or remove) the driver revenue of each (driver_id, week) in table ``keys``.

    ``staged``, when given, is SQL of the committing import's (``%(import)s``) own rows of
    those weeks, summed (columns as ``found`` below): the committed rows of other imports are
    then read only if another committed import's period meets the weeks (an import's period
    holds every row it wrote: it is taken from the rows' dates, or is the week of an undated
    summary), in the same statement (one snapshot). ``trip_weeks``, when given, are the trips
    of those weeks per driver (counted by :func:`_write`), else they are counted in
    ``trp_trips``."""
    precedence = money_precedence_sql()
    week_start = "(k.week AT TIME ZONE %(tz)s)"
    week_end = "((k.week + interval '7 days') AT TIME ZONE %(tz)s)"
    others = ""
    if staged is not None:
        # Uncorrelated, so a one-time filter: when false, the branches below are not run.
        others = (
            " AND i.id <> %(import)s AND EXISTS (SELECT FROM rev_revenue_imports o"
            " WHERE o.tenant_id = %(tenant)s AND o.platform_id = %(platform)s"
            " AND o.status = 'committed' AND o.id <> %(import)s"
            " AND (o.period_start IS NULL OR o.period_end IS NULL"
            f"  OR (o.period_start < (SELECT max(week) + interval '7 days' FROM {keys})"
            "       AT TIME ZONE %(tz)s"
            f"   AND o.period_end > (SELECT min(week) FROM {keys}) AT TIME ZONE %(tz)s)))")
    cursor.execute(f"ANALYZE {keys}")
    # The totals sort the week's rows (a million for a big import): in memory.
    cursor.execute("SELECT current_setting('work_mem'), set_config('work_mem', '128MB', true)")
    work_mem = (cursor.fetchone() or ("4MB",))[0]
    cursor.execute(
        # The week's rows: dated rows by an index range on (driver, occurred_at) — never the
        # driver's whole history —, and the undated rows of weekly summaries through the
        # imports whose period starts in the week.
        "WITH found AS ("
        + (f"{staged} UNION ALL" if staged is not None else "")
        + " SELECT k.driver_id, k.week, i.report_type, i.id AS from_import, r.currency,"
        " r.fare_gross, r.commission, r.tip, r.tolls, r.promotions, r.adjustments, r.earnings"
        f" FROM {keys} k"
        " JOIN rev_import_rows r ON r.tenant_id = %(tenant)s AND r.driver_id = k.driver_id"
        f"   AND r.occurred_at >= {week_start} AND r.occurred_at < {week_end}"
        "   AND r.platform_id = %(platform)s"
        " JOIN rev_revenue_imports i ON i.tenant_id = r.tenant_id AND i.id = r.import_id"
        f"   AND i.status = 'committed'{others}"
        " UNION ALL"
        " SELECT k.driver_id, k.week, i.report_type, i.id, r.currency,"
        " r.fare_gross, r.commission, r.tip, r.tolls, r.promotions, r.adjustments, r.earnings"
        f" FROM {keys} k"
        " JOIN rev_revenue_imports i ON i.tenant_id = %(tenant)s"
        "   AND i.platform_id = %(platform)s AND i.status = 'committed'"
        f"   AND i.period_start >= {week_start} AND i.period_start < {week_end}"
        f"   {others}"
        " JOIN rev_import_rows r ON r.tenant_id = i.tenant_id AND r.import_id = i.id"
        "   AND r.driver_id = k.driver_id AND r.occurred_at IS NULL"
        "), rows AS ("
        " SELECT f.*, p.rank, min(p.rank) OVER (PARTITION BY f.driver_id, f.week) AS finest"
        f" FROM found f JOIN (VALUES {precedence}) p(report_type, rank)"
        "   ON p.report_type = f.report_type),"
        " totals AS ("
        " SELECT r.driver_id, r.week, min(r.currency) AS currency,"
        "  COALESCE(sum(r.fare_gross), 0) AS gross, COALESCE(sum(r.commission), 0) AS fees,"
        "  COALESCE(sum(r.tip), 0) AS tips, COALESCE(sum(r.tolls), 0) AS tolls,"
        "  COALESCE(sum(r.promotions), 0) AS bonuses,"
        "  COALESCE(sum(r.adjustments), 0) AS adjustments,"
        "  COALESCE(sum(r.earnings), 0) AS net,"
        "  max(r.from_import::text)::uuid AS import_id"
        " FROM rows r WHERE r.rank = r.finest GROUP BY 1, 2),"
        # Counted once for all keys: inlined, the planner (which cannot know how many rows
        # this transaction just wrote) re-sorted every trip of the import once per driver.
        " trips AS MATERIALIZED ("
        + (" SELECT x.driver_id, x.week, x.n FROM unnest(CAST(%(trip_drivers)s AS uuid[]),"
           " CAST(%(trip_weeks)s AS timestamp[]), CAST(%(trip_counts)s AS bigint[]))"
           " AS x(driver_id, week, n)" if trip_weeks is not None else
           " SELECT k.driver_id, k.week, count(t.id) AS n"
           f" FROM {keys} k JOIN trp_trips t ON t.tenant_id = %(tenant)s"
           "  AND t.driver_id = k.driver_id AND t.platform_id = %(platform)s"
           f"  AND t.deleted_at IS NULL AND t.ended_at >= {week_start}"
           f"  AND t.ended_at < {week_end} GROUP BY 1, 2")
        + "),"
        " upserted AS ("
        " INSERT INTO rev_driver_revenues AS d (id, tenant_id, driver_id, platform_id,"
        "  period_start, period_end, gross, platform_fees, tips, tolls, bonuses, adjustments,"
        "  net, trip_count, currency, import_id)"
        f" SELECT {UUID7_SQL}, %(tenant)s, k.driver_id, %(platform)s, {week_start}, {week_end},"
        # A fare correction can make a week's sum negative: the negative part is an
        # adjustment (the columns are magnitudes), so the totals still add up exactly.
        "  GREATEST(k.gross, 0), GREATEST(k.fees, 0), GREATEST(k.tips, 0),"
        "  GREATEST(k.tolls, 0), GREATEST(k.bonuses, 0),"
        "  k.adjustments + LEAST(k.gross, 0) - LEAST(k.fees, 0) + LEAST(k.tips, 0)"
        "   + LEAST(k.tolls, 0) + LEAST(k.bonuses, 0),"
        "  k.net, COALESCE(n.n, 0), k.currency, k.import_id"
        " FROM totals k LEFT JOIN trips n USING (driver_id, week)"
        " ON CONFLICT (tenant_id, driver_id, platform_id, period_start) DO UPDATE SET"
        "  gross = EXCLUDED.gross, platform_fees = EXCLUDED.platform_fees,"
        "  tips = EXCLUDED.tips, tolls = EXCLUDED.tolls, bonuses = EXCLUDED.bonuses,"
        "  adjustments = EXCLUDED.adjustments, net = EXCLUDED.net,"
        "  trip_count = EXCLUDED.trip_count, currency = EXCLUDED.currency,"
        "  import_id = EXCLUDED.import_id"
        "  WHERE d.status <> 'settled'"
        " RETURNING d.driver_id)"
        " DELETE FROM rev_driver_revenues d USING " + keys + " k"
        " WHERE d.tenant_id = %(tenant)s AND d.driver_id = k.driver_id"
        f" AND d.platform_id = %(platform)s AND d.period_start = {week_start}"
        " AND d.status = 'provisional'"
        " AND NOT EXISTS (SELECT 1 FROM totals t WHERE t.driver_id = k.driver_id"
        "  AND t.week = k.week)",
        {**args, **({"trip_drivers": [w[0] for w in trip_weeks],
                     "trip_weeks": [w[1] for w in trip_weeks],
                     "trip_counts": [w[2] for w in trip_weeks]} if trip_weeks is not None
                    else {})})
    cursor.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))


# --- rollback ----------------------------------------------------------------------------------


def rollback_import(session: Session, actor: Actor, import_id: uuid.UUID, *,
                    if_match: str | None = None) -> RevenueImport:
    """Undo a committed import while no confirmed settlement covers its period."""
    imp = session.scalar(select(RevenueImport).where(RevenueImport.id == import_id)
                         .with_for_update())
    if imp is None:
        raise NotFound("No such import.")
    check_if_match(if_match, imp.version)
    if imp.status != ImportStatus.COMMITTED.value:
        raise Conflict(f"Only a committed import can be rolled back (this one is {imp.status}).")
    settled = session.execute(text(
        "SELECT id, period_start FROM trp_settlements WHERE tenant_id = :tenant"
        " AND platform_id = :platform AND status IN ('confirmed', 'paid')"
        " AND period_start < :end AND period_end > :start LIMIT 1"),
        {"tenant": imp.tenant_id, "platform": imp.platform_id, "start": imp.period_start,
         "end": imp.period_end}).one_or_none()
    if settled is not None:
        raise Conflict("A confirmed settlement covers this import's period "
                       f"(week of {settled.period_start:%Y-%m-%d}); it cannot be rolled back.",
                       settlement_id=str(settled.id))
    # Lock the weeks its report rows settle (409 when a confirmed settlement consumed any).
    held = hold_drafts_fed_by_import(session, actor, imp.id)
    timezone, _ = _tenant_zone(session, imp.tenant_id)
    args = {"tenant": imp.tenant_id, "platform": imp.platform_id, "import": imp.id,
            "tz": timezone}
    with _raw(session).cursor() as cursor:
        _refuse_referenced(cursor, args)
        drafts = _drafts_using(cursor, args)
        keys = _affected_weeks(cursor, "r.import_id = %(import)s", args)
        try:
            with session.begin_nested():
                # Trips this import last wrote go with it; a trip another import wrote stays.
                cursor.execute("DELETE FROM trp_trips WHERE tenant_id = %(tenant)s"
                               " AND import_id = %(import)s", args)
                cursor.execute("DELETE FROM rev_import_rows WHERE tenant_id = %(tenant)s"
                               " AND import_id = %(import)s", args)
        except psycopg.errors.ForeignKeyViolation as exc:
            # A reference written since the check above (a race): the same answer.
            raise Conflict("Other records refer to this import's trips or rows "
                           f"({exc.diag.table_name}); it cannot be rolled back.") from exc
        imp.status = ImportStatus.ROLLED_BACK.value
        imp.rolled_back_at = _now()
        imp.rolled_back_by = _importer(actor)
        imp.updated_by = actor.id
        session.flush()
        _recompute_keys(cursor, keys, args)
        cursor.execute(f"DROP TABLE {keys}")
    # Draft settlements are derived from the rows: the ones built from this import's rows
    # (their lines lost them: ON DELETE SET NULL) or trips are rebuilt from what is left,
    # keeping their manual adjustments, so none is left to confirm money from a report that
    # is gone.
    for week, drivers in held:
        drafts.setdefault(week, set()).update(drivers)
    recompute_held_drafts(session, actor,
                          [(week, sorted(drivers)) for week, drivers in sorted(drafts.items())])
    refresh_version(session, imp)
    return imp


def _drafts_using(cursor: psycopg.Cursor[Any], args: dict[str, Any]) -> dict[date, set[uuid.UUID]]:
    """The (tenant-local first day of the week → drivers) of the draft settlements with a line
    whose source is one of the import's rows or trips."""
    cursor.execute(
        "SELECT DISTINCT (s.period_start AT TIME ZONE %(tz)s)::date, s.driver_id"
        " FROM trp_settlement_lines l JOIN trp_settlements s"
        "   ON s.tenant_id = l.tenant_id AND s.id = l.settlement_id AND s.status = 'draft'"
        " WHERE l.tenant_id = %(tenant)s AND ("
        "  (l.source_type = 'import_row' AND l.source_id IN (SELECT r.id FROM rev_import_rows r"
        "    WHERE r.tenant_id = %(tenant)s AND r.import_id = %(import)s))"
        "  OR (l.source_type = 'trip' AND l.source_id IN (SELECT t.id FROM trp_trips t"
        "    WHERE t.tenant_id = %(tenant)s AND t.import_id = %(import)s)))", args)
    drafts: dict[date, set[uuid.UUID]] = {}
    for week, driver in cursor.fetchall():
        drafts.setdefault(week, set()).add(driver)
    return drafts


# What a rollback deletes, and which rows of the database say which of them they point at.
_ROLLED_BACK: dict[str, str] = {
    "trp_trips": "d.tenant_id = %(tenant)s AND d.import_id = %(import)s",
    "rev_import_rows": "d.tenant_id = %(tenant)s AND d.import_id = %(import)s",
}


def _refuse_referenced(cursor: psycopg.Cursor[Any], args: dict[str, Any]) -> None:
    """409 naming what blocks a rollback: rows of other tables (tolls, fines, expenses, ledger
    entries…) that point at the trips or rows the import wrote through a foreign key that
    neither cascades nor nulls. They are facts of their own, not part of the import: the user
    unlinks them first. The references are read from the catalogue, so a table added later is
    covered without a change here."""
    cursor.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,"
        " array_agg(a.attname::text ORDER BY k.n), array_agg(f.attname::text ORDER BY k.n)"
        " FROM pg_constraint c"
        " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, ref, n)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col"
        " JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.ref"
        " WHERE c.contype = 'f' AND c.confdeltype IN ('a', 'r')"
        " AND c.confrelid = ANY (%(tables)s::regclass[])"
        " AND NOT c.conrelid = ANY (%(tables)s::regclass[])"
        " GROUP BY c.oid, c.conrelid, c.confrelid ORDER BY 1, 2",
        {"tables": list(_ROLLED_BACK)})
    blocked: dict[str, int] = {}
    for table, referenced, columns, keys in cursor.fetchall():
        found = sql.SQL(
            "SELECT count(*) FROM {table} x WHERE ({columns}) IN"
            " (SELECT {keys} FROM {referenced} d WHERE {where})").format(
            table=sql.Identifier(table), referenced=sql.Identifier(referenced),
            columns=sql.SQL(", ").join(sql.Identifier("x", c) for c in columns),
            keys=sql.SQL(", ").join(sql.Identifier("d", k) for k in keys),
            where=sql.SQL(_ROLLED_BACK[referenced]))
        cursor.execute(found, args)
        count = int((cursor.fetchone() or (0,))[0])
        if count:
            blocked[table] = blocked.get(table, 0) + count
    if blocked:
        listed = ", ".join(f"{n} in {table}" for table, n in blocked.items())
        raise Conflict(f"Other records refer to the trips or rows of this import ({listed}); "
                       "unlink them from its trips first, then roll it back.",
                       blocked_by=blocked)


# --- linking -----------------------------------------------------------------------------------


def link_account_rows(session: Session, account: PlatformAccount) -> int:
    """Give the account's driver to the report rows and trips waiting for it, recompute their
    driver revenues, and update the preview of validated imports; returns the rows linked."""
    if account.driver_id is None:
        return 0
    args = {"tenant": account.tenant_id, "platform": account.platform_id,
            "ref": account.external_account_id, "driver": account.driver_id,
            "account": account.id}
    conn = _raw(session)
    with conn.cursor() as cursor:
        cursor.execute(
            "UPDATE rev_import_rows SET driver_id = %(driver)s WHERE tenant_id = %(tenant)s"
            " AND platform_id = %(platform)s AND platform_account_ref = %(ref)s"
            " AND driver_id IS NULL", args)
        linked = cursor.rowcount
        if linked:
            cursor.execute(
                "UPDATE trp_trips t SET driver_id = %(driver)s,"
                " platform_account_id = %(account)s"
                " FROM rev_import_rows r WHERE t.tenant_id = %(tenant)s"
                " AND t.platform_id = %(platform)s AND t.driver_id IS NULL"
                " AND r.tenant_id = t.tenant_id AND r.platform_id = t.platform_id"
                " AND r.external_trip_id = t.external_trip_id"
                " AND r.platform_account_ref = %(ref)s", args)
    if linked:
        _recompute_revenues(session, account.tenant_id, account.platform_id,
                            "r.platform_account_ref = %(ref)s AND r.driver_id = %(driver)s",
                            {"ref": account.external_account_id, "driver": account.driver_id})
    _relink_previews(session, account)
    return linked


def _relink_previews(session: Session, account: PlatformAccount) -> None:
    """An import's summary lists the accounts it found: linking one updates the previews
    waiting for it and the summaries of committed imports whose rows it just linked."""
    waiting = session.scalars(select(RevenueImport).where(
        RevenueImport.platform_id == account.platform_id,
        RevenueImport.status.in_((ImportStatus.VALIDATED.value, ImportStatus.COMMITTED.value)),
        RevenueImport.summary["accounts"].contains(
            [{"platform_account": account.external_account_id, "driver_id": None}])))
    for imp in waiting:
        listed = imp.summary.get("accounts", [])
        accounts = [dict(a, driver_id=str(account.driver_id))
                    if a.get("platform_account") == account.external_account_id else a
                    for a in listed]
        # The summary may list only the first accounts: count down rather than recount.
        linked = sum(1 for a in listed if a.get("driver_id") is None) \
            - sum(1 for a in accounts if a.get("driver_id") is None)
        unknown = int(imp.summary.get("unknown_accounts", 0)) - linked
        imp.summary = {**imp.summary, "accounts": accounts, "unknown_accounts": max(unknown, 0)}
        refresh_version(session, imp)


__all__ = [
    "MONEY_PRECEDENCE",
    "DuplicateImport",
    "ImportUpload",
    "TransactionsCommittedMeanwhile",
    "UnreadableImport",
    "commit_import",
    "get_import",
    "import_errors",
    "imports_query",
    "link_account_rows",
    "list_imports",
    "revalidate_import",
    "rollback_import",
    "upload_import",
]
