"""From a table of strings and a mapping to a :class:`ParsedReport`, by meaning.

The steps, each over whole columns (polars expressions; Python only loops over columns, over
the few distinct phone numbers and plates, and over the errors found):

1. pick the mapping (told, or detected from the headers) and the language;
2. refuse the file when a required column is missing, a mapped column appears twice, or the
   currency is unknown or contradicts the caller's;
3. read every mapped column by type (amounts in the file's decimal style, dates in its day/
   month order and zone, identifiers normalised) with a reason for each cell that fails;
4. build the canonical fields from the mapping's recipes (sums, signs by meaning, coalesce);
5. check each row (required values, duplicates, more fields than the header) and collect the
   row errors; unknown columns go to ``extra`` and ``unknown_columns``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
import polars as pl

from fleetcore.core.identifiers import InvalidIdentifier, normalise_plate
from fleetcore.core.money import is_currency
from fleetcore.revenue.reports import numbers, times
from fleetcore.revenue.reports.mapping import (
    IGNORED,
    ColumnSpec,
    FieldSpec,
    HeaderMatch,
    Mapping,
    Term,
    common,
    detects,
    mappings,
    match_headers,
)
from fleetcore.revenue.reports.model import (
    CANONICAL_SCHEMA,
    MONEY,
    ParsedReport,
    RowError,
    UnreadableReport,
)
from fleetcore.revenue.reports.readers import OVERFLOW, ROW, RawTable

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_DISTANCE = CANONICAL_SCHEMA["distance_km"]
_NULL_TEXT = pl.lit(None, dtype=pl.String)


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What the caller knows about the file (anything else is detected)."""

    platform: str | None = None
    report_type: str | None = None
    currency: str | None = None
    default_region: str | None = None
    timezone: str | None = None
    decimal_mark: str | None = None  # "." or ",": only when the file cannot show it
    # The fleet's currency: for a file that states none when the caller gives none.
    fleet_currency: str | None = None


@dataclass(frozen=True, slots=True)
class _Check:
    """A row check: where ``reason`` (an expression over the work frame) is not NULL, the row
    has an error. Only a boolean mask is materialised for every row; the reason text is
    computed for the failing rows alone."""

    reason: pl.Expr
    position: int | None  # the file column the error points at (None: the whole row)
    # The value to quote: a work-frame column, or an expression over it (computed, like the
    # reason, for the failing rows alone).
    value: str | pl.Expr | None
    # Which rows fail, when that is cheaper to tell than building ``reason`` for every row.
    failing: pl.Expr | None = None


# --- choosing the mapping --------------------------------------------------------------------


def choose_mapping(headers: list[str], options: ReadOptions) -> HeaderMatch:
    """The report the headers are (or the one the caller names), read with its mapping."""
    candidates = [
        m
        for m in mappings()
        if (options.platform is None or m.platform == options.platform)
        and (options.report_type is None or m.report_type == options.report_type)
    ]
    if not candidates:
        wanted = " ".join(x for x in (options.platform, options.report_type) if x)
        known = ", ".join(sorted(m.name for m in mappings()))
        raise UnreadableReport(f"no reader for '{wanted}' (known: {known})")
    matches = [match_headers(m, headers) for m in candidates]
    if len(matches) == 1 and options.report_type is not None:
        return matches[0]
    detected = [m for m in matches if detects(m)]
    if not detected:
        recognised = max(matches, key=lambda m: m.recognised)
        if recognised.recognised == 0:
            raise UnreadableReport("the headers are not those of any known report")
        seen = [h for h, c in zip(headers, recognised.columns, strict=True) if c is not None]
        raise UnreadableReport(
            "the headers do not identify a report type (closest: "
            f"{recognised.mapping.name}, which needs "
            f"{_spell_groups(recognised.mapping, recognised.mapping.detect, recognised.language)}"
            f"; known here: {', '.join(repr(h) for h in seen[:6])}): give the report type"
        )
    detected.sort(key=lambda m: m.recognised, reverse=True)
    if len(detected) > 1 and detected[0].recognised == detected[1].recognised:
        names = " or ".join(m.mapping.name for m in detected[:2])
        raise UnreadableReport(f"the headers fit {names} equally: give the report type")
    return detected[0]


def _spell(mapping: Mapping, col_id: str, language: str | None) -> str:
    return f"'{mapping.columns[col_id].first_header(language)}'"


def _spell_groups(
    mapping: Mapping, groups: tuple[tuple[str, ...], ...], language: str | None
) -> str:
    parts = []
    for group in groups:
        parts.append(" and ".join(_spell(mapping, c, language) for c in group))
    return " or ".join(f"({p})" if len(groups) > 1 else p for p in parts)


# --- reading one column ----------------------------------------------------------------------


def _stripped(raw: str) -> pl.Expr:
    return _trimmed(pl.col(raw))


def _phone_lookup(values: list[str], region: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """E.164 for each distinct phone (a loop over distinct values, not rows), or a reason."""
    good: dict[str, str] = {}
    bad: dict[str, str] = {}
    for value in values:
        text = value.strip()
        if not text:
            continue
        if not text.startswith(("+", "00")) and region is None:
            bad[value] = "phone number without a country code: give the fleet's country"
            continue
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            bad[value] = "not a phone number"
            continue
        # Possible, not necessarily allocated: the number is only compared with the accounts'
        # (regulators' fiction ranges, used in demos and tests, are possible, not valid).
        if not phonenumbers.is_possible_number(number):
            bad[value] = "not a phone number (wrong length for its country)"
            continue
        good[value] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return good, bad


def _plate_lookup(values: list[str], region: str | None) -> dict[str, str]:
    """A plate in its country's spelling when it reads as one, else trimmed and upper-cased:
    plates only help to find the vehicle, so an odd one is kept, never an error."""
    out: dict[str, str] = {}
    for value in values:
        text = value.strip()
        if not text:
            continue
        for country in (region, None):
            try:
                out[value] = normalise_plate(text, country)
                break
            except InvalidIdentifier:
                continue
        else:
            out[value] = re.sub(r"\s+", " ", text).upper()
    return out


ValueAndReason = Callable[[pl.Expr], tuple[pl.Expr, pl.Expr]]


def _by_distinct(frame: pl.DataFrame, raw: str, read: ValueAndReason) -> tuple[pl.Expr, pl.Expr]:
    """Apply ``read`` to the distinct values of ``raw`` and map every row through the result:
    a column with 200 driver ids in a million rows is read 200 times, not a million."""
    distinct = frame.get_column(raw).drop_nulls().unique()
    value, reason = read(pl.col("k"))
    table = pl.DataFrame({"k": distinct}).select(
        pl.col("k"), value.cast(pl.String).alias("v"), reason.cast(pl.String).alias("r")
    )
    unchanged, clean = table.select(
        (pl.col("v") == pl.col("k")).fill_null(False).all().alias("same"),
        pl.col("r").is_null().all().alias("clean"),
    ).row(0)
    # When every value reads as itself (already trimmed, lower-case...), the column is used as
    # it is: no copy of a million strings.
    value_expr = (
        pl.col(raw)
        if unchanged
        else pl.col(raw).replace_strict(
            table["k"], table["v"], default=None, return_dtype=pl.String
        )
    )
    reason_expr = (
        _NULL_TEXT
        if clean
        else pl.col(raw).replace_strict(
            table["k"], table["r"], default=None, return_dtype=pl.String
        )
    )
    return value_expr, reason_expr


def _trimmed(expr: pl.Expr) -> pl.Expr:
    value = expr.str.strip_chars()
    return pl.when(value == "").then(_NULL_TEXT).otherwise(value)


def _read_text(spec: ColumnSpec, header: str) -> ValueAndReason:
    return lambda k: (_trimmed(k), _NULL_TEXT)


def _read_lower(spec: ColumnSpec, header: str) -> ValueAndReason:
    return lambda k: (_trimmed(k).str.to_lowercase(), _NULL_TEXT)


def _read_account_id(spec: ColumnSpec, header: str) -> ValueAndReason:
    def read(k: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        text = _trimmed(k)
        return pl.when(text.str.contains(_UUID)).then(text.str.to_lowercase()).otherwise(
            text
        ), _NULL_TEXT

    return read


def _read_uuid(spec: ColumnSpec, header: str) -> ValueAndReason:
    def read(k: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        text = _trimmed(k)
        ok = text.str.contains(_UUID)
        return (
            pl.when(ok).then(text.str.to_lowercase()).otherwise(_NULL_TEXT),
            pl.when(text.is_not_null() & ~ok).then(pl.lit("not a UUID")).otherwise(_NULL_TEXT),
        )

    return read


def _read_email(spec: ColumnSpec, header: str) -> ValueAndReason:
    def read(k: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        text = _trimmed(k).str.to_lowercase()
        ok = text.str.contains(_EMAIL)
        return (
            pl.when(ok).then(text).otherwise(_NULL_TEXT),
            pl.when(text.is_not_null() & ~ok)
            .then(pl.lit("not an e-mail address"))
            .otherwise(_NULL_TEXT),
        )

    return read


def _read_currency(spec: ColumnSpec, header: str) -> ValueAndReason:
    def read(k: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        text = _trimmed(k).str.to_uppercase()
        ok = text.map_elements(is_currency, return_dtype=pl.Boolean, skip_nulls=True)
        return (
            pl.when(ok).then(text).otherwise(_NULL_TEXT),
            pl.when(text.is_not_null() & ~ok.fill_null(False))
            .then(pl.lit("not an ISO 4217 currency code"))
            .otherwise(_NULL_TEXT),
        )

    return read


def _read_enum(spec: ColumnSpec, header: str) -> ValueAndReason:
    assert spec.values is not None
    values = spec.values
    known = ", ".join(sorted(set(values)))

    def read(k: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        text = _trimmed(k)
        key = text.str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
        value = key.replace_strict(values, default=None, return_dtype=pl.String)
        return value, (
            pl.when(text.is_not_null() & value.is_null())
            .then(pl.lit(f"unknown value for '{header}' (known: {known})"))
            .otherwise(_NULL_TEXT)
        )

    return read


_DISTINCT_READERS: dict[str, Callable[[ColumnSpec, str], ValueAndReason]] = {
    "text": _read_text,
    "lower": _read_lower,
    "account_id": _read_account_id,
    "uuid": _read_uuid,
    "email": _read_email,
    "currency": _read_currency,
    "enum": _read_enum,
}


def _column(
    spec: ColumnSpec,
    raw: str,
    frame: pl.DataFrame,
    *,
    style: numbers.DecimalStyle | None,
    scan: object,
    options: ReadOptions,
    header: str,
) -> tuple[pl.Expr, pl.Expr]:
    """The value and the reason expressions of one mapped column (datetimes apart)."""
    kind = spec.type
    if kind in ("money", "decimal"):
        parsed = numbers.parse(
            raw,
            style,
            scan,  # type: ignore[arg-type]
            dtype=MONEY if kind == "money" else _DISTANCE,
            max_places=4 if kind == "money" else None,
            scale=spec.scale,
            value_ref=pl.col(f"v:{spec.id}"),
        )
        if spec.empty_error is None:
            return parsed.value, parsed.reason
        # A required total left empty is not "nothing": the row cannot be settled.
        empty = pl.col(raw).is_null() | (pl.col(raw).str.strip_chars() == "")
        return (
            pl.when(empty).then(None).otherwise(parsed.value),
            pl.when(empty).then(pl.lit(spec.empty_error)).otherwise(parsed.reason),
        )
    if kind == "unix_time":
        return times.parse_unix_seconds(raw)
    if kind == "id":
        # Transaction and trip ids are (nearly) all distinct: read the column itself, and
        # lower-case UUIDs only when some are written in capitals.
        padded, capitals = frame.select(
            (pl.col(raw).str.len_bytes() != pl.col(raw).str.strip_chars().str.len_bytes())
            .any()
            .alias("p"),
            pl.col(raw).str.contains("[A-F]").any().alias("c"),
        ).row(0)
        text = _stripped(raw) if padded else pl.col(raw)
        if not capitals:
            return text, _NULL_TEXT
        return (
            pl.when(text.str.contains(_UUID)).then(text.str.to_lowercase()).otherwise(text),
            _NULL_TEXT,
        )
    if kind in _DISTINCT_READERS:
        # Driver ids, names, descriptions, statuses: few distinct values, read once each.
        return _by_distinct(frame, raw, _DISTINCT_READERS[kind](spec, header))
    distinct = frame.get_column(raw).drop_nulls().unique().to_list()
    if kind == "phone":
        good, bad = _phone_lookup(distinct, options.default_region)
        return (
            pl.col(raw).replace_strict(good, default=None, return_dtype=pl.String),
            pl.col(raw).replace_strict(bad, default=None, return_dtype=pl.String),
        )
    if kind == "plate":
        plates = _plate_lookup(distinct, options.default_region)
        return pl.col(raw).replace_strict(plates, default=None, return_dtype=pl.String), _NULL_TEXT
    raise AssertionError(f"column type {kind} has no reader")


# --- canonical fields ------------------------------------------------------------------------


def _signed(term: Term) -> pl.Expr:
    # Empty cells were read as 0; NULL means the cell failed, and the field stays NULL.
    value = pl.col(f"v:{term.column}")
    if term.sign == "-":
        return -value
    if term.sign == "abs":
        return value.abs()
    return value


def _used_terms(spec: FieldSpec, present: Callable[[str], bool]) -> list[Term]:
    """The columns of the first alternative whose required columns are there (and that has at
    least one column); empty when no alternative applies."""
    for alternative in spec.alternatives:
        if not all(present(t.column) for t in alternative if not t.optional):
            continue
        used = [t for t in alternative if present(t.column)]
        if used:
            return used
    return []


def _money_field(spec: FieldSpec, present: Callable[[str], bool]) -> pl.Expr | None:
    """The first alternative whose required columns are there (and at least one column),
    summed with each column's sign rule; None when no alternative applies."""
    used = _used_terms(spec, present)
    if not used:
        return None
    total = _signed(used[0])
    for term in used[1:]:
        total = total + _signed(term)
    return total.cast(MONEY, strict=False)


def _signed_sum(terms: list[tuple[pl.Expr, str]]) -> pl.Expr:
    total: pl.Expr = pl.lit(0).cast(MONEY)
    for expr, sign in terms:
        total = total - expr if sign == "-" else total + expr
    return total


def _derive_from_identity(mapping: Mapping, fields: dict[str, pl.Expr]) -> str | None:
    """Complete ``fields`` from the mapping's identity ``earnings = fare_gross - commission +
    …``: when the file has earnings and one of fare_gross and commission, the other is what
    makes the identity hold (the English Bolt weekly export has no commission column). With
    neither, fare_gross is the earnings less the other terms (after the platform's fee, which
    the file does not show: commission stays NULL), so a tip is never counted in the fare as
    well. Returns the field derived, if any. A term no column feeds counts as 0."""
    if not mapping.identity or "earnings" not in fields:
        return None
    missing = [name for name in ("fare_gross", "commission") if name not in fields]
    if not missing:
        return None
    target = missing[0]
    others = _signed_sum([(fields[n], sign) for n, sign in mapping.identity if n in fields])
    if target == "commission":  # earnings = others - commission
        fields[target] = (others - fields["earnings"]).cast(MONEY, strict=False)
    else:  # earnings = fare_gross + others
        fields[target] = (fields["earnings"] - others).cast(MONEY, strict=False)
    return target


def _amount_text(expr: pl.Expr) -> pl.Expr:
    """An amount as text with at least two decimals and no trailing zeros beyond them."""
    return expr.cast(pl.String).str.replace(r"^(-?\d+\.\d\d\d*?)0*$", "${1}")


def _identity_check(
    mapping: Mapping, label: Callable[[str], str], built: set[str]
) -> tuple[pl.Expr, pl.Expr] | None:
    """Which rows break the identity, and their row error naming every term's column and
    amount; None when the file lacks earnings, fare_gross or commission (nothing to check)."""
    if not mapping.identity or not all(
        f"f:{n}" in built for n in ("earnings", "fare_gross", "commission")
    ):
        return None
    terms = [(n, sign) for n, sign in mapping.identity if f"f:{n}" in built]
    expected = _signed_sum([(pl.col(f"f:{n}"), sign) for n, sign in terms])
    difference = pl.col("f:earnings") - expected
    parts: list[pl.Expr | str] = [
        f"{label('earnings')} ", _amount_text(pl.col("f:earnings")), " ≠ "
    ]
    for i, (name, sign) in enumerate(terms):
        operator = "" if i == 0 else (" - " if sign == "-" else " + ")
        parts += [f"{operator}{label(name)} ", _amount_text(pl.col(f"f:{name}"))]
    message = pl.concat_str(
        [
            pl.lit("the amounts do not add up (off by "),
            _amount_text(difference.cast(MONEY, strict=False)),
            pl.lit("): "),
            *[p if isinstance(p, pl.Expr) else pl.lit(p) for p in parts],
            pl.lit(" = "),
            _amount_text(expected.cast(MONEY, strict=False)),
        ]
    )
    return difference != 0, pl.when(difference != 0).then(message).otherwise(_NULL_TEXT)


_KIND = {"uuid": "uuid", "phone": "phone", "email": "email"}


def _account_kind(spec: FieldSpec, mapping: Mapping, present: Callable[[str], bool]) -> pl.Expr:
    branches: list[tuple[pl.Expr, pl.Expr]] = []
    for term in spec.alternatives[0]:
        if not present(term.column):
            continue
        value = pl.col(f"v:{term.column}")
        column_type = mapping.columns[term.column].type
        if column_type == "account_id":
            kind = (
                pl.when(value.str.contains(_UUID)).then(pl.lit("uuid")).otherwise(pl.lit("other"))
            )
        else:
            kind = pl.lit(_KIND[column_type])
        branches.append((value.is_not_null(), kind))
    if not branches:
        return _NULL_TEXT
    chain: Any = pl.when(branches[0][0]).then(branches[0][1])
    for condition, kind in branches[1:]:
        chain = chain.when(condition).then(kind)
    result: pl.Expr = chain.otherwise(_NULL_TEXT)
    return result


def _field(spec: FieldSpec, present: Callable[[str], bool]) -> pl.Expr | None:
    if spec.how == "prefer" or CANONICAL_SCHEMA[spec.field] == MONEY:
        return _money_field(spec, present)
    columns = [pl.col(f"v:{t.column}") for t in spec.alternatives[0] if present(t.column)]
    if not columns:
        return None
    if spec.how == "join":
        joined = pl.concat_str(columns, separator=" ", ignore_nulls=True)
        return pl.when(joined == "").then(_NULL_TEXT).otherwise(joined)
    if spec.how == "coalesce" and len(columns) > 1:
        return pl.coalesce(columns)
    return columns[0]


# --- the whole file --------------------------------------------------------------------------


@dataclass(slots=True)
class Layout:
    """What the headers and the caller's options decide about a file, before any row is read:
    the mapping, where each mapped column is, the columns not mapped, the currency."""

    match: HeaderMatch
    positions: dict[str, int]  # mapped column id → position in the file
    # (position, name, whether it is a column with no header name, kept only if it holds a
    # value somewhere in the file)
    unmapped: list[tuple[int, str, bool]]
    file_currency: str | None
    currency_source: str | None

    @property
    def mapping(self) -> Mapping:
        return self.match.mapping

    def raw_columns(self, *types: str) -> list[str]:
        """The file columns (``c<position>``) of the mapped columns of these types."""
        columns = self.mapping.columns
        return [f"c{i}" for c, i in self.positions.items() if columns[c].type in types]

    @property
    def nameless(self) -> list[int]:
        return [i for i, _, nameless in self.unmapped if nameless]


def layout(headers: list[str], options: ReadOptions) -> Layout:
    """Choose the mapping and place its columns; UnreadableReport when the headers cannot be
    read (a required column missing, a column twice, the currency unknown or contradicted)."""
    rules = common()
    if options.currency is not None and not is_currency(options.currency):
        raise UnreadableReport(f"'{options.currency}' is not an ISO 4217 currency code")
    match = choose_mapping(headers, options)
    mapping, language = match.mapping, match.language

    # Columns: mapped (one position each), ignored, trailing empty, unknown.
    positions: dict[str, int] = {}
    unmapped: list[tuple[int, str, bool]] = []
    for i, col_id in enumerate(match.columns):
        if not headers[i].strip():
            # a trailing empty column (Bolt) is tolerated; one holding values is unknown
            unmapped.append((i, f"(column {i + 1})", True))
            continue
        if col_id is None:
            unmapped.append((i, headers[i], False))
        elif col_id != IGNORED:
            if col_id in positions:
                raise UnreadableReport(
                    f"column '{headers[i]}' is in the file twice (columns {positions[col_id] + 1} "
                    f"and {i + 1}, both read as {_spell(mapping, col_id, language)})"
                )
            positions[col_id] = i

    def present(col_id: str) -> bool:
        return col_id in positions

    missing = [g for g in mapping.required if not any(present(c) for c in g)]
    if missing:
        spelled = ", ".join(" or ".join(_spell(mapping, c, language) for c in g) for g in missing)
        plural = "s" if len(missing) > 1 else ""
        raise UnreadableReport(f"missing required column{plural} {spelled} ({mapping.name})")

    # Currency: header suffixes, else the caller's; a currency column wins per row.
    symbols = {k.currency_symbol for k in match.keys if k.currency_symbol}
    codes = {rules.currency_of(s, options.currency) for s in symbols}
    if len(codes) > 1:
        raise UnreadableReport(
            f"the amounts are in several currencies ({', '.join(sorted(codes))})"
        )
    file_currency = next(iter(codes)) if codes else options.currency
    if codes and options.currency is not None and file_currency != options.currency:
        raise UnreadableReport(
            f"the file's amounts are in {file_currency}, not {options.currency} as given"
        )
    money_columns = [c for c in positions if mapping.columns[c].type == "money"]
    currency_column = "currency" in mapping.fields and any(
        present(c) for c in mapping.fields["currency"].columns
    )
    currency_source: str | None = "file" if codes or currency_column else None
    if file_currency is not None and not codes:
        currency_source = "given"
    if money_columns and file_currency is None and not currency_column:
        if options.fleet_currency is None:
            raise UnreadableReport("the file does not say its currency: give the currency")
        # Uber's CSVs carry no currency: the fleet's own is the only candidate left.
        file_currency, currency_source = options.fleet_currency, "fleet"
    return Layout(match, positions, unmapped, file_currency, currency_source)


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What is decided once for a whole file, from every row: a file read in batches decides
    them in a first pass (:class:`Evidence`), then normalises each batch with them."""

    style: numbers.DecimalStyle | None
    date_order: times.DateOrder | None
    filled: frozenset[int]  # positions of nameless columns that hold a value somewhere


@dataclass(slots=True)
class Evidence:
    """The first pass over a file read in batches: counts that decide its :class:`FileFacts`
    (the decimal mark, the day/month order, nameless columns in use), added batch by batch."""

    rows: int = 0
    dot: int = 0
    comma: int = 0
    day_first: int = 0
    month_first: int = 0
    filled: set[int] = dataclasses.field(default_factory=set)

    def add(self, frame: pl.DataFrame, lay: Layout) -> None:
        """Count one batch (a :class:`RawTable` frame, blank rows already dropped)."""
        self.rows += frame.height
        if frame.height == 0:
            return
        dot, comma = numbers.evidence(frame, lay.raw_columns("money", "decimal"))
        day, month = times.date_evidence(frame, lay.raw_columns("datetime"))
        self.dot, self.comma = self.dot + dot, self.comma + comma
        self.day_first, self.month_first = self.day_first + day, self.month_first + month
        self.filled |= _filled(frame, [i for i in lay.nameless if i not in self.filled])

    def decide(self, lay: Layout, options: ReadOptions) -> FileFacts:
        """The file's facts; UnreadableReport when its amounts or dates mix two styles."""
        style = numbers.decide_style(self.dot, self.comma, _forced_style(options))
        order = None
        if lay.raw_columns("datetime"):
            order = times.decide_date_order(
                self.day_first, self.month_first, language=lay.match.language,
                region=options.default_region, rules=common())
        return FileFacts(style, order, frozenset(self.filled))


def _filled(frame: pl.DataFrame, positions: list[int]) -> frozenset[int]:
    """Which of these columns hold a value (not only blanks) in ``frame``."""
    if not positions:
        return frozenset()
    used = frame.select(
        [pl.col(f"c{i}").str.strip_chars().ne("").any().alias(str(i)) for i in positions]
    ).row(0)
    return frozenset(i for i, yes in zip(positions, used, strict=True) if yes)


def _forced_style(options: ReadOptions) -> numbers.DecimalStyle | None:
    forced: numbers.DecimalStyle | None = {".": "dot", ",": "comma", None: None}[
        options.decimal_mark
    ]
    return forced


def normalise_table(
    table: RawTable,
    source: str,
    options: ReadOptions,
    progress: Callable[[int], None] | None = None,
    *,
    facts: FileFacts | None = None,
) -> ParsedReport:
    """Read ``table`` by meaning; UnreadableReport when it cannot be read as a whole.

    ``facts`` (a batch of a file read in batches): the decimal mark, the date order and the
    nameless columns in use are the whole file's, and repeats of the unique field are left to
    the caller (they span batches)."""
    report, _ = normalise_batch(table, source, options, progress, facts=facts)
    return report


def normalise_batch(
    table: RawTable,
    source: str,
    options: ReadOptions,
    progress: Callable[[int], None] | None = None,
    *,
    facts: FileFacts | None = None,
    lay: Layout | None = None,
) -> tuple[ParsedReport, list[int | None]]:
    """:func:`normalise_table`, and the file column each row error points at (None: the
    whole row), which orders the errors."""

    def step(percent: int) -> None:
        if progress is not None:
            progress(percent)

    rules = common()
    headers = table.headers
    lay = lay if lay is not None else layout(headers, options)
    match, positions = lay.match, lay.positions
    mapping, language = match.mapping, match.language
    frame = table.frame
    file_currency, currency_source = lay.file_currency, lay.currency_source
    filled = facts.filled if facts is not None else _filled(frame, lay.nameless)
    unknown = [(i, name) for i, name, nameless in lay.unmapped if not nameless or i in filled]

    def present(col_id: str) -> bool:
        return col_id in positions

    step(45)

    # Read every mapped column: values materialised, reasons kept as expressions.
    number_columns = [c for c in positions if mapping.columns[c].type in ("money", "decimal")]
    raw_numbers = [f"c{positions[c]}" for c in number_columns]
    style: numbers.DecimalStyle | None
    if facts is None:
        frame, style, scans = numbers.detect_style(frame, raw_numbers, _forced_style(options))
    else:
        frame, scans = numbers._scan(frame, raw_numbers)
        style = facts.style
    exprs: list[pl.Expr] = []
    checks: list[_Check] = []
    datetime_columns: list[str] = []
    for col_id, position in positions.items():
        spec = mapping.columns[col_id]
        raw = f"c{position}"
        if spec.type == "datetime":
            datetime_columns.append(col_id)
            continue
        value, reason = _column(
            spec,
            raw,
            frame,
            style=style,
            scan=scans.get(raw),
            options=options,
            header=headers[position],
        )
        exprs.append(value.alias(f"v:{col_id}"))
        checks.append(_Check(reason, position, raw))
    frame = frame.with_columns(exprs)
    # Column errors now, while the intermediate columns they read are there; then those go.
    mask_frames: list[pl.DataFrame] = []
    errors: list[tuple[int | None, RowError]] = []
    masks, found = _evaluate(frame, checks, headers)
    mask_frames.append(masks)
    errors += found
    checks = []
    # The cells are read: keep only what is still to be read (dates) or kept (unknown columns).
    keep = {f"c{i}" for i, _ in unknown} | {f"c{positions[c]}" for c in datetime_columns}
    frame = frame.drop([c for c in frame.columns if c.startswith("c") and c not in keep])
    if datetime_columns:
        order = facts.date_order if facts is not None else times.detect_date_order(
            frame,
            [f"c{positions[c]}" for c in datetime_columns],
            language=language,
            region=options.default_region,
            rules=rules,
        )
        for col_id in datetime_columns:
            raw = f"c{positions[col_id]}"
            parsed = times.parse_datetimes(
                frame.get_column(raw),
                header=headers[positions[col_id]],
                order=order,
                timezone=options.timezone,
                rules=rules,
            )
            frame = frame.with_columns(parsed.value.alias(f"v:{col_id}"))
            if parsed.reason.null_count() < parsed.reason.len():
                frame = frame.with_columns(parsed.reason.alias(f"r:{col_id}"))
                check = _Check(pl.col(f"r:{col_id}"), positions[col_id], raw)
                masks, found = _evaluate(frame, [check], headers)
                mask_frames.append(masks)
                errors += found
                frame = frame.drop(f"r:{col_id}")
            if raw not in {f"c{i}" for i, _ in unknown}:
                frame = frame.drop(raw)
    step(70)

    # Canonical fields; the parsed columns they came from are dropped as soon as possible.
    fields: dict[str, pl.Expr] = {}
    for name, recipe in mapping.fields.items():
        built_field = _field(recipe, present)
        if built_field is not None:
            fields[name] = built_field
    derived = _derive_from_identity(mapping, fields)
    if "platform_account_ref" in mapping.fields:
        fields["account_kind"] = _account_kind(
            mapping.fields["platform_account_ref"], mapping, present
        )
    currency_expr: pl.Expr = pl.lit(file_currency, dtype=pl.String)
    if "currency" in fields:
        currency_expr = pl.coalesce(fields["currency"], currency_expr)
    fields["currency"] = currency_expr
    frame = frame.with_columns([e.alias(f"f:{n}") for n, e in fields.items()])
    frame = frame.drop([c for c in frame.columns if c.startswith("v:")])

    # Row checks: required values, duplicates, trips ending before they start, extra fields.
    built = set(frame.columns)

    def source_of(field: str) -> tuple[int | None, str | None]:
        """The file column a field's row error points at, and the value it quotes (the
        field as read: the raw cells are gone by now)."""
        for col_id in mapping.fields[field].columns:
            if present(col_id):
                return positions[col_id], f"f:{field}" if f"f:{field}" in built else None
        return None, None

    for field, message in mapping.required_values.items():
        # A row whose source cell already failed gets no "missing" error on top.
        sources = {positions[x] for x in mapping.fields[field].columns if present(x)}
        failed = sorted({e.row for where, e in errors if where in sources})
        already = pl.col(ROW).is_in(failed) if failed else pl.lit(False)
        missing_value = (
            pl.col(f"f:{field}").is_null() if f"f:{field}" in frame.columns else pl.lit(True)
        )
        where, quoted = source_of(field)
        checks.append(
            _Check(
                pl.when(missing_value & ~already).then(pl.lit(message)).otherwise(_NULL_TEXT),
                where,
                quoted,
            )
        )
    if derived is None:

        def label(field: str) -> str:
            used = _used_terms(mapping.fields[field], present)
            return " + ".join(headers[positions[t.column]] for t in used) or "no column"

        identity = _identity_check(mapping, label, built)
        if identity is not None:
            where, _ = source_of("earnings")
            failing, reason = identity
            checks.append(_Check(reason, where, _amount_text(pl.col("f:earnings")), failing))
    for field in mapping.unique if facts is None else ():
        if f"f:{field}" not in frame.columns:
            continue
        repeats = _duplicates(frame, f"f:{field}")
        if repeats is not None:
            frame = frame.with_columns(repeats.alias(f"u:{field}"))
            where, quoted = source_of(field)
            checks.append(_Check(pl.col(f"u:{field}"), where, quoted))
    if "f:started_at" in frame.columns and "f:ended_at" in frame.columns:
        fields["duration_s"] = (
            (pl.col("f:ended_at") - pl.col("f:started_at")).dt.total_seconds().cast(pl.Int64)
        )
        where, quoted = source_of("ended_at")
        checks.append(
            _Check(
                pl.when(pl.col("f:ended_at") < pl.col("f:started_at"))
                .then(pl.lit("the trip ends before it starts"))
                .otherwise(_NULL_TEXT),
                where,
                quoted,
            )
        )
    checks.append(
        _Check(
            pl.when(pl.col(OVERFLOW).is_not_null())
            .then(pl.lit(f"more fields than the header's {len(headers)}"))
            .otherwise(_NULL_TEXT),
            None,
            OVERFLOW,
        )
    )

    masks, found = _evaluate(frame, checks, headers)
    mask_frames.append(masks)
    errors += found
    errors.sort(key=lambda item: (item[1].row, len(headers) if item[0] is None else item[0]))
    invalid = pl.concat(
        [m.rename({c: f"{i}:{c}" for c in m.columns}) for i, m in enumerate(mask_frames)],
        how="horizontal",
    ).select(pl.any_horizontal(pl.all()).alias("invalid"))["invalid"]
    del mask_frames

    # Unknown columns, kept verbatim.
    names: list[str] = []
    for _, name in unknown:
        candidate, n = name, 2
        while candidate in names:
            candidate, n = f"{name} ({n})", n + 1
        names.append(candidate)
    if unknown:
        extra = pl.struct(
            [pl.col(f"c{i}").alias(n) for (i, _), n in zip(unknown, names, strict=True)]
        ).struct.json_encode()
    else:
        extra = pl.lit("{}")

    canonical: list[pl.Expr] = []
    for name, dtype in CANONICAL_SCHEMA.items():
        if name == "row_number":
            expr = pl.col(ROW)
        elif name == "source":
            expr = pl.lit(source)
        elif name == "extra":
            expr = extra
        elif name == "valid":
            expr = ~pl.lit(invalid)
        elif name == "duration_s" and "duration_s" in fields:
            expr = fields["duration_s"]
        elif f"f:{name}" in frame.columns:
            expr = pl.col(f"f:{name}")
        else:
            expr = pl.lit(None)
        canonical.append(expr.cast(dtype, strict=False).alias(name))
    result = frame.select(canonical)
    del frame
    step(95)

    period = result.select(
        pl.col("occurred_at").min().alias("a"), pl.col("occurred_at").max().alias("b")
    ).row(0)
    report = ParsedReport(
        source=source,
        platform=mapping.platform,
        report_type=mapping.report_type,
        rows=result,
        errors=[error for _, error in errors],
        unknown_columns=names,
        locale=language if language != "api" else None,
        encoding=table.encoding,
        delimiter=table.delimiter,
        decimal_comma=style == "comma",
        currency_source=currency_source,
        period_start=period[0],
        period_end=period[1],
        headers={
            name: headers[positions[first]]
            for name, spec in mapping.fields.items()
            if (first := next((c for c in spec.columns if c in positions), None)) is not None
        },
    )
    return report, [position for position, _ in errors]


def _duplicates(frame: pl.DataFrame, key: str) -> pl.Series | None:
    """ "duplicate of row N" for every repeat of a key after its first row, NULL otherwise
    (None when no key repeats).

    Hashes first: when every hash is distinct (the usual case) no value repeats and nothing
    else is computed; otherwise only the rows whose hash repeats are compared exactly.
    """
    present = frame.select(
        pl.col(key).is_not_null().sum().alias("n"),
        pl.col(key).drop_nulls().hash().n_unique().alias("u"),
    ).row(0)
    if present[0] == present[1]:
        return None
    suspects = frame.select(
        pl.col(ROW),
        pl.col(key),
        (pl.col(key).is_not_null() & pl.col(key).hash().is_duplicated()).alias("s"),
    ).filter(pl.col("s"))
    repeats = suspects.select(
        pl.col(ROW),
        pl.when(pl.col(ROW) != pl.col(ROW).min().over(key))
        .then(pl.lit("duplicate of row ") + pl.col(ROW).min().over(key).cast(pl.String))
        .alias("reason"),
    ).filter(pl.col("reason").is_not_null())
    reasons = frame.select(pl.col(ROW)).join(repeats, on=ROW, how="left", maintain_order="left")
    return reasons["reason"]


def _evaluate(
    frame: pl.DataFrame, checks: list[_Check], headers: list[str]
) -> tuple[pl.DataFrame, list[tuple[int | None, RowError]]]:
    """One boolean column per check (True = the row fails it) and the RowErrors of the failing
    rows with the file column they point at, reasons computed for those rows alone (a loop
    over errors, not over rows)."""
    checks = [c for c in checks if c.reason is not _NULL_TEXT]  # reads that cannot fail
    if not checks:
        return pl.DataFrame({"none": pl.Series([False] * frame.height)}), []
    # ROW keeps the frame's height when every reason happens to be a literal.
    masks = frame.select(
        pl.col(ROW),
        *[
            (c.reason.is_not_null() if c.failing is None else c.failing.fill_null(False)).alias(
                f"m{i}"
            )
            for i, c in enumerate(checks)
        ],
    ).drop(ROW)
    errors: list[tuple[int | None, RowError]] = []
    for i, (check, count) in enumerate(zip(checks, masks.sum().row(0), strict=True)):
        if not count:
            continue
        if isinstance(check.value, pl.Expr):
            value = check.value
        else:
            value = pl.col(check.value) if check.value else _NULL_TEXT
        bad = frame.filter(masks[f"m{i}"]).select(
            pl.col(ROW), value.alias("value"), check.reason.alias("reason")
        )
        column = headers[check.position] if check.position is not None else None
        errors += [
            (check.position, RowError(row=row, column=column, value=raw, reason=reason))
            for row, raw, reason in bad.iter_rows()
        ]
    return masks, errors
