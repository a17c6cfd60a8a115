"""Parsers that cannot crash: hypothesis drives ``read_report`` with mutated real-shaped files
in every format the importer reads — CSV in its encodings and separators, XLSX, the Bolt
orders JSON, and zips of them — and the only exception that may come out is the importer's
own :class:`UnreadableReport` (a refused file, with its reason). Anything else would be a 500
at the API and a traceback at the command line.

The budget is bounded (``max_examples`` per test, no deadline), so the suite's time stays
predictable in CI; hypothesis keeps failing examples in ``.hypothesis`` to replay them first.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from fleetcore.revenue.reports import CANONICAL_SCHEMA, UnreadableReport, read_report

SAMPLES = Path(__file__).parent / "samples"
CSV_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.csv"))
BUDGET = settings(max_examples=int(os.environ.get("FLEETCORE_FUZZ_EXAMPLES", "60")), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OPTIONS: dict[str, Any] = {"default_region": "FR", "timezone": "Europe/Paris",
                           "fleet_currency": "EUR"}


def _read(data: bytes, name: str) -> None:
    """What the importer does with an upload: readable, or refused with a reason."""
    try:
        reports = read_report(data, name, **OPTIONS)
    except UnreadableReport as refused:
        assert refused.reason  # noqa: PT017 - the refusal is the expected outcome here
        return
    for report in reports:
        assert report.rows.schema == CANONICAL_SCHEMA
        for error in report.errors:
            assert error.reason


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# Text that breaks parsers: separators, quotes, formula starts, numbers in every spelling,
# dates that do not exist, control characters, long runs, mis-decoded accents.
NASTY = st.one_of(
    st.sampled_from([
        "", " ", ",", ";", "\t", '"', '""', "'", "=1+1", "-", "+", "--5", "(12", "12-",
        "1e400", "NaN", "inf", "1,234.5,6", "1.234,56", "1 234,56", "\u22125", "€", "|€",
        "99999999999999999999", "0.00001", "2026-02-30 08:15:02 CET", "2026-11-16T25:00Z",
        "31/31/2026", "13/13/13", "1763280000000", "\x00", "\r", "\n", "Pr├®nom", "\ufeff",
        "\ud7ff", "x" * 5000,
    ]),
    st.text(max_size=40),
    st.from_regex(r"-?\d{1,16}([.,]\d{1,6})?", fullmatch=True),
)


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """Byte-level damage: cut, splice, flip, duplicate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "truncate"]))
        if op == "flip":
            out[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del out[at:at + draw(st.integers(1, 40))]
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif op == "dup":
            out[at:at] = out[at:at + draw(st.integers(1, 200))]
        else:
            del out[at:]
    return bytes(out)


@st.composite
def mutated_table(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A real sample's header and rows with some cells replaced by nasty text (the header
    stays recognisable most of the time, so the rows reach the deep readers)."""
    name = draw(st.sampled_from(CSV_SAMPLES))
    text = _sample(name).decode("utf-8-sig", errors="replace")
    delimiter = ";" if text.count(";") > text.count(",") else ","
    lines = [line.split(delimiter) for line in text.splitlines() if line]
    header, rows = lines[0], list(lines[1:])
    for _ in range(draw(st.integers(1, 8))):
        if not rows:
            break
        row = draw(st.sampled_from(rows))
        if row:
            row[draw(st.integers(0, len(row) - 1))] = draw(NASTY)
    if draw(st.booleans()):
        rows = rows + [list(r) for r in draw(st.lists(st.sampled_from(rows), max_size=3))] \
            if rows else rows
    if draw(st.integers(0, 9)) == 0 and header:
        header[draw(st.integers(0, len(header) - 1))] = draw(NASTY)
    return header, rows


def _csv(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    def cell(value: str) -> str:
        if any(c in value for c in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "\r\n".join(delimiter.join(cell(v) for v in r) for r in [header, *rows]) + "\r\n"


@BUDGET
@given(name=st.sampled_from(CSV_SAMPLES), data=st.data())
def test_damaged_csv_bytes_are_read_or_refused(name: str, data: st.DataObject) -> None:
    _read(data.draw(mutated_bytes(_sample(name))), name)


@BUDGET
@given(table=mutated_table(), delimiter=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8-sig", "utf-8", "cp1252", "utf-16"]))
def test_csv_with_nasty_cells_in_any_encoding_and_separator_is_read_or_refused(
    table: tuple[list[str], list[list[str]]], delimiter: str, encoding: str,
) -> None:
    text = _csv(*table, delimiter)
    _read(text.encode(encoding, errors="replace"), "report.csv")


@BUDGET
@given(table=mutated_table(), numbers=st.booleans())
def test_xlsx_with_nasty_cells_is_read_or_refused(
    table: tuple[list[str], list[list[str]]], numbers: bool,
) -> None:
    header, rows = table
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", h) for h in header])
    for row in rows:
        cells: list[Any] = []
        for value in row:
            clean = ILLEGAL_CHARACTERS_RE.sub("", value)  # what a worksheet may hold
            try:
                cells.append(float(clean) if numbers and clean.strip() else clean)
            except ValueError:
                cells.append(clean)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    _read(buffer.getvalue(), "report.xlsx")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats()
    | st.text(max_size=20) | NASTY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@BUDGET
@given(data=st.data())
def test_bolt_orders_json_with_any_values_is_read_or_refused(data: st.DataObject) -> None:
    document = json.loads(_sample("bolt_orders.json"))
    orders = document["data"]["orders"]
    for _ in range(data.draw(st.integers(1, 6))):
        order = data.draw(st.sampled_from(orders))
        target = order
        if isinstance(order.get("order_price"), dict) and order["order_price"] \
                and data.draw(st.booleans()):
            target = order["order_price"]
        key = data.draw(st.sampled_from(sorted(target)))
        target[key] = data.draw(JSON_VALUES)
    if data.draw(st.integers(0, 9)) == 0:
        document["data"] = data.draw(JSON_VALUES)
    _read(json.dumps(document, allow_nan=True).encode(), "orders.json")


@BUDGET
@given(data=st.data())
def test_zips_of_damaged_reports_are_read_or_refused(data: st.DataObject) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(data.draw(st.integers(1, 3))):
            name = data.draw(st.sampled_from([*CSV_SAMPLES, "bolt_orders.json"]))
            member = _sample(name)
            if data.draw(st.booleans()):
                member = data.draw(mutated_bytes(member))
            archive.writestr(f"{index}-{name}", member)
    packed = buffer.getvalue()
    if data.draw(st.booleans()):
        packed = data.draw(mutated_bytes(packed))
    _read(packed, "reports.zip")


# --- the crashes the fuzzing found, kept as plain regressions ---------------------------------


def test_a_bare_carriage_return_in_the_header_is_refused_not_a_crash() -> None:
    for data in (b"Driver,Em\rail,Net earnings|\xe2\x82\xac\r\nAnn,a@b.c,1\r\n",
                 b"Driver;Pr\xe9\rnom;Net earnings|\x80\r\nAnn;x;1\r\n"):  # Windows-1252
        with pytest.raises(UnreadableReport):
            read_report(data, "bolt.csv", **OPTIONS)


def _zip_of(name: str, data: bytes) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return bytearray(buffer.getvalue())


def test_a_zip_with_a_corrupt_stream_or_offset_is_refused_not_a_crash() -> None:
    member = _sample("bolt_weekly_en.csv")
    corrupt_stream = _zip_of("week.csv", member)
    start = 30 + len("week.csv")  # the local header, then the deflate stream
    corrupt_stream[start:start + 8] = b"\xff" * 8
    bad_offset = _zip_of("week.csv", member)
    directory = bytes(bad_offset).rindex(b"PK\x01\x02")
    bad_offset[directory + 42:directory + 46] = (2**32 - 1).to_bytes(4, "little")
    for data in (bytes(corrupt_stream), bytes(bad_offset)):
        with pytest.raises(UnreadableReport, match="cannot be"):
            read_report(data, "reports.zip", **OPTIONS)
