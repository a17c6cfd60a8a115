"""Reading amounts written the way platforms and spreadsheets write them, vectorised.

``12.50``, ``-12.50``, ``1,234.56``, ``1 234,56`` (non-breaking or narrow space), ``1.234,56``,
``1'234.56``, ``(12.50)``, ``12.50-``, ``-12,50`` (also with U+2212, the Unicode minus sign),
``€12.50``. Whether ``.`` or ``,`` is the decimal mark is decided once for the whole file from
the evidence in every amount column: a cell only one style can read (``12.50``, ``0,5``,
``1.234.567``) is evidence; a cell both styles read differently (``1,234``: 1.234 or 1234?) is
ambiguous and never decides. With no evidence at all, ambiguous cells are row errors rather
than a guess. Cells the chosen style cannot read are row errors that say why.

Everything is a polars expression over the whole column: no Python per row. The common case
(native exports: ``-12.50``, no grouping) takes a fast path of one validation and one cast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import polars as pl

from fleetcore.revenue.reports.model import MONEY, UnreadableReport

DecimalStyle = Literal["dot", "comma"]

_GROUP = "[\\s'\u2019]"  # thousands separators other than "." and "," (\s covers NBSP, U+202F)
_DOT = rf"^[+-]?(?:\d+|[1-9]\d{{0,2}}(?:(?:,|{_GROUP})\d{{3}})+)(?:\.\d+)?$"
_COMMA = rf"^[+-]?(?:\d+|[1-9]\d{{0,2}}(?:(?:\.|{_GROUP})\d{{3}})+)(?:,\d+)?$"
_AMBIGUOUS_DOT = r"^[+-]?[1-9]\d{0,2}\.\d{3}$"
_HAS_MARK = r"[.,]"

WORK = pl.Decimal(38, 10)


def clean(expr: pl.Expr) -> pl.Expr:
    """Sign and currency spellings reduced to a leading ``-``; blank cells NULL."""
    out = (
        expr.str.strip_chars()
        .str.replace_all("\u2212", "-", literal=True)
        .str.replace_all(r"[€£$]", "")
        .str.strip_chars()
        .str.replace(r"^\((.+)\)$", "-$1")
        .str.replace(r"^([^+-].*?)\s*-$", "-$1")
        .str.replace(r"^([+-])\s+", "$1")
    )
    return pl.when(out == "").then(None).otherwise(out)


@dataclass(slots=True)
class _Scan:
    fast: bool  # every non-empty cell is plain (-1234.56)
    dot_only: int
    comma_only: int
    ambiguous: int


def _scan(
    frame: pl.DataFrame, columns: Sequence[str], *, complete: bool = False
) -> tuple[pl.DataFrame, dict[str, _Scan]]:
    """Per column: can it take the fast path, and what evidence of the decimal mark it holds.

    A column is fast when every non-empty cell casts as a plain number (no exponent). Its
    evidence is counted column by column and, when no column needs the slow path (so no
    cell can show a decimal comma), the counting stops at the first evidence of a decimal
    point: the file's style is then decided. ``complete`` counts every column (a batch of a
    file read in batches is only part of the evidence).
    """
    if not columns or frame.height == 0:
        return frame, {c: _Scan(True, 0, 0, 0) for c in columns}
    # The casts are not kept: a million-row column of decimals is 16 MB, and parse() casting
    # again costs less than holding them all.
    nonplain = frame.select(
        [
            (
                pl.col(c).is_not_null()
                & (
                    pl.col(c).cast(WORK, strict=False).is_null()
                    | pl.col(c).str.contains_any(["e", "E"])
                )
            )
            .sum()
            .alias(c)
            for c in columns
        ]
    ).row(0)
    fast = [c for c, n in zip(columns, nonplain, strict=True) if n == 0]
    slow = [c for c, n in zip(columns, nonplain, strict=True) if n != 0]
    scans: dict[str, _Scan] = {}
    if slow:
        exprs: list[pl.Expr] = []
        for c in slow:
            v = clean(pl.col(c))
            dot, comma = v.str.contains(_DOT), v.str.contains(_COMMA)
            exprs += [
                (dot & ~comma).sum().alias(f"{c}\x00d"),
                (comma & ~dot).sum().alias(f"{c}\x00c"),
                (dot & comma & v.str.contains(_HAS_MARK)).sum().alias(f"{c}\x00a"),
            ]
        counts = frame.select(exprs).row(0)
        for i, c in enumerate(slow):
            scans[c] = _Scan(False, counts[3 * i], counts[3 * i + 1], counts[3 * i + 2])
    decided = False
    for c in fast:
        if decided:
            scans[c] = _Scan(True, 0, 0, 0)
            continue
        dots, ambiguous = frame.select(
            pl.col(c).str.contains(".", literal=True).sum().alias("d"),
            pl.col(c).str.contains(_AMBIGUOUS_DOT).sum().alias("a"),
        ).row(0)
        scans[c] = _Scan(True, dots - ambiguous, 0, ambiguous)
        decided = not slow and dots > ambiguous and not complete
    return frame, scans


def evidence(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[int, int]:
    """Cells only a decimal point reads and cells only a decimal comma reads, in ``columns``
    of ``frame``: summed over the batches of a file, what :func:`decide_style` decides by."""
    _, scans = _scan(frame, columns, complete=True)
    return (sum(s.dot_only for s in scans.values()), sum(s.comma_only for s in scans.values()))


def decide_style(dot: int, comma: int, forced: DecimalStyle | None = None) -> DecimalStyle | None:
    """The file's decimal mark from its evidence (see :func:`detect_style`)."""
    if forced is not None:
        return forced
    if dot > comma:
        return "dot"
    if comma > dot:
        return "comma"
    if dot:
        raise UnreadableReport(
            f"amounts mix decimal points and decimal commas ({dot} cells each way): the file "
            "cannot be read one way"
        )
    return None


def detect_style(
    frame: pl.DataFrame, columns: Sequence[str], forced: DecimalStyle | None = None
) -> tuple[pl.DataFrame, DecimalStyle | None, dict[str, _Scan]]:
    """The file's decimal mark, from every amount column at once (and ``frame`` with the
    columns :func:`parse` reads).

    The style with more unambiguous cells wins (cells of the other style then fail as row
    errors that say so); a tie between two non-zero counts refuses the file; no evidence at all
    returns None (integers read either way; ambiguous cells become row errors). ``forced`` (the
    caller knows) skips the vote.
    """
    frame, scans = _scan(frame, columns)
    if forced is not None:
        return frame, forced, scans
    dot = sum(s.dot_only for s in scans.values())
    comma = sum(s.comma_only for s in scans.values())
    return frame, decide_style(dot, comma), scans


@dataclass(frozen=True, slots=True)
class Parsed:
    """A number column as expressions: the value and the row error's reason (NULL when none)."""

    value: pl.Expr
    reason: pl.Expr


def _describe(style: DecimalStyle | None) -> str:
    return {"dot": "a decimal point", "comma": "a decimal comma", None: "no decimals"}[style]


def parse(
    column: str,
    style: DecimalStyle | None,
    scan: _Scan | None = None,
    *,
    dtype: pl.DataType = MONEY,
    max_places: int | None = 4,
    scale: Decimal | None = None,
    value_ref: pl.Expr | None = None,
) -> Parsed:
    """Expressions reading ``column`` in the file's ``style``.

    Money keeps at most ``max_places`` decimals (more is a row error: amounts are never rounded
    here); quantities (``max_places=None``) are multiplied by ``scale`` and rounded to ``dtype``.
    """
    raw = pl.col(column)
    fast = scan is not None and scan.fast and style != "comma"
    if fast:
        cleaned = raw
        valid = raw.is_not_null()
        if style is None and scan is not None and scan.ambiguous:
            valid = valid & ~raw.str.contains(_AMBIGUOUS_DOT)
        normalised = raw
        number = raw.cast(WORK, strict=False)
        other_ok = pl.lit(False)
    else:
        cleaned = clean(raw)
        dot, comma = cleaned.str.contains(_DOT), cleaned.str.contains(_COMMA)
        if style == "comma":
            valid = comma
            normalised = cleaned.str.replace_all(rf"[.{_GROUP[1:-1]}]", "").str.replace(
                ",", ".", literal=True
            )
            other_ok = dot
        else:
            valid = dot
            if style is None:
                valid = valid & ~(comma & cleaned.str.contains(_HAS_MARK))
            normalised = cleaned.str.replace_all(rf"[,{_GROUP[1:-1]}]", "")
            other_ok = comma if style == "dot" else pl.lit(False)
        number = normalised.cast(WORK, strict=False)
    present = cleaned.is_not_null()
    too_precise = (
        normalised.str.contains(rf"\.\d{{{max_places + 1},}}$")
        if max_places is not None
        else pl.lit(False)
    )
    if max_places is not None:
        # An empty amount cell is 0 (how the platforms write "nothing"); a cell that cannot be
        # read is NULL, so the sums it feeds are NULL too rather than quietly short.
        value = (
            pl.when(~present)
            .then(pl.lit(0).cast(dtype))
            .when(valid & ~too_precise)
            .then(number)
            .cast(dtype, strict=False)
        )
    else:
        scaled: pl.Expr = pl.when(valid).then(number)
        if scale is not None:
            scaled = scaled * pl.lit(scale, dtype=pl.Decimal(38, 10))
        value = scaled.cast(WORK, strict=False).round(_scale_of(dtype)).cast(dtype, strict=False)
    # When the caller keeps the values (``value_ref``), the reasons read them, not recompute.
    stored = value_ref if value_ref is not None else value
    other = "a decimal comma" if style == "dot" else "a decimal point"
    branches: list[tuple[pl.Expr, str]] = []
    if not fast:  # in the fast path every cell is a plain number: only these can fail
        branches.append(
            (~valid & other_ok, f"written with {other}, but this file writes {_describe(style)}")
        )
    if style is None and (not fast or (scan is not None and scan.ambiguous > 0)):
        branches.append(
            (
                ~valid & cleaned.str.contains(_HAS_MARK) & cleaned.str.contains(_DOT),
                "ambiguous number: nothing else in the file shows whether '.' or ',' "
                "separates decimals or thousands",
            )
        )
    if not fast:
        branches.append((~valid, "not a number"))
    if max_places is not None:
        branches.append((too_precise, f"more than {max_places} decimal places"))
    branches.append((stored.is_null(), "out of range"))
    chain: Any = pl.when(~present).then(pl.lit(None, dtype=pl.String))
    for condition, text in branches:
        chain = chain.when(condition).then(pl.lit(text))
    reason: pl.Expr = chain.otherwise(pl.lit(None, dtype=pl.String))
    return Parsed(value, reason)


def _scale_of(dtype: pl.DataType) -> int:
    return int(getattr(dtype, "scale", 0) or 0)


def parse_series(
    values: pl.Series | Sequence[str | None],
    style: DecimalStyle | None = None,
    *,
    detect: bool = False,
) -> tuple[pl.Series, pl.Series]:
    """Parse one column on its own (tests, tools): the Decimal values and the reasons.

    ``detect=True`` decides the style from the values themselves, as a file would.
    """
    series = pl.Series("v", values, dtype=pl.String)
    if detect:
        frame, style, scans = detect_style(series.to_frame(), ["v"])
    else:
        frame, scans = _scan(series.to_frame(), ["v"])
    parsed = parse("v", style, scans["v"])
    out = frame.select(parsed.value.alias("value"), parsed.reason.alias("reason"))
    return out["value"], out["reason"]
