"""Reading toll-operator statements (CSV) with a mapping file per operator format.

A toll operator sends a statement per badge or per account: one line per passage with the
plate, when, where and how much. Formats differ by operator and country (delimiter, date order,
decimal mark, separate date and time columns, entry and exit gates), so, as for the platform
reports (``fleetcore.revenue.reports``), what differs is data: one TOML file per format in
``toll_mappings/`` (``docs/mappings.md``, "Toll-operator statements"). The reading itself is
the report readers': the same encoding detection and repair (:mod:`.decoding`), header
normalisation (:func:`.mapping.normalise_header`), amount parsing (:mod:`.numbers`) and
timestamp parsing to UTC (:mod:`.times`), so a statement is read exactly as strictly as a
platform report — an amount that cannot be read is a row error, never a guess.

Reading checks what the file alone can tell (a plate, a time, an amount, a currency per line);
the service resolves plates and drivers in SQL for the whole file at once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

import polars as pl

from fleetcore.core.money import is_currency
from fleetcore.revenue.reports import limits
from fleetcore.revenue.reports.decoding import DELIMITERS, decode
from fleetcore.revenue.reports.mapping import common, normalise_header
from fleetcore.revenue.reports.model import UnreadableReport
from fleetcore.revenue.reports.numbers import detect_style, parse
from fleetcore.revenue.reports.times import DateOrder, detect_date_order, parse_datetimes

REQUIRED_FIELDS = ("occurred_at", "plate", "amount")
"""What every line of every format gives."""

TEXT_FIELDS = ("plate", "currency", "operator", "gate", "external_reference")
FIELDS = frozenset({"occurred_at", "amount", *TEXT_FIELDS})

MAX_ROWS = 100_000
"""Lines of one statement (a monthly statement of a large fleet has a few thousand)."""

_PACKAGE = "fleetcore.finance"
_SEP_LINE = re.compile(r"^sep=(.)$", re.IGNORECASE)
_PLATE_KEY = re.compile(r"[^0-9A-Z]")


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one field is made: from one column, columns joined by a space (a date and a time),
    or gates (``entry → exit``, or the one present)."""

    how: Literal["from", "join", "gates"]
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatementFormat:
    """One operator format (``toll_mappings/<name>.toml``)."""

    name: str
    label: str
    currency: str | None
    decimal_mark: Literal["comma", "dot"] | None
    date_order: DateOrder | None
    headers: dict[str, tuple[str, ...]]  # column id -> spellings as written
    fields: dict[str, Recipe]
    ignored: tuple[str, ...]

    def keys(self) -> dict[str, str]:
        """Normalised header -> column id (ignored headers -> "")."""
        found = {normalise_header(h).key: "" for h in self.ignored}
        for column, spellings in self.headers.items():
            found.update({normalise_header(h).key: column for h in spellings})
        return found

    def required_columns(self) -> set[str]:
        return {c for f in REQUIRED_FIELDS for c in self.fields[f].columns}


def _recipe(field: str, raw: Any, columns: dict[str, Any], where: str) -> Recipe:
    if isinstance(raw, str):
        recipe = Recipe("from", (raw,))
    elif isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in ("join", "gates"):
        how, names = next(iter(raw.items()))
        recipe = Recipe(how, tuple(names))
    else:
        raise ValueError(f"{where}: field {field} is a column name, {{join = [...]}} or "
                         "{gates = [entry, exit]}")
    for name in recipe.columns:
        if name not in columns:
            raise ValueError(f"{where}: field {field} uses the unknown column {name!r}")
    return recipe


def load_format(name: str, text: str) -> StatementFormat:
    """Parse and check one mapping file (ValueError naming the file and the problem)."""
    where = f"toll_mappings/{name}.toml"
    raw = tomllib.loads(text)
    columns = raw.get("columns", {})
    fields = raw.get("fields", {})
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise ValueError(f"{where}: the fields {missing} are required")
    currency = raw.get("currency")
    if currency is not None and not is_currency(currency):
        raise ValueError(f"{where}: currency {currency!r} is not an ISO 4217 code")
    mark = raw.get("decimal_mark")
    if mark not in (None, "comma", "dot"):
        raise ValueError(f"{where}: decimal_mark is 'comma' or 'dot'")
    order = raw.get("date_order")
    if order not in (None, "dmy", "mdy"):
        raise ValueError(f"{where}: date_order is 'dmy' or 'mdy'")
    return StatementFormat(
        name=name, label=str(raw.get("label") or name), currency=currency, decimal_mark=mark,
        date_order=order,
        headers={c: tuple(spec["headers"]) for c, spec in columns.items()},
        fields={f: _recipe(f, r, columns, where) for f, r in fields.items()},
        ignored=tuple(raw.get("ignored", {}).get("headers", ())),
    )


@cache
def formats() -> dict[str, StatementFormat]:
    """The packaged formats, by name (loaded and checked once)."""
    folder = resources.files(_PACKAGE).joinpath("toll_mappings")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name.removesuffix(".toml")
            found[name] = load_format(name, entry.read_text("utf-8"))
    return found


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Charge:
    """One line of a statement, read and checked."""

    row: int  # line number in the file, the header being line 1 after blank lines
    occurred_at: datetime
    plate: str
    amount: Decimal
    currency: str
    operator: str | None
    gate: str | None
    external_reference: str


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    column: str
    value: str | None
    message: str

    def as_problem(self) -> dict[str, str]:
        return {"field": self.field, "row": str(self.row), "column": self.column,
                "value": (self.value or "")[:200], "message": self.message}


@dataclass(frozen=True, slots=True)
class Statement:
    format: StatementFormat
    charges: list[Charge]
    errors: list[RowError]


def plate_key(plate: str) -> str:
    """A plate as compared with the fleet's vehicles: letters and digits, upper-case (the same
    expression the service uses in SQL)."""
    return _PLATE_KEY.sub("", plate.upper())


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _header(text: str, wanted: StatementFormat | None) -> tuple[int, str, list[str],
                                                               StatementFormat]:
    """(lines before the data, delimiter, headers, format) from the first non-blank line."""
    lines = _lines(text[: 1 << 20])
    index, forced = 0, None
    if lines and (m := _SEP_LINE.match(lines[0].strip())):
        forced, index = m.group(1), 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines):
        raise UnreadableReport("the file is empty")
    line = lines[index].rstrip("\r").lstrip("\ufeff")
    if len(line.encode("utf-8")) > limits.MAX_HEADER_BYTES:
        raise UnreadableReport("the first line is too long to be a statement header")
    candidates = [wanted] if wanted else list(formats().values())
    best: tuple[int, int, str, list[str], StatementFormat] | None = None
    for delimiter in (forced,) if forced else DELIMITERS:
        headers = next(csv.reader([line], delimiter=delimiter), [])
        keys = [normalise_header(h).key for h in headers]
        for fmt in candidates:
            known = fmt.keys()
            columns = {known[k] for k in keys if known.get(k)}
            if not fmt.required_columns() <= columns:
                continue
            score = (len(columns), -list(formats()).index(fmt.name))
            if best is None or score > best[:2]:
                best = (*score, delimiter, headers, fmt)
    if best is None:
        shown = line if len(line) <= 120 else line[:117] + "..."
        if wanted:
            need = sorted(wanted.headers[c][0] for c in wanted.required_columns())
            raise UnreadableReport(f"line {index + 1} is not a {wanted.label} header (it needs "
                                   f"the columns {', '.join(need)}): '{shown}'")
        raise UnreadableReport(f"no known toll statement header in line {index + 1}: '{shown}' "
                               f"(known formats: {', '.join(formats())})")
    return index + 1, best[2], best[3], best[4]


def read_statement(data: bytes, *, format_name: str | None, currency: str | None,
                   timezone: str, region: str | None) -> Statement:
    """Read a statement: every line becomes a :class:`Charge` or one :class:`RowError` per
    refused field. UnreadableReport when the file as a whole cannot be read."""
    wanted = None
    if format_name is not None:
        if format_name not in formats():
            raise UnreadableReport(f"unknown statement format {format_name!r} "
                                   f"(known: {', '.join(formats())})")
        wanted = formats()[format_name]
    text = decode(data).body.decode("utf-8")
    before, delimiter, headers, fmt = _header(text, wanted)
    keys = fmt.keys()
    position = {}
    for i, h in enumerate(headers):
        column = keys.get(normalise_header(h).key)
        if column and column not in position:
            position[column] = i
    written = {c: headers[i] for c, i in position.items()}

    body = "\n".join(_lines(text)[before:])
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        rows.append((before + reader.line_num, record))
        if len(rows) > MAX_ROWS:
            raise UnreadableReport(f"the statement has more than {MAX_ROWS} lines: split it")
    if not rows:
        raise UnreadableReport("the file has a header but no data rows")

    def cell(record: list[str], column: str) -> str | None:
        i = position.get(column)
        if i is None or i >= len(record):
            return None
        value = record[i].strip()
        if len(value.encode("utf-8")) > limits.MAX_CELL_BYTES:
            value = value[: limits.MAX_CELL_BYTES]
        return value or None

    frame = pl.DataFrame(
        {"row": [r for r, _ in rows],
         **{c: [cell(rec, c) for _, rec in rows] for c in fmt.headers}},
        schema={"row": pl.Int64, **dict.fromkeys(fmt.headers, pl.String)})
    errors: list[RowError] = []

    def recipe_values(field: str) -> list[str | None]:
        recipe = fmt.fields.get(field)
        if recipe is None:
            return [None] * frame.height
        parts = [frame.get_column(c).to_list() for c in recipe.columns]
        out: list[str | None] = []
        for values in zip(*parts, strict=True):
            present = [v for v in values if v]
            if recipe.how == "gates":
                out.append(" → ".join(dict.fromkeys(present)) or None)
            elif recipe.how == "join":
                out.append(" ".join(present) if len(present) == len(values) else None)
            else:
                out.append(present[0] if present else None)
        return out

    def column_label(field: str) -> str:
        recipe = fmt.fields[field]
        return " + ".join(written.get(c, fmt.headers[c][0]) for c in recipe.columns)

    # Amounts: the report readers' parser, in the format's decimal mark.
    amount_column = fmt.fields["amount"].columns[0]
    forced = fmt.decimal_mark
    amounts, style, scans = detect_style(frame.select(amount_column), [amount_column], forced)
    parsed = parse(amount_column, style, scans[amount_column])
    amount_frame = amounts.select(parsed.value.alias("v"), parsed.reason.alias("r"))
    amount_values = amount_frame.get_column("v").to_list()
    amount_reasons = amount_frame.get_column("r").to_list()
    raw_amounts = frame.get_column(amount_column).to_list()

    # Times: joined (date + time) when the format says so, then the report readers' parser.
    raw_times = recipe_values("occurred_at")
    times_frame = pl.DataFrame({"t": raw_times}, schema={"t": pl.String})
    order = fmt.date_order or detect_date_order(times_frame, ["t"], language=None, region=region,
                                                rules=common())
    times = parse_datetimes(times_frame.get_column("t"), header=column_label("occurred_at"),
                            order=order, timezone=timezone, rules=common())
    time_values = times.value.to_list()
    time_reasons = times.reason.to_list()

    plates = recipe_values("plate")
    currencies = recipe_values("currency")
    operators = recipe_values("operator")
    gates = recipe_values("gate")
    references = recipe_values("external_reference")
    rows_numbers = frame.get_column("row").to_list()

    charges: list[Charge] = []
    seen: Counter[str] = Counter()
    for i, row in enumerate(rows_numbers):
        before_errors = len(errors)

        def refuse(field: str, value: str | None, message: str, row: int = row) -> None:
            errors.append(RowError(row, field, column_label(field), value, message))

        plate = plates[i]
        if plate is None or not plate_key(plate):
            refuse("plate", plate, "no plate: the charge cannot be matched to a vehicle")
        if raw_times[i] is None:
            refuse("occurred_at", None, "no date and time")
        elif time_reasons[i] is not None or time_values[i] is None:
            refuse("occurred_at", raw_times[i], time_reasons[i] or "not a date and time")
        amount = amount_values[i]
        if raw_amounts[i] is None:
            refuse("amount", None, "no amount")
        elif amount_reasons[i] is not None or amount is None:
            refuse("amount", raw_amounts[i], amount_reasons[i] or "not an amount")
        elif amount < 0:
            refuse("amount", raw_amounts[i], "a negative line (refund or correction) is not a "
                                             "charge: dispute the charge it corrects instead")
        code = (currencies[i] or fmt.currency or currency or "").upper()
        if not is_currency(code):
            refuse("currency", currencies[i],
                   "no currency: give the statement's currency" if not code
                   else f"{code!r} is not an ISO 4217 currency")
        if len(errors) > before_errors:
            continue
        assert plate is not None
        assert amount is not None
        when: datetime = time_values[i]
        plate_text = re.sub(r"\s+", " ", plate).upper()
        reference = references[i]
        if reference:
            key = f"{fmt.name}:{reference}"
        else:
            # No transaction id in this format: the charge's own content (plus its occurrence
            # number among identical lines of the file) identifies it across re-imports.
            content = "|".join((plate_key(plate), when.isoformat(), str(Decimal(amount)),
                                gates[i] or "", code))
            seen[content] += 1
            digest = hashlib.sha256(f"{content}|{seen[content]}".encode()).hexdigest()[:40]
            key = f"{fmt.name}:sha256:{digest}"
        charges.append(Charge(row=row, occurred_at=when, plate=plate_text,
                              amount=Decimal(amount), currency=code, operator=operators[i],
                              gate=gates[i], external_reference=key[:200]))
    return Statement(fmt, charges, errors)
