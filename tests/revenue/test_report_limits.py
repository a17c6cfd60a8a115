"""What a report file may not exceed (``fleetcore.revenue.reports.limits``): every limit is a
refusal with a reason naming it — never a crash, never a file read into memory regardless."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from fleetcore.revenue.reports import ReportTooLarge, UnreadableReport, limits, read_report

SAMPLES = Path(__file__).parent / "samples"
HEADER = ("transaction UUID,Driver UUID,Driver first name,Driver surname,Trip UUID,Description,"
          "vs reporting,Paid to you,Paid to you : Your earnings")


def uber_csv(first_name: str = "Karim", extra_header: str = "") -> bytes:
    row = (f"5d1c0a6e-0000-4c3d-9e8f-000000000001,9f8e2c1a-4b3d-4e5f-8a7b-6c5d4e3f2a1b,"
           f"{first_name},Martin,trip-001,trip completed order,2026-11-17 08:15:02 CET,"
           "15.00,15.00")
    return f"{HEADER}{extra_header}\r\n{row}\r\n".encode()


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_file_within_the_limits_still_reads() -> None:
    (report,) = read_report(uber_csv("K" * limits.MAX_CELL_BYTES), "week.csv", currency="EUR")
    assert report.rows["account_name"][0].startswith("KKK")


def test_a_cell_over_the_limit_refuses_the_file_naming_row_and_column() -> None:
    with pytest.raises(UnreadableReport) as refused:
        read_report(uber_csv("K" * (limits.MAX_CELL_BYTES + 1)), "week.csv", currency="EUR")
    assert "row 2, column 'Driver first name'" in refused.value.reason
    assert "4 KB" in refused.value.reason


def test_a_100_mb_cell_in_a_100_kb_zip_is_refused() -> None:
    """The report that made every later list of imports 157 MB long."""
    data = zipped(("week.csv", uber_csv("A" * (100 * 1024 * 1024))))
    assert len(data) < 200 * 1024
    with pytest.raises(UnreadableReport) as refused:
        read_report(data, "week.zip", currency="EUR")
    assert refused.value.source == "week.csv"
    assert "column 'Driver first name'" in refused.value.reason


def test_a_header_line_over_128_kb_is_refused_not_a_crash() -> None:
    long_header = "," + ",".join(f"column {n} " + "x" * 100 for n in range(1_300))
    assert len(long_header) > 128 * 1024
    with pytest.raises(UnreadableReport, match=r"the header, is \d+ bytes long: more than the "
                                               r"64 KB"):
        read_report(uber_csv(extra_header=long_header), "week.csv", currency="EUR")
    one_field = "," + "y" * 200_000  # one field beyond the csv module's own limit
    with pytest.raises(UnreadableReport, match="64 KB"):
        read_report(uber_csv(extra_header=one_field), "week.csv", currency="EUR")
    # Not UTF-8: the header is scored in Windows-1252 first, under the same limit.
    legacy = uber_csv("K\xe9vin", extra_header=one_field).decode().encode("cp1252")
    with pytest.raises(UnreadableReport, match="64 KB"):
        read_report(legacy, "week.csv", currency="EUR")


def test_a_json_report_nested_200000_levels_is_refused() -> None:
    for deep in (b"[" * 200_000 + b"]" * 200_000,
                 b'{"code": 0, "data": {"orders": [{"x": ' + b"[" * 50 + b"]" * 50 + b"}]}}"):
        with pytest.raises(UnreadableReport, match="levels deep"):
            read_report(deep, "orders.json")


def test_json_orders_each_bringing_new_fields_are_refused_at_the_header_limit() -> None:
    orders = [{"driver_uuid": "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", f"field_{n:06d}_"
               + "z" * 40: "1"} for n in range(2_000)]
    with pytest.raises(UnreadableReport, match="header is longer than 64 KB"):
        read_report(json.dumps(orders).encode(), "orders.json", currency="EUR")


def test_the_bolt_orders_sample_is_within_every_limit() -> None:
    (report,) = read_report((SAMPLES / "bolt_orders.json").read_bytes(), "orders.json",
                            currency="EUR", default_region="FR")
    assert report.rows_total == 3


def _lying_zip(name: str, data: bytes, declared: int) -> bytes:
    """A zip whose central directory and local header both claim ``declared`` bytes."""
    honest = zipped((name, data))
    size = len(data).to_bytes(4, "little")
    assert honest.count(size) == 2  # local header and central directory
    return honest.replace(size, declared.to_bytes(4, "little"))


def test_a_member_is_measured_while_it_inflates_not_by_what_the_zip_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "MAX_MEMBER_BYTES", 64 * 1024)
    big = uber_csv() + b"\r\n" * (100 * 1024)
    with pytest.raises(ReportTooLarge, match=r"week\.csv: it inflates to more than 64 KB"):
        read_report(zipped(("week.csv", big)), "week.zip", currency="EUR")
    # Declaring less than it holds does not get a member past the limit: it is read no
    # further than it declares, and then it does not check out.
    with pytest.raises(UnreadableReport, match=r"week\.csv: cannot be extracted") as lied:
        read_report(_lying_zip("week.csv", big, 1_000), "week.zip", currency="EUR")
    assert not isinstance(lied.value, ReportTooLarge)
    # Declaring more than the limit is refused before anything inflates.
    with pytest.raises(ReportTooLarge, match=r"week\.csv: it inflates to more than 64 KB"):
        read_report(_lying_zip("week.csv", uber_csv(), 10**9), "week.zip", currency="EUR")


def test_the_members_together_are_measured_against_the_zip_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "MAX_ZIP_BYTES", 96 * 1024)
    member = uber_csv() + b"\r\n" * (20 * 1024)
    data = zipped(("a.csv", member), ("b.csv", member.replace(b"000000000001", b"000000000002")))
    assert len(read_report(data, "week.zip", currency="EUR")) == 2
    third = member.replace(b"000000000001", b"000000000003")
    honest = zipped(("a.csv", member), ("b.csv", member), ("c.csv", third))
    with pytest.raises(ReportTooLarge, match="the zip inflates to more than 96 KB"):
        read_report(honest, "week.zip", currency="EUR")


def test_an_xlsx_is_measured_while_it_inflates(monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    for n in range(2_000):
        sheet.append([f"5d1c0a6e-0000-4c3d-9e8f-{n:012d}", "9f8e2c1a-4b3d-4e5f-8a7b-6c5d4e3f2a1b",
                      "Karim", "Martin", f"trip-{n}", "trip completed order",
                      "2026-11-17 08:15:02 CET", "15.00", "15.00"])
    buffer = io.BytesIO()
    book.save(buffer)
    monkeypatch.setattr(limits, "MAX_MEMBER_BYTES", 64 * 1024)
    with pytest.raises(ReportTooLarge, match="the spreadsheet inflates to more than 64 KB"):
        read_report(buffer.getvalue(), "week.xlsx", currency="EUR")
