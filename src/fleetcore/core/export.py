"""CSV exports of list queries: streamed, formula-injection safe, money as amount + currency.

:func:`csv_response` turns a SQLAlchemy ``select`` (the same filtered query a list endpoint
pages through, without its limit) and a column spec into a ``text/csv`` StreamingResponse::

    columns = [
        CsvColumn("id", lambda v: v.id),
        CsvColumn("licence_plate", lambda v: v.licence_plate),
        MoneyColumns("purchase_price", lambda v: Money(v.purchase_price, v.currency)),
    ]
    return csv_response(session, statement, columns, filename="vehicles.csv")

Every list endpoint has a sibling ``<list>/export.csv`` taking the same filters and permission
(``tests/test_exports.py`` walks ``/openapi.json`` for it); its route documents the file with
``responses=csv_responses(columns)`` (the header row is the example). :class:`DerivedColumns`
exports what the list shows when a row's API form is computed (e.g. an odometer reading's
``trusted``). A bounded list read in memory (the jobs view) uses :func:`csv_list_response`.

Decisions:

* The request's session commits and closes *before* the response body is sent (``DbSession``
  is function-scoped), so the body cannot be read from it. The generator opens its own
  read-only transaction on the same engine with the same bound context (tenant, actor): RLS
  applies exactly as it did for the request, and rows are fetched in batches (server-side
  cursor, ``yield_per``), so a 100,000-row export never sits in memory.
* Formula injection (CSV injection, OWASP): a text cell starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return (after any spaces) is prefixed with ``'`` so that a spreadsheet
  shows it as text. The file is comma-separated, but a French or German Excel splits lines on
  ``;`` (and a paste splits on tabs) without knowing about our quotes in mid-line: so inside a
  text cell, every ``,``, ``;``, tab or line break followed (after spaces or quotes) by one of those
  characters gets a ``'`` before that character too — ``Dupont;=1+1`` is written
  ``Dupont;'=1+1``, free of formulas whichever separator the spreadsheet uses
  (``tests/test_exports.py`` parses the output both ways). Cells holding a separator, a quote
  or a line break are quoted. Values Fleetcore formats itself (numbers, dates, ids, booleans)
  are never prefixed: a negative amount stays ``-12.50`` and sums in the spreadsheet.
* Money is two columns, ``<name>_amount`` (the API string, exact minor digits) and
  ``<name>_currency``; a missing amount leaves both empty.
* Cells: ``None`` → empty, datetimes ISO 8601 with offset, dates ISO, Decimals in plain
  notation, enums by value, booleans ``true``/``false``. UTF-8 with a header row, CRLF lines
  (RFC 4180).
"""

from __future__ import annotations

import enum
import io
import itertools
import operator
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import Select
from sqlalchemy.orm import Session

from fleetcore.core.db import CONTEXT_KEY, DbContext, bind_context
from fleetcore.core.money import Money

__all__ = [
    "BATCH_SIZE", "CSV_MEDIA_TYPE", "Column", "CsvColumn", "DerivedColumns", "MoneyColumns",
    "attribute_columns", "csv_cell", "csv_header", "csv_line", "csv_list_response",
    "csv_response", "csv_responses", "csv_rows", "money_columns",
]

AnySelect = Select[*tuple[Any, ...]]
"""A SELECT of any number of columns or entities (what an export streams)."""

BATCH_SIZE = 500
CSV_MEDIA_TYPE = "text/csv"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet splitting on one of these separators starts a new cell after it (a line break:
# a new line, once a mid-line quote is not seen as one): where that cell would start (after
# spaces or quotes) with a formula character, a ' goes in front of it.
_FORMULA_AFTER_SEPARATOR = re.compile(r"([,;\t\r\n][ \"]*)(?=[=+\-@\t\r])")
_NEEDS_QUOTES = re.compile(r"[,;\t\"\r\n]")


@dataclass(frozen=True, slots=True)
class CsvColumn:
    """One CSV column: its header and how to read its value from a row."""

    header: str
    value: Callable[[Any], Any]

    def headers(self) -> list[str]:
        """The header cells of this column."""
        return [self.header]

    def cells(self, row: Any) -> list[str]:
        """The cells of ``row``."""
        return [csv_cell(self.value(row))]


@dataclass(frozen=True, slots=True)
class MoneyColumns:
    """A money value as two columns, ``<name>_amount`` and ``<name>_currency``."""

    name: str
    value: Callable[[Any], Money | None]

    def headers(self) -> list[str]:
        """The header cells of this column pair."""
        return [f"{self.name}_amount", f"{self.name}_currency"]

    def cells(self, row: Any) -> list[str]:
        """The amount and currency cells of ``row``."""
        money = self.value(row)
        if money is None:
            return ["", ""]
        return [money.amount_str(), money.currency]


@dataclass(frozen=True, slots=True)
class DerivedColumns:
    """Several columns read from one value derived once per row (e.g. the API model of a row,
    so that an export shows exactly what the list shows)."""

    names: tuple[str, ...]
    value: Callable[[Any], Any]

    def headers(self) -> list[str]:
        """The header cells: the attribute names."""
        return list(self.names)

    def cells(self, row: Any) -> list[str]:
        """The named attributes of the value derived from ``row``."""
        derived = self.value(row)
        return [csv_cell(getattr(derived, name)) for name in self.names]


Column = CsvColumn | MoneyColumns | DerivedColumns
"""One entry of a column spec."""


def attribute_columns(*names: str) -> list[Column]:
    """One column per attribute name, headed by that name (ORM rows)."""
    return [CsvColumn(name, operator.attrgetter(name)) for name in names]


def money_columns(name: str, amount: str | None = None,
                  currency: str = "currency") -> MoneyColumns:
    """``<name>_amount`` and ``<name>_currency`` of an ORM row's amount attribute (``name``
    unless given) and currency attribute; both empty when either is missing."""
    read_amount = operator.attrgetter(amount or name)
    read_currency = operator.attrgetter(currency)

    def value(row: Any) -> Money | None:
        value, code = read_amount(row), read_currency(row)
        return Money(value, code) if value is not None and code else None

    return MoneyColumns(name, value)


def csv_cell(value: Any) -> str:
    """``value`` as a CSV cell; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | uuid.UUID):
        return str(value)
    if isinstance(value, Money):
        return str(value)
    text = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", str(value))
    if text.lstrip(" ").startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line (CRLF) of cells already made safe by :func:`csv_cell`: comma-separated, a
    cell quoted (quotes doubled) when it holds a separator (``,``, ``;``, tab), a quote or a
    line break, so every spreadsheet keeps it whole."""
    return ",".join(
        '"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES.search(cell) else cell
        for cell in cells) + "\r\n"


def csv_rows(rows: Iterator[Any], columns: Sequence[Column]) -> Iterator[str]:
    """The CSV text of ``rows``, header first, one chunk per batch of rows."""
    buffer = io.StringIO()
    buffer.write(csv_line(csv_header(columns)))
    for count, row in enumerate(rows, start=1):
        buffer.write(csv_line([cell for c in columns for cell in c.cells(row)]))
        if count % BATCH_SIZE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _stream(
    bind: Any, context: DbContext | None, statement: AnySelect, columns: Sequence[Column]
) -> Iterator[str]:
    with Session(bind) as export_session:
        if context is not None:
            bind_context(export_session, context)
        with export_session.begin():
            export_session.connection().exec_driver_sql("SET TRANSACTION READ ONLY")
            result = export_session.execute(statement.execution_options(yield_per=BATCH_SIZE))
            rows: Iterator[Any] = (
                iter(result.scalars()) if len(statement.column_descriptions) == 1
                and statement.column_descriptions[0].get("entity") is not None
                else iter(result)
            )
            yield from csv_rows(rows, columns)


def csv_header(columns: Sequence[Column]) -> list[str]:
    """The header cells of a column spec."""
    return [h for c in columns for h in c.headers()]


def csv_responses(
    columns: Sequence[Column], *, description: str = "The rows as CSV, header row first."
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an export route: ``text/csv`` with its header as example,
    so the documentation shows the exact columns the file has."""
    example = ",".join(csv_header(columns)) + "\r\n"
    return {200: {
        "description": f"{description} UTF-8, CRLF lines (RFC 4180), streamed.",
        "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": example}},
    }}


def _download(chunks: Iterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_list_response(
    rows: Sequence[Any], columns: Sequence[Column], *, filename: str
) -> StreamingResponse:
    """A ``text/csv`` download of rows already read (a bounded list, e.g. the newest jobs):
    the same cells, header and formula protection as :func:`csv_response`."""
    return _download(csv_rows(iter(rows), columns), filename)


def csv_response(
    session: Session, statement: AnySelect, columns: Sequence[Column], *, filename: str
) -> StreamingResponse:
    """A streamed ``text/csv`` download of ``statement`` (run with ``session``'s context)."""
    # Bind and context are read now: the request's session is closed when the body streams.
    stream = _stream(session.get_bind(), session.info.get(CONTEXT_KEY), statement, columns)
    # Run the query and take the first chunk before answering, so that a bad filter value is
    # a problem response (422), not an error after the 200 status has been sent.
    first = next(stream, "")
    return _download(itertools.chain([first], stream), filename)
