"""Reading report timestamps to UTC, vectorised.

The shapes the platforms' exports really write (each one is a case of
``tests/revenue/test_report_parsing.py::test_timestamps_to_utc``; ``docs/imports.md`` keeps the
same table for operators):

=====================================  ============================================================
``2026-11-16 08:15:02 CET``            Uber ``vs reporting``: a zone *abbreviation*, converted with
                                       the fixed offsets of ``common.toml``
``2025-03-04 18:22:11.123 +0000 UTC``  Uber ``vs reporting`` in the per-transaction export: Go's
                                       ``time.String()`` — fraction (0-9 digits), numeric offset,
                                       then an abbreviation (``UTC``, ``CET``, or ``+03`` where the
                                       zone has none). The numeric offset decides.
``2026-11-16T08:15:02Z``               ISO 8601 with ``Z`` or an offset (``+01:00``, ``+0100``,
``2026-11-16T08:15:02.250+01:00``      ``UTC+1``), with or without a fraction
``16/11/2026 08:15``                   day first, or month first in the US (decided for the file)
``16.11.2026 08:15``                   dotted, day first
``2026-11-16 08:15:02``                Excel cells; no zone: the fleet's local time
``1763280000``                         unix seconds (Bolt's API), ``parse_unix_seconds``
=====================================  ============================================================

A time without a zone is local time in the fleet's zone (the caller's ``timezone``); a local
time that does not exist or happens twice at a clock change is a row error, not a guess.
Whether ``03/04/2026`` is 3 April or 4 March is decided once for the file (a day above 12
anywhere; else the language or the fleet's country); when nothing decides, those cells are row
errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from fleetcore.revenue.reports.mapping import CommonData
from fleetcore.revenue.reports.model import UTC_TIME, UnreadableReport

DateOrder = Literal["dmy", "mdy"]

_LOCAL = pl.Datetime("us")
_SLASH = r"^\s*(\d{1,2})/(\d{1,2})/\d{4}"
_GENERAL = (
    r"^\s*(?P<date>\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4})"
    r"(?:[T ,]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<zone>Z|[A-Za-z]{2,5}|(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?)?"
    # Go's time.String() writes an abbreviation after the numeric offset ("+0000 UTC").
    r"(?:\s+(?P<abbr>[A-Za-z]{2,5}|[+-]\d{2,4}))?\s*$"
)
_OFFSET = r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$"
_TAIL_OFFSET = re.compile(
    r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?(?:\s+(?:[A-Z]{2,5}|[+-]\d{2,4}))?"
)
_FRACTION = r"^[.,](\d{1,9})"


def _tail_offset(tail: str, zones: dict[str, int]) -> int | None:
    """Minutes east of UTC for what follows ``YYYY-MM-DD HH:MM:SS[.fff]`` (``" CET"``,
    ``" +0100"``, ``" +0000 UTC"``); None when it is not a zone we read."""
    text = tail.strip().upper()
    if text in zones:
        return zones[text]
    match = _TAIL_OFFSET.fullmatch(text)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 60 + int(match.group(3) or 0))


def detect_date_order(
    frame: pl.DataFrame,
    columns: Sequence[str],
    *,
    language: str | None,
    region: str | None,
    rules: CommonData,
) -> DateOrder | None:
    """Day-first or month-first for slash dates, from the whole file, then from the language
    (French and Portuguese never write the month first), then from the fleet's country."""
    if not columns or frame.height == 0:
        return None
    day_first, month_first = date_evidence(frame, columns)
    return decide_date_order(day_first, month_first, language=language, region=region,
                             rules=rules)


def date_evidence(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[int, int]:
    """Slash dates in ``columns`` that can only be day-first and only month-first: summed
    over the batches of a file, what :func:`decide_date_order` decides by."""
    if not columns or frame.height == 0:
        return 0, 0
    slashed = frame.select(
        [pl.col(c).str.contains("/", literal=True).any().alias(c) for c in columns]
    ).row(0)
    columns = [c for c, has in zip(columns, slashed, strict=True) if has]
    exprs: list[pl.Expr] = []
    for c in columns:
        parts = pl.col(c).str.extract_groups(_SLASH)
        first = parts.struct.field("1").cast(pl.Int32, strict=False)
        second = parts.struct.field("2").cast(pl.Int32, strict=False)
        exprs += [(first > 12).sum().alias(f"{c}\x00d"), (second > 12).sum().alias(f"{c}\x00m")]
    counts = frame.select(exprs).row(0) if exprs else ()
    return sum(counts[0::2]), sum(counts[1::2])


def decide_date_order(
    day_first: int, month_first: int, *, language: str | None, region: str | None,
    rules: CommonData,
) -> DateOrder | None:
    """The file's date order from its evidence (see :func:`detect_date_order`)."""
    if day_first > month_first:
        return "dmy"
    if month_first > day_first:
        return "mdy"
    if day_first:
        raise UnreadableReport(
            "dates mix day-first and month-first (e.g. 13/01 and 01/13): the file cannot be "
            "read one way"
        )
    if language in rules.day_first_languages:
        return "dmy"
    if region:
        return "mdy" if region.upper() in rules.month_first_regions else "dmy"
    return None


@dataclass(slots=True)
class ParsedTimes:
    value: pl.Series  # Datetime(us, UTC)
    reason: pl.Series  # String, NULL when the cell is fine or empty


def parse_datetimes(
    raw: pl.Series,
    *,
    header: str,
    order: DateOrder | None,
    timezone: str | None,
    rules: CommonData,
) -> ParsedTimes:
    """``raw`` (strings) to UTC instants, with a reason for every cell that cannot be read.

    The dominant shapes (``YYYY-MM-DD HH:MM:SS``, an optional fraction, an optional zone)
    take a fast path of slices and one strptime; the other rows alone go through the general
    pattern.
    """
    zones = rules.zone_offsets
    frame = raw.rename("raw").to_frame()
    # What follows the 19 characters of "YYYY-MM-DD HH:MM:SS" is an optional fraction (a
    # different one on every row) and a zone that takes a handful of values in a file (" CET",
    # " +0000 UTC", ""): split the fraction off, read each zone once, map every row through them.
    after = frame.select(pl.col("raw").str.slice(19).alias("t")).get_column("t")
    fraction = after.str.extract(_FRACTION, 1)
    tails = after.str.replace(_FRACTION, "")
    distinct = tails.drop_nulls().unique().to_list()
    offsets = {t: _tail_offset(t, zones) for t in distinct}
    naive_tails = [t for t in distinct if not t.strip()]
    micros = fraction.str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False)
    fast = frame.select(
        (
            pl.col("raw").str.slice(0, 19).str.strptime(_LOCAL, "%Y-%m-%d %H:%M:%S", strict=False)
            + pl.duration(microseconds=pl.lit(micros).fill_null(0))
        ).alias("local"),
        pl.lit(tails).replace_strict(offsets, default=None, return_dtype=pl.Int32).alias("offset"),
        pl.lit(tails).is_in(naive_tails).alias("naive"),
        pl.lit(None, dtype=pl.String).alias("reason"),
    )
    done = fast["local"].is_not_null() & (fast["naive"] | fast["offset"].is_not_null())
    pending = raw.is_not_null() & ~done & (raw.str.strip_chars() != "")
    if pending.any():
        index = pl.arange(0, raw.len(), eager=True).filter(pending)
        general = _general(raw.filter(pending), order, zones)
        fast = fast.with_columns(
            fast["local"].scatter(index, general["local"]),
            fast["offset"].scatter(index, general["offset"]),
            fast["naive"].scatter(index, general["naive"]),
            fast["reason"].scatter(index, general["reason"]),
        )
    frame = frame.with_columns(fast)
    local, naive = pl.col("local"), pl.col("naive") & pl.col("local").is_not_null()
    aware = (local - pl.duration(minutes=pl.col("offset"))).dt.replace_time_zone("UTC")
    value: pl.Expr = pl.when(naive).then(None).otherwise(aware)
    reason: pl.Expr = pl.col("reason")
    naive_rows = frame.select(naive.any()).item()
    if naive_rows:
        if timezone is None:
            example = frame.filter(naive)["raw"][0]
            raise UnreadableReport(
                f"the times in column '{header}' carry no time zone (e.g. '{example}'): give "
                "the fleet's time zone"
            )
        earliest = local.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        latest = local.dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null")
        value = (
            pl.when(~naive)
            .then(aware)
            .when(earliest == latest)
            .then(earliest.dt.convert_time_zone("UTC"))
        )
        reason = (
            pl.when(naive & earliest.is_null())
            .then(pl.lit(f"this local time does not exist in {timezone} (clocks go forward)"))
            .when(naive & (earliest != latest))
            .then(pl.lit(f"this local time happens twice in {timezone} (clocks go back)"))
            .otherwise(reason)
        )
    present = pl.col("raw").is_not_null() & (pl.col("raw").str.strip_chars() != "")
    out = frame.select(
        value.cast(UTC_TIME).alias("value"), reason.alias("reason"), present.alias("present")
    ).with_columns(
        pl.when(pl.col("present") & pl.col("value").is_null())
        .then(pl.coalesce(pl.col("reason"), pl.lit("not a date and time")))
        .otherwise(None)
        .alias("reason")
    )
    return ParsedTimes(out["value"], out["reason"])


def _general(raw: pl.Series, order: DateOrder | None, zones: dict[str, int]) -> pl.DataFrame:
    """The rows the fast path could not read: every accepted shape, one pattern."""
    g = pl.col("raw").str.extract_groups(_GENERAL)
    frame = (
        raw.rename("raw")
        .to_frame()
        .select(
            g.struct.field("date").alias("date"),
            g.struct.field("h").alias("h"),
            g.struct.field("mi").alias("mi"),
            g.struct.field("s").alias("s"),
            g.struct.field("f").alias("f"),
            g.struct.field("zone").str.to_uppercase().alias("zone"),
            g.struct.field("abbr").alias("abbr"),
        )
    )
    date = pl.col("date")
    iso = date.str.extract_groups(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
    other = date.str.extract_groups(r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4})$")
    a, sep, b, year = (other.struct.field(k) for k in ("1", "2", "3", "4"))
    slash = sep == "/"
    a_num, b_num = a.cast(pl.Int32, strict=False), b.cast(pl.Int32, strict=False)
    undecided = pl.lit(order is None)
    day_first = pl.lit(order == "dmy") | ~slash | (undecided & (a_num > 12))
    month_first = (pl.lit(order == "mdy") & slash) | (undecided & slash & (b_num > 12))
    unknown_order = slash & undecided & (a != b) & (a_num <= 12) & (b_num <= 12)
    y = pl.coalesce(iso.struct.field("1"), year)
    m = pl.coalesce(
        iso.struct.field("2"),
        pl.when(day_first).then(b).when(month_first).then(a).when(a == b).then(a),
    )
    d = pl.coalesce(
        iso.struct.field("3"),
        pl.when(day_first).then(a).when(month_first).then(b).when(a == b).then(a),
    )
    text = pl.concat_str(
        [
            y,
            pl.lit("-"),
            m.str.zfill(2),
            pl.lit("-"),
            d.str.zfill(2),
            pl.lit(" "),
            pl.col("h").fill_null("0").str.zfill(2),
            pl.lit(":"),
            pl.col("mi").fill_null("00"),
            pl.lit(":"),
            pl.col("s").fill_null("00"),
        ]
    )
    micros = (
        pl.col("f").str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False).fill_null(0)
    )
    zone = pl.col("zone")
    numeric = zone.str.extract_groups(_OFFSET)
    sign = pl.when(numeric.struct.field("1") == "-").then(-1).otherwise(1)
    numeric_minutes = sign * (
        numeric.struct.field("2").cast(pl.Int32, strict=False) * 60
        + numeric.struct.field("3").cast(pl.Int32, strict=False).fill_null(0)
    )
    named = zone.replace_strict(zones, default=None, return_dtype=pl.Int32)
    # An abbreviation is read only after a numeric offset (Go's "+0100 CET"), which decides.
    offset = (
        pl.when(pl.col("abbr").is_null() | numeric_minutes.is_not_null())
        .then(pl.coalesce(named, numeric_minutes))
        .cast(pl.Int32)
    )
    local = text.str.strptime(_LOCAL, "%Y-%m-%d %H:%M:%S", strict=False) + pl.duration(
        microseconds=micros
    )
    return frame.select(
        local.alias("local"),
        offset.alias("offset"),
        zone.is_null().alias("naive"),
        pl.when(date.is_null() | (pl.col("abbr").is_not_null() & numeric_minutes.is_null()))
        .then(pl.lit("not a date and time"))
        .when(unknown_order)
        .then(
            pl.lit(
                "ambiguous date: nothing in the file shows whether the day or the month comes first"
            )
        )
        .when(zone.is_not_null() & offset.is_null())
        .then(pl.lit("unknown time zone '") + zone + pl.lit("'"))
        .otherwise(None)
        .alias("reason"),
    )


def parse_unix_seconds(column: str) -> tuple[pl.Expr, pl.Expr]:
    """Unix seconds (Bolt's ``order_*_timestamp``) to UTC; anything outside 2000-2100 or not
    a number is a row error (milliseconds would land in the year 50,000)."""
    raw = pl.col(column).str.strip_chars()
    shaped = raw.str.contains(r"^\d{1,12}(?:\.\d{1,6})?$")
    seconds = pl.when(shaped).then(raw).cast(pl.Decimal(38, 6), strict=False)
    in_range = (seconds >= 946_684_800) & (seconds < 4_102_444_800)
    micros = (seconds * 1_000_000).cast(pl.Int64, strict=False)
    value = (
        pl.when(in_range).then(pl.from_epoch(micros, time_unit="us")).dt.replace_time_zone("UTC")
    )
    reason = (
        pl.when(raw.is_null() | (raw == ""))
        .then(pl.lit(None, dtype=pl.String))
        .when(~shaped | ~in_range)
        .then(pl.lit("not a unix time in seconds (2000-2100)"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return value.cast(UTC_TIME), reason
