"""A report read in bounded batches (issue #13, item 6): the same rows, row errors and file
facts as the file read in one batch, whatever falls in which batch — the decimal mark or the
day/month order shown only by a late row, a repeat batches apart, quoted cells spanning lines
across a chunk boundary, blank lines — and a file on disk read without holding it whole."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fleetcore.revenue import reports
from fleetcore.revenue.reports import ParsedReport, UnreadableReport, read_report, readers

SAMPLES = Path(__file__).parent / "samples"
OPTIONS: dict[str, Any] = {"currency": "EUR", "default_region": "FR",
                           "timezone": "Europe/Paris"}


def _small_batches(monkeypatch: pytest.MonkeyPatch, size: int = 100, rows: int = 1) -> None:
    monkeypatch.setattr(readers, "BATCH_BYTES", size)
    monkeypatch.setattr(reports, "BATCH_ROWS", rows)


def _facts(report: ParsedReport) -> tuple[Any, ...]:
    return (report.platform, report.report_type, report.errors, report.unknown_columns,
            report.locale, report.encoding, report.delimiter, report.decimal_comma,
            report.currency_source, report.period_start, report.period_end, report.headers)


def _read(data: bytes | Path, name: str = "file.csv") -> ParsedReport:
    (report,) = read_report(data, name, **OPTIONS)
    return report


def _same(whole: ParsedReport, batched: ParsedReport) -> None:
    assert _facts(batched) == _facts(whole)
    assert batched.rows.equals(whole.rows)


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()))
def test_every_sample_reads_the_same_in_small_batches(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (SAMPLES / name).read_bytes()
    whole = _read(data, name)
    _small_batches(monkeypatch)
    batched = _read(data, name)
    assert batched.rows.height == whole.rows.height >= 2
    _same(whole, batched)


HEADER = ("transaction UUID;Driver UUID;Trip UUID;Description;vs reporting;Paid to you;"
          "Paid to you : Your earnings;Paid to you:Your earnings:Fare:Fare;"
          "Paid to you:Your earnings:Service fee")
DRIVER = "9f8e2c1a-4b3d-4e5f-8a7b-6c5d4e3f2a1b"


def _line(n: int, when: str, paid: str, description: str = "trip completed order") -> str:
    tx = f"5d1c0a6e-0000-4c3d-9e8f-{n:012d}"
    return ";".join([tx, DRIVER, f"trip-{n}", description, when, paid, paid, paid, "0"])


def _late_evidence_file() -> bytes:
    """Amounts that show no decimal mark and dates that show no order until the last row;
    a repeat of line 3 on line 43; a description on lines 21-23 (quoted, spanning lines);
    blank lines 11 and 12."""
    lines = [HEADER]
    for n in range(1, 40):
        if n == 20:
            lines.append(_line(n, "02/11/2026 10:00", "12", '"a trip\nwith a note\non it"'))
        elif n in (10, 11):
            lines.append("")
        else:
            lines.append(_line(n, "02/11/2026 10:00", "12"))
    lines.append(_line(2, "02/11/2026 10:00", "12"))  # the transaction of line 3 again
    lines.append(_line(99, "13/11/2026 10:00", "12,50"))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def test_facts_shown_only_by_the_last_rows_decide_for_every_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _late_evidence_file()
    whole = _read(data)
    assert whole.decimal_comma  # from the last row alone
    assert whole.period_start is not None
    assert whole.period_start.day == 2
    assert whole.period_start.month == 11  # day first: 13/11 in the last row
    _small_batches(monkeypatch, size=300)
    batched = _read(data)
    _same(whole, batched)
    repeats = [e for e in batched.errors if e.reason.startswith("duplicate")]
    assert [(e.row, e.column, e.reason) for e in repeats] == [
        (43, "transaction UUID", "duplicate of row 3")]
    # Line numbers after the quoted cell that spans three lines and the blank lines.
    numbers = batched.rows["row_number"].to_list()
    assert numbers[:3] == [2, 3, 4]
    assert 21 in numbers
    assert 22 not in numbers
    assert 23 not in numbers
    assert 24 in numbers
    assert 11 not in numbers
    assert 12 not in numbers
    assert numbers[-1] == 44


def test_a_file_on_disk_reads_as_its_bytes_do(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    data = _late_evidence_file() * 1  # small: one chunk
    big = data + b"".join(
        (_line(1000 + n, "03/11/2026 10:00", "1,25") + "\r\n").encode() for n in range(12000))
    path = tmp_path / "big.csv"
    path.write_bytes(big)  # over a megabyte: read from disk in chunks, never whole
    _small_batches(monkeypatch, size=64 * 1024, rows=1000)
    on_disk, in_memory = _read(path), _read(big)
    _same(in_memory, on_disk)
    assert on_disk.rows.height == 12039


def test_in_batches_the_rows_stream_and_the_errors_follow_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _late_evidence_file()
    whole = _read(data)
    _small_batches(monkeypatch, size=300)
    (report,) = read_report(data, "file.csv", batches=True, **OPTIONS)
    assert report.rows.height == 0
    assert report.errors == []
    assert report.period_start is None
    assert report.stream is not None
    assert report.unique == "external_transaction_id"
    frames = list(report.stream())
    assert len(frames) > 5
    rows = pl.concat(frames)
    assert rows.height == whole.rows.height
    # The repeat is the caller's to find (the import does it in staging): flagged, not marked.
    assert report.repeats
    assert report.errors == [e for e in whole.errors if not e.reason.startswith("duplicate")]
    assert rows["valid"].sum() == whole.rows["valid"].sum() + 1
    assert (report.period_start, report.period_end) == (whole.period_start, whole.period_end)


def test_a_mix_of_decimal_marks_across_batches_refuses_the_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [HEADER, _line(1, "02/11/2026 10:00", "12.50"),
             *(_line(n, "02/11/2026 10:00", "12") for n in range(2, 30)),
             _line(30, "02/11/2026 10:00", "12,50")]
    data = ("\n".join(lines) + "\n").encode()
    _small_batches(monkeypatch, size=300)
    with pytest.raises(UnreadableReport, match="mix decimal points and decimal commas"):
        _read(data)


def test_chunks_end_after_records_outside_quotes() -> None:
    text = b'a,b\n"x\ny",1\n' * 50 + b'"no end\n' + b"z" * 5000
    pieces = list(readers._chunks(io.BytesIO(text), 16, longest=1 << 20))
    assert b"".join(pieces) == text
    assert all(p.count(b'"') % 2 == 0 for p in pieces[:-1])
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    # A record that can only be over the limits is cut where the bytes are: memory stays bounded.
    bounded = list(readers._chunks(io.BytesIO(b"x" * 10_000), 100, longest=1000))
    assert max(len(p) for p in bounded) <= 1100
    assert b"".join(bounded) == b"x" * 10_000


def test_a_zip_member_streams_from_a_temporary_file_removed_after_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import tempfile
    import zipfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = _late_evidence_file()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("week/payments.csv", data)
        archive.writestr("notes.txt", b"not a report")
    whole = _read(data, "payments.csv")
    _small_batches(monkeypatch, size=300)
    reports_read = read_report(buffer.getvalue(), "week.zip", batches=True, **OPTIONS)
    (report,) = reports_read
    assert [p.name for p in tmp_path.iterdir()]  # the member, inflated to disk
    assert report.stream is not None
    assert pl.concat(list(report.stream())).height == whole.rows.height
    assert report.source == "week/payments.csv"
    del report, reports_read
    gc.collect()
    assert list(tmp_path.iterdir()) == []
