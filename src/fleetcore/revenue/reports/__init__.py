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
import zipfile
import zlib
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from fleetcore.revenue.reports.normalise import ReadOptions, normalise_table
from fleetcore.revenue.reports.readers import READERS, NotAReport, inflate, sniff

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
    data: bytes,
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
) -> list[ParsedReport]:
    """Read one uploaded file: CSV, XLSX (or XLS/ODS), Bolt orders JSON, or a zip of them.

    ``platform`` / ``report_type`` skip detection (the headers must still fit); ``currency``
    (ISO 4217) is for files that carry none (Uber payments) and must agree with one that does;
    ``fleet_currency`` (the fleet's own) is used only when the file states none and no
    ``currency`` is given (``ParsedReport.currency_source`` says which one was used);
    ``default_region`` (ISO country, e.g. "FR") reads nationally written phone numbers and
    plates and decides ``03/04/2026`` when the file does not; ``timezone`` (IANA, the fleet's)
    reads times written without a zone. ``decimal_mark`` ("." or ",") settles a file whose
    amounts cannot show their decimal mark (every amount like ``1,234``); without it such cells
    are row errors. ``progress`` receives a percentage (0-100) at each stage. Returns a
    :class:`ReportList` (a ``list[ParsedReport]`` with the ``skipped`` zip members). Raises
    :class:`UnreadableReport` (with ``source``) when a file cannot be read.
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
            parsed = _read_one(data, file_name, kind, options, report)
        except UnreadableReport as exc:
            raise type(exc)(exc.reason, source=file_name) from exc
        if progress is not None:
            progress(100)
        return ReportList([parsed])
    try:
        reports, skipped = _read_zip(data, file_name, options, progress)
    except _BROKEN_ZIP as exc:
        if isinstance(exc, UnreadableReport):
            raise
        raise UnreadableReport(f"the zip cannot be opened ({exc})", source=file_name) from exc
    if progress is not None:
        progress(100)
    return ReportList(reports, skipped)


def _read_one(
    data: bytes,
    source: str,
    kind: str,
    options: ReadOptions,
    progress: Callable[[int], None] | None,
) -> ParsedReport:
    if progress is not None:
        progress(5)
    table = READERS[kind](data)
    if progress is not None:
        progress(40)
    return normalise_table(table, source, options, progress)


def _read_zip(
    data: bytes,
    file_name: str,
    options: ReadOptions,
    progress: Callable[[int], None] | None,
) -> tuple[list[ParsedReport], list[tuple[str, str]]]:
    """Every member that is a report; the others listed with the reason they were skipped.
    A member that is a report but cannot be read refuses the whole upload."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
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
                body = inflate(archive, member, budget if whole_zip else limits.MAX_MEMBER_BYTES)
                budget -= len(body)
            except ReportTooLarge as exc:
                reason = (_too_large("the zip inflates", limits.MAX_ZIP_BYTES) if whole_zip
                          else _too_large("it inflates", limits.MAX_MEMBER_BYTES))
                raise ReportTooLarge(f"{member.filename}: {reason}",
                                     source=member.filename) from exc
            except _BROKEN_ZIP as exc:
                raise UnreadableReport(
                    f"{member.filename}: cannot be extracted ({exc})", source=member.filename
                ) from exc
            try:
                reports.append(_read_one(body, member.filename, sniff(body), options, scaled))
            except NotAReport as exc:
                skipped.append((member.filename, exc.reason))
            except ReportTooLarge as exc:
                raise ReportTooLarge(f"{member.filename}: {exc.reason}",
                                     source=member.filename) from exc
            except UnreadableReport as exc:
                raise UnreadableReport(
                    f"{member.filename}: {exc.reason}", source=member.filename
                ) from exc
    if not reports:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped) or "it is empty"
        raise UnreadableReport(f"the zip holds no report ({reasons})", source=file_name)
    return reports, skipped


_BROKEN_ZIP = (zipfile.BadZipFile, zlib.error, RuntimeError, OSError, EOFError, ValueError,
               NotImplementedError)
"""What ``zipfile`` raises on a damaged or unsupported archive (bad headers, a corrupt deflate
stream, an offset before the start, an encrypted or unknown compression method)."""


def _too_large(what: str, limit: int) -> str:
    return f"{what} to more than {limits.size_text(limit)}"


def zip_member(data: bytes, name: str) -> bytes:
    """The bytes of one member of the zip ``data`` (read under the same size limit as when the
    zip was first read)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
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
