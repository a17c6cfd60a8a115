"""Reading one file (CSV, XLSX/XLS/ODS, Bolt orders JSON) into a table of strings.

Every reader returns a :class:`RawTable`: the headers as written, one polars String column per
header (``c0``, ``c1``…, never inferred: numbers and dates are read by meaning later, once the
file's decimal mark and date order are known), and each row's line number in the file. Blank
lines keep their number but are dropped; a row with more fields than the header is flagged.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from fleetcore.core.bounded_json import JsonTooDeep, load_json
from fleetcore.revenue.reports import limits
from fleetcore.revenue.reports.decoding import (
    Decoded,
    HeaderLine,
    decode,
    fall_back,
    find_header,
)
from fleetcore.revenue.reports.mapping import all_known_keys, common, normalise_header
from fleetcore.revenue.reports.model import ReportTooLarge, UnreadableReport

ROW = "__row__"
OVERFLOW = "__overflow__"
_HEADER_SEARCH_ROWS = 20  # spreadsheets may put a title above the header


class NotAReport(UnreadableReport):
    """No header of any known report: in a zip, such a member is skipped, not fatal."""


@dataclass(slots=True)
class RawTable:
    """A file's cells as strings, before any mapping is applied."""

    headers: list[str]
    frame: pl.DataFrame  # c0..c{n-1} String, ROW Int64, OVERFLOW String (first extra field)
    kind: str  # "csv" | "xlsx" | "json"
    encoding: str | None = None
    delimiter: str | None = None

    def column(self, position: int) -> str:
        return f"c{position}"


def _finish(frame: pl.DataFrame, width: int, headers: list[str]) -> pl.DataFrame:
    """Drop blank rows (their line numbers stay as they were) and refuse a header-only file,
    or one whose headers or cells are over their size limits."""
    check_headers(headers)
    frame = _finish_batch(frame, width, headers)
    if frame.height == 0:
        raise UnreadableReport("the file has a header but no data rows")
    return frame


def _finish_batch(frame: pl.DataFrame, width: int, headers: list[str]) -> pl.DataFrame:
    """Refuse a cell over its size limit; drop blank rows (their line numbers stay)."""
    cells = [f"c{i}" for i in range(width)]
    _check_cells(frame, cells, headers)
    blank = pl.all_horizontal([pl.col(c).is_null() for c in cells]) & pl.col(OVERFLOW).is_null()
    if frame.select(blank.any()).item():  # filtering copies every column: only when needed
        frame = frame.filter(~blank)
    return frame


def check_headers(headers: list[str]) -> None:
    """Refuse headers longer than ``MAX_HEADER_BYTES`` altogether."""
    size = sum(len(h.encode("utf-8")) + 1 for h in headers)
    if size > limits.MAX_HEADER_BYTES:
        raise UnreadableReport(
            f"the header is longer than {limits.size_text(limits.MAX_HEADER_BYTES)}: "
            f"{len(headers)} columns, {size} bytes (not a platform report)")


def _check_cells(frame: pl.DataFrame, cells: list[str], headers: list[str]) -> None:
    """Refuse the file at its first cell over ``MAX_CELL_BYTES`` (one vectorised pass; the row
    and column are looked up only when there is one)."""
    limit = limits.MAX_CELL_BYTES
    columns = [c for c in (*cells, OVERFLOW) if c in frame.columns]
    longest = frame.select(
        pl.max_horizontal([pl.col(c).str.len_bytes().max() for c in columns])
    ).item()
    if longest is None or longest <= limit:
        return
    too_long = pl.any_horizontal([pl.col(c).str.len_bytes() > limit for c in columns])
    row = frame.filter(too_long).head(1)
    for position, name in enumerate(columns):
        size = row.get_column(name).str.len_bytes().item()
        if size is not None and size > limit:
            header = headers[position] if position < len(headers) else "(beyond the header)"
            shown = header if len(header) <= 60 else header[:57] + "..."
            raise UnreadableReport(
                f"row {row.get_column(ROW).item()}, column '{shown}': the cell holds "
                f"{size} bytes, more than the {limits.size_text(limit)} a report cell may hold")


# --- CSV -------------------------------------------------------------------------------------


Body = bytes | Path
"""A file as bytes in memory, or on disk (read in bounded chunks, never held whole)."""

BATCH_BYTES = 8 << 20
"""About how much of a CSV file one batch reads (≈45,000 rows of an Uber payments report):
what bounds the reader's memory, whatever the file's size."""

_HEAD = (1 << 20) + (64 << 10)  # the first megabyte that decides the encoding, and some more


class Reencode(Exception):  # noqa: N818 - a signal, not an error
    """polars met a byte that is not UTF-8 past the first megabyte: the file is decoded again
    as a whole (``decoding.fall_back``) and read again from its start."""


@dataclass(slots=True)
class RawBatches:
    """A file's cells as strings in batches: what :class:`RawTable` holds, one bounded
    :class:`RawTable` frame at a time. ``batches()`` reads the file from its start each time it
    is called: one pass decides what is decided for the whole file (decimal mark, date order),
    the next normalises and stages each batch."""

    headers: list[str]
    kind: str
    batches: Callable[[], Iterator[pl.DataFrame]]
    encoding: str | None = None
    delimiter: str | None = None
    # Only for a CSV file whose first megabyte was UTF-8: how to decode it again as a whole.
    reencode: Callable[[], RawBatches] | None = None

    def table(self, frame: pl.DataFrame) -> RawTable:
        return RawTable(self.headers, frame, self.kind, self.encoding, self.delimiter)


def batches_of(table: RawTable, rows: int) -> RawBatches:
    """A table already read whole (spreadsheets, JSON) served in batches of ``rows``."""
    return RawBatches(
        table.headers, table.kind, lambda: iter(table.frame.iter_slices(rows)),
        table.encoding, table.delimiter)


def whole_bytes(body: Body, what: str) -> bytes:
    """The file's bytes, for a reader that needs them all at once: no more than
    ``MAX_MEMBER_BYTES`` of a file on disk."""
    if isinstance(body, bytes):
        return body
    if body.stat().st_size > limits.MAX_MEMBER_BYTES:
        raise ReportTooLarge(f"{what} is read whole, and this one is larger than "
                             f"{limits.size_text(limits.MAX_MEMBER_BYTES)}")
    return body.read_bytes()


def read_csv_table(data: bytes) -> RawTable:
    """A delimited text file read whole (the batches of :func:`read_csv_batches` together)."""
    raw = read_csv_batches(data)
    try:
        frames = list(raw.batches())
    except Reencode:
        assert raw.reencode is not None
        raw = raw.reencode()
        frames = list(raw.batches())
    frame = pl.concat(frames) if frames else pl.DataFrame()
    if frame.height == 0:
        raise UnreadableReport("the file has a header but no data rows")
    return raw.table(frame)


def read_csv_batches(body: Body, *, batch_bytes: int | None = None) -> RawBatches:
    """A delimited text file: encoding, header line and delimiter detected from its start,
    then read by polars in chunks of about ``batch_bytes`` cut at record boundaries, every
    column as String. A file on disk that is UTF-8 is never held whole; one that must be
    transcoded (Windows-1252, UTF-16, repaired accents) is decoded whole first."""
    batch_bytes = batch_bytes or BATCH_BYTES
    decoded: Decoded | None = None
    if isinstance(body, Path):
        with body.open("rb") as handle:
            head = handle.read(_HEAD)
        if len(head) == _HEAD:
            try:
                decoded = decode(head, verify=False)
            except UnreadableReport:
                decoded = None  # decided on the whole file below (which says why)
            if decoded is not None and (decoded.verified or decoded.encoding not in (
                    "utf-8", "utf-8-sig")):
                decoded = None
    if decoded is not None:
        assert isinstance(body, Path)
        path = body

        def again() -> RawBatches:
            whole = decode(whole_bytes(path, _TRANSCODED), verify=False)
            return _decoded_batches(fall_back(whole), batch_bytes)

        return _csv_batches(head, lambda: path.open("rb"), decoded, batch_bytes, again)
    return _decoded_batches(decode(whole_bytes(body, _TRANSCODED), verify=False), batch_bytes)


_TRANSCODED = "a CSV file that is not UTF-8 (or whose accents need repair)"


def _decoded_batches(decoded: Decoded, batch_bytes: int) -> RawBatches:
    data = decoded.data

    def again() -> RawBatches:
        return _decoded_batches(fall_back(decoded), batch_bytes)

    return _csv_batches(data, lambda: io.BytesIO(data), decoded, batch_bytes,
                        None if decoded.verified else again)


def _csv_batches(
    head: bytes,
    open_body: Callable[[], BinaryIO],
    decoded: Decoded,
    batch_bytes: int,
    reencode: Callable[[], RawBatches] | None,
) -> RawBatches:
    try:
        header = find_header(head)
    except UnreadableReport as exc:
        if exc.reason.startswith("no known report header"):
            raise NotAReport(exc.reason) from exc
        raise
    check_headers(header.headers)

    # Past this a record has a cell over the limit whatever its layout (one cell per field,
    # the header's and 16 more, each doubled by quoting).
    longest = max(batch_bytes, 2 * (len(header.headers) + 17) * (limits.MAX_CELL_BYTES + 3))

    def batches() -> Iterator[pl.DataFrame]:
        line = 1  # the file's line number at the start of the chunk
        skip = header.lines_before_data
        with open_body() as stream:
            for chunk in _chunks(stream, batch_bytes, longest):
                frame = _read_chunk(chunk, header, skip, line + skip, decoded.verified)
                line += chunk.count(b"\n")
                skip = 0
                if frame is not None:
                    yield frame

    return RawBatches(header.headers, "csv", batches, decoded.encoding, header.delimiter,
                      reencode)


def _chunks(stream: BinaryIO, size: int, longest: int) -> Iterator[bytes]:
    """The stream in pieces of about ``size`` bytes, each ending after a record: a line break
    outside quotes (an even number of quote characters before it, as polars counts them).
    A record longer than ``longest`` (no cell of it can be within the limits) is cut where the
    bytes are: the reader refuses it, and memory stays bounded."""
    pending: list[bytes] = []
    waiting = 0
    while block := stream.read(size):
        if b"\n" not in block and waiting + len(block) <= longest:
            pending.append(block)  # no record can end in it: joined once one does
            waiting += len(block)
            continue
        buffer = b"".join([*pending, block]) if pending else block
        cut = _record_end(buffer)
        if cut == 0 and len(buffer) <= longest:
            pending, waiting = [buffer], len(buffer)
            continue
        cut = cut or len(buffer)
        yield buffer[:cut]
        rest = buffer[cut:]
        pending, waiting = ([rest], len(rest)) if rest else ([], 0)
    if pending:
        yield b"".join(pending)


def _record_end(buffer: bytes) -> int:
    """Where the last complete record of ``buffer`` ends (0: none yet)."""
    end = buffer.rfind(b"\n")
    if b'"' not in buffer:
        return end + 1
    for _ in range(64):  # a long quoted cell: look a little further back, else read more
        if end < 0:
            return 0
        if buffer.count(b'"', 0, end) % 2 == 0:
            return end + 1
        end = buffer.rfind(b"\n", 0, end)
    return 0


def _read_chunk(
    chunk: bytes, header: HeaderLine, skip: int, first_line: int, verified: bool
) -> pl.DataFrame | None:
    """One chunk of records as a :class:`RawTable` frame (blank rows dropped; None when
    nothing is left). ``first_line``: the file's line number of its first record."""
    width = len(header.headers)
    frame: pl.DataFrame | None = None
    attempts = [1, 16]
    while attempts:
        spare = attempts[0]
        schema = {f"c{i}": pl.String() for i in range(width)}
        schema |= {f"x{j}": pl.String() for j in range(spare)}
        try:
            frame = pl.read_csv(
                chunk,
                has_header=False,
                skip_lines=skip,
                separator=header.delimiter,
                quote_char='"',
                schema=schema,
                missing_columns="insert",
                raise_if_empty=False,
            )
            break
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError) as exc:
            message = str(exc)
            if "more fields" in message or "not specified in schema" in message:
                attempts.pop(0)
                continue
            if "invalid utf-8" in message and not verified:
                # polars found a byte the first megabyte did not show: decide the encoding
                # again on the whole file, then read it again.
                raise Reencode from exc
            raise UnreadableReport(
                f"the file cannot be read as CSV: {message.splitlines()[0]}"
            ) from exc
    if frame is None:
        raise UnreadableReport("some lines have many more fields than the header")
    if frame.height == 0:
        return None
    spares = [c for c in frame.columns if c.startswith("x")]
    # with_row_index keeps polars' parse chunks as they are (an int_range column would make it
    # copy every column into one chunk).
    frame = (
        frame.with_columns(pl.coalesce([pl.col(c) for c in spares]).alias(OVERFLOW))
        .drop(spares)
        .with_row_index(ROW, offset=first_line)
        .with_columns(pl.col(ROW).cast(pl.Int64))
    )
    records_end = skip + frame.height - (0 if chunk.endswith(b"\n") else 1)
    if b'"' in chunk and chunk.count(b"\n") > records_end:
        # Some quoted cells span lines: shift the numbers of the rows after them.
        inner = pl.sum_horizontal(
            [
                pl.col(f"c{i}").str.count_matches("\n", literal=True).fill_null(0)
                for i in range(width)
            ]
        )
        frame = frame.with_columns((pl.col(ROW) + inner.cum_sum() - inner).alias(ROW))
    frame = _finish_batch(frame, width, header.headers)
    return frame if frame.height else None


# --- spreadsheets ----------------------------------------------------------------------------


def read_excel_table(data: bytes) -> RawTable:
    """The first sheet holding a known header (searched in its first rows); cells as text, row
    numbers as the spreadsheet shows them."""
    import fastexcel

    if data.startswith(b"PK"):
        _check_inflated(data)
    try:
        reader = fastexcel.read_excel(data)
    except Exception as exc:  # fastexcel raises its own error types for every corruption
        raise UnreadableReport(f"the spreadsheet cannot be opened: {exc}") from exc
    known = all_known_keys()
    words = common().currency_words
    for index, name in enumerate(reader.sheet_names):
        try:
            sheet = reader.load_sheet(index, header_row=None, dtypes="string", skip_rows=0)
            table = sheet.to_polars()
        except Exception as exc:
            raise UnreadableReport(f"sheet '{name}' cannot be read: {exc}") from exc
        if table.width == 0 or table.height == 0:
            continue
        best_row, best_score = -1, 0
        for r, cells in enumerate(table.head(_HEADER_SEARCH_ROWS).iter_rows()):
            score = sum(
                1 for v in cells if v is not None and normalise_header(str(v), words).key in known
            )
            if score > best_score:
                best_row, best_score = r, score
        if best_score == 0:
            continue
        headers = ["" if v is None else str(v) for v in table.row(best_row)]
        width = len(headers)
        body = table.slice(best_row + 1).rename(
            {old: f"c{i}" for i, old in enumerate(table.columns)}
        )
        body = body.with_columns(
            pl.lit(None, dtype=pl.String).alias(OVERFLOW),
            (pl.int_range(0, pl.len(), dtype=pl.Int64) + best_row + 2).alias(ROW),
        )
        return RawTable(headers=headers, frame=_finish(body, width, headers), kind="xlsx")
    names = ", ".join(f"'{n}'" for n in reader.sheet_names)
    raise NotAReport(f"no sheet has a known report header (sheets: {names})")


# --- Bolt orders JSON ------------------------------------------------------------------------


def _orders(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        raise UnreadableReport("the JSON is neither a list of orders nor a Bolt API response")
    code = document.get("code")
    if code is not None and str(code) != "0":
        message = document.get("message") or document.get("error_hint") or "no message"
        raise UnreadableReport(f"the Bolt API answered an error (code {code}: {message})")
    data = document.get("data", document)
    if isinstance(data, dict) and isinstance(data.get("orders"), list):
        return list(data["orders"])
    raise NotAReport("the JSON holds no 'orders' list (expected {code: 0, data: {orders: [...]}})")


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def read_json_table(data: bytes) -> RawTable:
    """Bolt's getFleetOrders response (or a bare list of orders): one row per order, nested
    objects flattened with a dot; numbers kept as their exact text (never through float).
    Row number = the order's position in the list, from 1."""
    decoded = decode(data)
    try:
        document = load_json(decoded.body, max_depth=limits.MAX_JSON_DEPTH,
                             parse_float=str, parse_int=str, parse_constant=str)
    except json.JSONDecodeError as exc:
        raise UnreadableReport(
            f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except JsonTooDeep as exc:
        raise UnreadableReport(f"the file is not a report: {exc}") from exc
    orders = _orders(document)
    if not orders:
        raise UnreadableReport("the response holds no orders")
    columns: dict[str, list[str | None]] = {}
    header_bytes = 0
    for position, order in enumerate(orders):
        if not isinstance(order, dict):
            raise UnreadableReport(f"order {position + 1} is not a JSON object")
        flat: dict[str, str | None] = {}
        for key, value in order.items():
            if isinstance(value, dict):
                for inner, inner_value in value.items():
                    flat[f"{key}.{inner}"] = _scalar(inner_value)
            else:
                flat[str(key)] = _scalar(value)
        for key in flat:
            if key not in columns:
                # Checked as fields appear: orders that each bring new fields would otherwise
                # grow a table of orders x fields.
                header_bytes += len(key.encode("utf-8")) + 1
                if header_bytes > limits.MAX_HEADER_BYTES:
                    check_headers([*columns, key])
                columns[key] = [None] * position
        for key, values in columns.items():
            values.append(flat.get(key))
    headers = list(columns)
    frame = pl.DataFrame(
        {f"c{i}": columns[h] for i, h in enumerate(headers)},
        schema={f"c{i}": pl.String() for i in range(len(headers))},
    ).with_columns(
        pl.lit(None, dtype=pl.String).alias(OVERFLOW),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW),
    )
    known = all_known_keys()
    words = common().currency_words
    if not any(normalise_header(h, words).key in known for h in headers):
        raise NotAReport("the orders have no field of a known report")
    return RawTable(
        headers=headers, frame=_finish(frame, len(headers), headers), kind="json",
        encoding=decoded.encoding
    )


# --- zip archives ----------------------------------------------------------------------------

_INFLATE_CHUNK = 1 << 20


def inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, counted while they inflate: :class:`ReportTooLarge` as soon as they
    pass ``limit`` (the size the zip declares is not trusted)."""
    out = io.BytesIO()
    inflate_into(archive, member, limit, out)
    return out.getvalue()


def inflate_into(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, out: BinaryIO
) -> int:
    """:func:`inflate` into ``out`` (a file: the member is never held whole); its size."""
    total = 0
    with archive.open(member) as stream:
        while chunk := stream.read(_INFLATE_CHUNK):
            total += len(chunk)
            if total > limit:
                raise ReportTooLarge(f"it inflates to more than {limits.size_text(limit)}")
            out.write(chunk)
    return total


def _check_inflated(data: bytes) -> None:
    """An XLSX is a zip: its parts together must stay under ``MAX_MEMBER_BYTES`` once inflated
    (counted, not declared) before the spreadsheet reader inflates them in memory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return  # the spreadsheet reader says what is wrong with it
    budget = limits.MAX_MEMBER_BYTES
    with archive:
        for member in archive.infolist():
            size = 0
            try:
                with archive.open(member) as stream:
                    while chunk := stream.read(_INFLATE_CHUNK):
                        size += len(chunk)
                        if size > budget:
                            raise ReportTooLarge(
                                "the spreadsheet inflates to more than "
                                f"{limits.size_text(limits.MAX_MEMBER_BYTES)}")
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError):
                return
            budget -= size


# --- which reader ----------------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff(data: Body) -> str:
    """ "zip", "xlsx", "json" or "csv", from the content (the file name is not trusted)."""
    if isinstance(data, Path):
        with data.open("rb") as handle:
            head = handle.read(4096)
    else:
        head = data[:4096]
    if head.startswith(_OLE2):
        return "xlsx"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise UnreadableReport(f"the file looks like a zip but is damaged: {exc}") from exc
        if "xl/workbook.xml" in names or "content.xml" in names:
            return "xlsx"
        return "zip"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start in (b"{", b"["):
        return "json"
    return "csv"


READERS: dict[str, Callable[[bytes], RawTable]] = {
    "csv": read_csv_table,
    "xlsx": read_excel_table,
    "json": read_json_table,
}
