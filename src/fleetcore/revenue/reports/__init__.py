"""Platform report readers: Uber and Bolt earnings reports, as fleets receive them, to one
normalised polars DataFrame each (``docs/imports.md``).

:func:`read_report` is the whole public API: bytes and a file name in, a list of
:class:`ParsedReport` out (one per zip member, else one), or :class:`UnreadableReport` with one
clear reason when the file cannot be read as a whole. Row-level problems are
:class:`RowError` values in ``ParsedReport.errors``; the rows stay, marked ``valid = False``.
Nothing here touches the database: the import pipeline stages these frames and does the checks
that need it.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from fleetcore.core.money import is_currency
from fleetcore.revenue.reports import limits
from fleetcore.revenue.reports.model import (
    CANONICAL_SCHEMA,
    MONEY,
    UTC_TIME,
    ParsedReport,
    ReportTooLarge,
    RowError,
    UnreadableReport,
)
from fleetcore.revenue.reports.normalise import (
    Evidence,
    FileFacts,
    Layout,
    ReadOptions,
    _duplicates,
    layout,
    normalise_batch,
)
from fleetcore.revenue.reports.readers import (
    READERS,
    ROW,
    Body,
    NotAReport,
    RawBatches,
    Reencode,
    batches_of,
    inflate,
    inflate_into,
    read_csv_batches,
    sniff,
    whole_bytes,
)

__all__ = [
    "CANONICAL_SCHEMA",
    "MONEY",
    "UTC_TIME",
    "ParsedReport",
    "ReportList",
    "ReportTooLarge",
    "RowError",
    "UnreadableReport",
    "read_report",
    "zip_member",
]

REPORT_EXTENSIONS = frozenset({".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods", ".json"})


class ReportList(list[ParsedReport]):
    """The reports read from one upload, plus the zip members that were not reports."""

    def __init__(self, reports: list[ParsedReport], skipped: list[tuple[str, str]] | None = None):
        super().__init__(reports)
        # (member name, why it was skipped): shown in the import summary.
        self.skipped: list[tuple[str, str]] = list(skipped or [])


def read_report(
    data: bytes | Path,
    file_name: str,
    *,
    platform: str | None = None,
    report_type: str | None = None,
    currency: str | None = None,
    fleet_currency: str | None = None,
    default_region: str | None = None,
    timezone: str | None = None,
    decimal_mark: str | None = None,
    progress: Callable[[int], None] | None = None,
    batches: bool = False,
) -> list[ParsedReport]:
    """Read one uploaded file: CSV, XLSX (or XLS/ODS), Bolt orders JSON, or a zip of them.

    ``data``: the file's bytes, or its path (a CSV on disk is then read in bounded chunks and
    never held whole). ``platform`` / ``report_type`` skip detection (the headers must still
    fit); ``currency`` (ISO 4217) is for files that carry none (Uber payments) and must agree
    with one that does; ``fleet_currency`` (the fleet's own) is used only when the file states
    none and no ``currency`` is given (``ParsedReport.currency_source`` says which one was
    used); ``default_region`` (ISO country, e.g. "FR") reads nationally written phone numbers and
    plates and decides ``03/04/2026`` when the file does not; ``timezone`` (IANA, the fleet's)
    reads times written without a zone. ``decimal_mark`` ("." or ",") settles a file whose
    amounts cannot show their decimal mark (every amount like ``1,234``); without it such cells
    are row errors. ``progress`` receives a percentage (0-100) at each stage. Returns a
    :class:`ReportList` (a ``list[ParsedReport]`` with the ``skipped`` zip members). Raises
    :class:`UnreadableReport` (with ``source``) when a file cannot be read.

    Every file is read twice, batch by batch: a first pass decides what holds for the whole
    file (the decimal mark, the day/month order, the nameless columns in use) and refuses what
    cannot be read, the second normalises each batch with those decisions. With ``batches``
    the second pass is left to the caller: each report's ``stream()`` yields its rows in
    bounded batches (``ParsedReport.stream``), so memory does not grow with the file; without
    it the rows are gathered into ``rows`` and repeats of the unique field found here.
    """
    if decimal_mark not in (None, ".", ","):
        raise UnreadableReport(f"the decimal mark is '.' or ',', not {decimal_mark!r}")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnreadableReport(f"{timezone!r} is not a time zone (e.g. Europe/Paris)") from exc
    region = default_region.upper() if default_region else None
    if fleet_currency is not None and not is_currency(fleet_currency):
        raise UnreadableReport(f"'{fleet_currency}' is not an ISO 4217 currency code")
    options = ReadOptions(platform, report_type, currency, region, timezone, decimal_mark,
                          fleet_currency)
    report = progress
    kind = sniff(data)
    if kind != "zip":
        try:
            parsed = _read_one(data, file_name, kind, options, report, batches)
        except UnreadableReport as exc:
            raise type(exc)(exc.reason, source=file_name) from exc
        if progress is not None:
            progress(100)
        return ReportList([parsed])
    try:
        reports, skipped = _read_zip(data, file_name, options, progress, batches)
    except _BROKEN_ZIP as exc:
        if isinstance(exc, UnreadableReport):
            raise
        raise UnreadableReport(f"the zip cannot be opened ({exc})", source=file_name) from exc
    if progress is not None:
        progress(100)
    return ReportList(reports, skipped)


BATCH_ROWS = 50_000
"""Rows per batch of a spreadsheet or JSON report (read whole, then normalised in batches)."""


def _raw_batches(body: Body, kind: str) -> RawBatches:
    if kind == "csv":
        return read_csv_batches(body)
    data = whole_bytes(body, "a spreadsheet" if kind == "xlsx" else "a JSON report")
    return batches_of(READERS[kind](data), BATCH_ROWS)


def _read_one(
    body: Body,
    source: str,
    kind: str,
    options: ReadOptions,
    progress: Callable[[int], None] | None,
    batches: bool = False,
    folder: Path | None = None,
) -> ParsedReport:
    """``folder``: a temporary folder that holds the file, removed once the report is gone."""
    if progress is not None:
        progress(5)
    reading = _Reading(_raw_batches(body, kind), source, options)
    if folder is not None:
        weakref.finalize(reading, shutil.rmtree, folder, True)
    if progress is not None:
        progress(40)
    if batches:
        reading.report.stream = reading.batches
        return reading.report
    return reading.whole(progress)


class _Reading:
    """One report read in two passes (see :func:`read_report`)."""

    def __init__(self, raw: RawBatches, source: str, options: ReadOptions) -> None:
        self.source, self.options = source, options
        while True:
            try:
                self.lay, self.facts = self._first_pass(raw)
                break
            except Reencode:
                assert raw.reencode is not None
                raw = raw.reencode()
        self.raw = raw
        mapping, language = self.lay.mapping, self.lay.match.language
        self.report = ParsedReport(
            source=source, platform=mapping.platform, report_type=mapping.report_type,
            rows=pl.DataFrame(schema=CANONICAL_SCHEMA),
            locale=language if language != "api" else None, encoding=raw.encoding,
            delimiter=raw.delimiter, decimal_comma=self.facts.style == "comma",
            currency_source=self.lay.currency_source,
            unique=mapping.unique[0] if mapping.unique else None)
        self.positions: list[int | None] = []

    def _first_pass(self, raw: RawBatches) -> tuple[Layout, FileFacts]:
        """Every batch read once: the file's facts, and every reason to refuse it."""
        try:
            lay: Layout | None = layout(raw.headers, self.options)
            refused: UnreadableReport | None = None
        except UnreadableReport as exc:
            # Said once the file is read: a file that cannot be read says that first.
            lay, refused = None, exc
        evidence = Evidence()
        for frame in raw.batches():
            if lay is None:
                evidence.rows += frame.height
            else:
                evidence.add(frame, lay)
        if evidence.rows == 0:
            raise UnreadableReport("the file has a header but no data rows")
        if refused is not None or lay is None:
            assert refused is not None
            raise refused
        return lay, evidence.decide(lay, self.options)

    def batches(self) -> Iterator[pl.DataFrame]:
        """The second pass: each batch normalised (CANONICAL_SCHEMA), its row errors and
        dates added to the report."""
        report = self.report
        report.errors.clear()
        self.positions.clear()
        report.period_start = report.period_end = None
        hashes: list[pl.Series] = []
        keyed = 0
        first = True
        for frame in self.raw.batches():
            part, positions = normalise_batch(self.raw.table(frame), self.source, self.options,
                                              facts=self.facts, lay=self.lay)
            report.errors += part.errors
            self.positions += positions
            if first:
                report.unknown_columns, report.headers = part.unknown_columns, part.headers
                first = False
            if part.period_start is not None:
                report.period_start = min(filter(None, (report.period_start,
                                                        part.period_start)))
            if part.period_end is not None:
                report.period_end = max(filter(None, (report.period_end, part.period_end)))
            if report.unique is not None:
                keys = part.rows.get_column(report.unique).drop_nulls()
                hashes.append(keys.hash())
                keyed += keys.len()
            yield part.rows
        report.repeats = bool(hashes) and pl.concat(hashes).n_unique() < keyed

    def whole(self, progress: Callable[[int], None] | None) -> ParsedReport:
        """Every batch gathered into ``rows``, repeats of the unique field found."""
        report = self.report
        frames = list(self.batches())
        rows = pl.concat(frames) if len(frames) > 1 else frames[0]
        del frames
        if progress is not None:
            progress(90)
        if report.repeats and report.unique is not None:
            rows = self._repeats(rows, report.unique)
        report.rows = rows
        return report

    def _repeats(self, rows: pl.DataFrame, key: str) -> pl.DataFrame:
        """"duplicate of row N" on every repeat of ``key`` after its first row (the errors kept
        in file order), and those rows invalid."""
        work = rows.select(pl.col("row_number").alias(ROW), pl.col(key))
        repeats = _duplicates(work, key)
        if repeats is None:
            return rows
        spec = self.lay.mapping.fields[key]
        position = next(self.lay.positions[c] for c in spec.columns if c in self.lay.positions)
        column = self.raw.headers[position]
        found = work.with_columns(repeats.alias("reason")).filter(
            pl.col("reason").is_not_null())
        width = len(self.raw.headers)
        errors = [*zip(self.positions, self.report.errors, strict=True)] + [
            (position, RowError(row=row, column=column, value=value, reason=reason))
            for row, value, reason in found.iter_rows()]
        errors.sort(key=lambda e: (e[1].row, width if e[0] is None else e[0]))
        self.positions = [p for p, _ in errors]
        self.report.errors = [e for _, e in errors]
        return rows.with_columns((pl.col("valid") & repeats.is_null()).alias("valid"))


def _read_zip(
    data: Body,
    file_name: str,
    options: ReadOptions,
    progress: Callable[[int], None] | None,
    batches: bool = False,
) -> tuple[list[ParsedReport], list[tuple[str, str]]]:
    """Every member that is a report; the others listed with the reason they were skipped.
    A member that is a report but cannot be read refuses the whole upload. (Members are
    inflated in memory, each under ``MAX_MEMBER_BYTES``.)"""
    with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        reports: list[ParsedReport] = []
        skipped: list[tuple[str, str]] = []
        candidates = []
        for member in members:
            base = posixpath.basename(member.filename)
            extension = posixpath.splitext(base)[1].lower()
            if member.filename.startswith("__MACOSX/") or base.startswith("."):
                skipped.append((member.filename, "system file"))
            elif extension == ".zip":
                skipped.append((member.filename, "a zip inside the zip is not opened"))
            elif extension not in REPORT_EXTENSIONS:
                skipped.append((member.filename, "not a report file (CSV, XLSX or JSON)"))
            elif member.file_size > limits.MAX_MEMBER_BYTES:
                raise ReportTooLarge(
                    f"{member.filename}: {_too_large('it inflates', limits.MAX_MEMBER_BYTES)}",
                    source=member.filename)
            else:
                candidates.append(member)
        # The sizes a zip declares are only a first answer (a bomb may lie): every member is
        # also counted while it inflates, against its own limit and the whole zip's.
        declared = sum(m.file_size for m in candidates)
        if declared > limits.MAX_ZIP_BYTES:
            raise ReportTooLarge(_too_large("the zip inflates", limits.MAX_ZIP_BYTES),
                                 source=file_name)
        budget = limits.MAX_ZIP_BYTES
        for number, member in enumerate(candidates):
            scaled = _scaled(progress, number, len(candidates))
            try:
                whole_zip = budget < limits.MAX_MEMBER_BYTES
                limit = budget if whole_zip else limits.MAX_MEMBER_BYTES
                folder: Path | None = None
                body: Body
                if batches:  # inflated to a temporary file, read from there in batches
                    folder = Path(tempfile.mkdtemp(prefix="fleetcore-zip-"))
                    target = folder / "member"
                    with target.open("wb") as out:
                        budget -= inflate_into(archive, member, limit, out)
                    body = target
                else:
                    body = inflate(archive, member, limit)
                    budget -= len(body)
            except ReportTooLarge as exc:
                _remove(folder)
                reason = (_too_large("the zip inflates", limits.MAX_ZIP_BYTES) if whole_zip
                          else _too_large("it inflates", limits.MAX_MEMBER_BYTES))
                raise ReportTooLarge(f"{member.filename}: {reason}",
                                     source=member.filename) from exc
            except _BROKEN_ZIP as exc:
                _remove(folder)
                raise UnreadableReport(
                    f"{member.filename}: cannot be extracted ({exc})", source=member.filename
                ) from exc
            try:
                reports.append(_read_one(body, member.filename, sniff(body), options, scaled,
                                          batches, folder))
                folder = None  # removed once the report is no longer used
            except NotAReport as exc:
                skipped.append((member.filename, exc.reason))
            except ReportTooLarge as exc:
                raise ReportTooLarge(f"{member.filename}: {exc.reason}",
                                     source=member.filename) from exc
            except UnreadableReport as exc:
                raise UnreadableReport(
                    f"{member.filename}: {exc.reason}", source=member.filename
                ) from exc
            finally:
                _remove(folder)
    if not reports:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped) or "it is empty"
        raise UnreadableReport(f"the zip holds no report ({reasons})", source=file_name)
    return reports, skipped


_BROKEN_ZIP = (zipfile.BadZipFile, zlib.error, RuntimeError, OSError, EOFError, ValueError,
               NotImplementedError)
"""What ``zipfile`` raises on a damaged or unsupported archive (bad headers, a corrupt deflate
stream, an offset before the start, an encrypted or unknown compression method)."""


def _remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _too_large(what: str, limit: int) -> str:
    return f"{what} to more than {limits.size_text(limit)}"


def zip_member(data: Body, name: str) -> bytes:
    """The bytes of one member of the zip ``data`` (read under the same size limit as when the
    zip was first read)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            return inflate(archive, archive.getinfo(name), limits.MAX_MEMBER_BYTES)
    except ReportTooLarge as exc:
        raise ReportTooLarge(f"{name}: {_too_large('it inflates', limits.MAX_MEMBER_BYTES)}",
                             source=name) from exc
    except _BROKEN_ZIP as exc:
        raise UnreadableReport(f"{name}: cannot be extracted ({exc})", source=name) from exc


def _scaled(
    progress: Callable[[int], None] | None, number: int, total: int
) -> Callable[[int], None] | None:
    if progress is None:
        return None

    def report(percent: int) -> None:
        progress((100 * number + percent) // total)

    return report
