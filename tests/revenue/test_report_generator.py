"""The sample-report generator (fleetcore.demo.reports) read back by the report readers: every
report type and file option, exact rows and totals, and the malformed files the generator
makes (wrong encodings, missing columns, bad cells, empty files)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fleetcore.demo import reports as gen
from fleetcore.revenue.reports import ParsedReport, RowError, UnreadableReport, read_report

DRIVERS = gen.sample_drivers(5, seed=3)
MONEY = ("earnings", "fare_gross", "commission", "tip", "tolls", "cash_collected", "payout")


def read_one(data: bytes, name: str = "report.csv", **options: Any) -> ParsedReport:
    reports = read_report(data, name, **options)
    assert len(reports) == 1
    return reports[0]


def assert_matches(report: ParsedReport, sample: gen.SampleReport, first_line: int = 2) -> None:
    """Every row equals the generator's expectation, in file order, numbered from the header."""
    assert (report.platform, report.report_type) == (sample.platform, sample.report_type)
    assert report.rows.height == len(sample.expected)
    rows = report.rows.to_dicts()
    for index, (actual, expected) in enumerate(zip(rows, sample.expected, strict=True)):
        assert actual["row_number"] == first_line + index
        for name, value in expected.items():
            assert actual[name] == value, (index, name, actual[name], value)
    for name in MONEY:
        total = report.rows.filter(pl.col("valid")).select(pl.col(name).sum()).item()
        if any(row.get(name) is not None for row in sample.expected):
            assert total == sample.total(name), name


# --- round trips, every report type and option ------------------------------------------------

CSV_OPTIONS = {
    "native": gen.FileOptions(),
    "utf8-no-bom": gen.FileOptions(encoding="utf-8"),
    "excel-fr": gen.excel_fr(language="en"),
    "semicolon-comma-plain": gen.FileOptions(delimiter=";", decimal_comma=True),
    "comma-delimited-decimal-comma": gen.FileOptions(decimal_comma=True, thousands="."),
    "tab-dot-thousands-comma": gen.FileOptions(delimiter="\t", thousands=","),
    "narrow-nbsp": gen.FileOptions(delimiter=";", decimal_comma=True, thousands="\u202f"),
    "trailing-column": gen.FileOptions(trailing_empty_column=True),
    "crlf-cp1252": gen.FileOptions(encoding="cp1252", line_ending="\r\n"),
    "utf16": gen.FileOptions(encoding="utf-16", delimiter="\t"),
}


@pytest.mark.parametrize("style", list(CSV_OPTIONS))
@pytest.mark.parametrize("aggregate", [True, False], ids=["fare-aggregate", "fare-leaves"])
def test_uber_payments_order_round_trip(style: str, aggregate: bool) -> None:
    sample = gen.uber_payments_order(DRIVERS, trips_per_driver=6, seed=11, fare_aggregate=aggregate)
    options = CSV_OPTIONS[style]
    report = read_one(gen.to_csv(sample, options), currency="EUR")
    assert_matches(report, sample)
    assert report.errors == []
    assert report.unknown_columns == []
    assert report.delimiter == options.delimiter
    assert report.decimal_comma is options.decimal_comma
    assert report.period_start == min(r["occurred_at"] for r in sample.expected)


@pytest.mark.parametrize(
    ("language", "shape"),
    [
        ("en", "total_earnings"),
        ("fr", "total_earnings"),
        ("en", "paid_to_you"),
        ("pt", "paid_to_you"),
    ],
)
@pytest.mark.parametrize("style", ["native", "excel-fr", "utf8-no-bom"])
def test_uber_payments_driver_round_trip(language: str, shape: Any, style: str) -> None:
    sample = gen.uber_payments_driver(DRIVERS, language=language, shape=shape, seed=5)
    options = replace(CSV_OPTIONS[style], language=language)
    report = read_one(gen.to_csv(sample, options), currency="EUR")
    assert_matches(report, sample)
    assert report.locale == language
    assert report.errors == []


def test_uber_payments_driver_has_no_french_paid_to_you_shape() -> None:
    with pytest.raises(ValueError, match="no fr headers"):
        gen.uber_payments_driver(DRIVERS, language="fr", shape="paid_to_you")


@pytest.mark.parametrize("style", ["native", "excel-fr", "trailing-column"])
def test_uber_trip_activity_round_trip(style: str) -> None:
    sample = gen.uber_trip_activity(DRIVERS, trips_per_driver=5, seed=2)
    report = read_one(gen.to_csv(sample, CSV_OPTIONS[style]), default_region="FR")
    assert_matches(report, sample)
    assert report.errors == []


@pytest.mark.parametrize("language", ["en", "pt"])
@pytest.mark.parametrize("identify", ["phone", "email", "both"])
@pytest.mark.parametrize("negative_cash", [False, True])
def test_bolt_weekly_round_trip(language: str, identify: Any, negative_cash: bool) -> None:
    sample = gen.bolt_weekly(
        DRIVERS, language=language, identify=identify, negative_cash=negative_cash, seed=8
    )
    options = gen.FileOptions(language=language, trailing_empty_column=True)
    report = read_one(gen.to_csv(sample, options))
    assert_matches(report, sample)
    assert report.rows["currency"].unique().to_list() == ["EUR"]
    assert report.errors == []


@pytest.mark.parametrize("phone_style", ["national", "spaced", "e164"])
def test_bolt_weekly_phone_spellings_normalise_to_e164(phone_style: Any) -> None:
    sample = gen.bolt_weekly(DRIVERS, identify="phone", phone_style=phone_style, seed=1)
    report = read_one(gen.to_csv(sample, gen.excel_fr(language="en")), default_region="FR")
    assert report.rows["platform_account_ref"].to_list() == [d.phone for d in DRIVERS]


def test_bolt_weekly_in_pounds() -> None:
    london = gen.sample_drivers(3, seed=4, country="GB")
    sample = gen.bolt_weekly(london, currency="GBP", seed=2)
    data = gen.to_csv(sample)
    assert "|£".encode() in data
    report = read_one(data, default_region="GB")
    assert_matches(report, sample)
    assert report.rows["currency"].unique().to_list() == ["GBP"]


@pytest.mark.parametrize("wrapped", [True, False])
def test_bolt_orders_round_trip(wrapped: bool) -> None:
    sample = gen.bolt_orders(DRIVERS, orders_per_driver=6, seed=9)
    report = read_one(
        gen.to_json(sample, wrapped=wrapped), "orders.json", currency="EUR", default_region="FR"
    )
    assert_matches(report, sample, first_line=1)
    assert report.errors == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: gen.uber_payments_order(DRIVERS, seed=4),
        lambda: gen.uber_payments_driver(DRIVERS, seed=4),
        lambda: gen.uber_trip_activity(DRIVERS, seed=4),
        lambda: gen.bolt_weekly(DRIVERS, seed=4),
    ],
    ids=["payments_order", "payments_driver", "trip_activity", "bolt_weekly"],
)
@pytest.mark.parametrize("title_rows", [0, 2])
def test_xlsx_round_trip(make: Any, title_rows: int) -> None:
    sample = make()
    data = gen.to_xlsx(sample, gen.FileOptions(title_rows=title_rows))
    report = read_one(data, "report.xlsx", currency="EUR", default_region="FR")
    assert_matches(report, sample, first_line=2 + title_rows)
    assert report.errors == []


def test_zip_of_several_files() -> None:
    uber = gen.uber_payments_order(DRIVERS, seed=1)
    bolt = gen.bolt_weekly(DRIVERS, seed=1)
    orders = gen.bolt_orders(DRIVERS, seed=1)
    data = gen.to_zip(
        {
            "uber/payments.csv": gen.to_csv(uber),
            "bolt/weekly.xlsx": gen.to_xlsx(bolt),
            "bolt/orders.json": gen.to_json(orders),
            "bolt/invoice.pdf": b"%PDF",
        }
    )
    reports = read_report(data, "week.zip", currency="EUR", default_region="FR")
    assert [r.source for r in reports] == [
        "uber/payments.csv",
        "bolt/weekly.xlsx",
        "bolt/orders.json",
    ]
    assert_matches(reports[0], uber)
    assert_matches(reports[1], bolt)
    assert_matches(reports[2], orders, first_line=1)
    assert reports.skipped == [("bolt/invoice.pdf", "not a report file (CSV, XLSX or JSON)")]


def test_sample_files_on_disk_all_read(tmp_path: Path) -> None:
    paths = gen.write_samples(tmp_path / "samples", seed=4)
    kinds = {}
    for name, path in paths.items():
        reports = read_report(
            path.read_bytes(), name, currency="EUR", default_region="FR", timezone="Europe/Paris"
        )
        kinds[name] = [r.report_type for r in reports]
        assert all(r.errors == [] for r in reports), name
    assert kinds == {
        "uber_payments_order.csv": ["payments_order"],
        "uber_weekly_fr.csv": ["payments_driver"],
        "uber_trip_activity.csv": ["trip_activity"],
        "bolt_weekly.csv": ["bolt_weekly"],
        "bolt_orders.json": ["bolt_orders"],
        "bolt_week.zip": ["bolt_weekly", "bolt_orders"],
    }


def test_generator_is_deterministic_for_a_seed() -> None:
    first = gen.to_csv(gen.uber_payments_order(DRIVERS, seed=21))
    assert first == gen.to_csv(gen.uber_payments_order(gen.sample_drivers(5, seed=3), seed=21))
    assert first != gen.to_csv(gen.uber_payments_order(DRIVERS, seed=22))
    assert gen.to_json(gen.bolt_orders(DRIVERS, seed=2)) == gen.to_json(
        gen.bolt_orders(DRIVERS, seed=2)
    )


def test_generated_amounts_are_consistent() -> None:
    """The identities the generator promises (module docstring), row by row."""
    for row in gen.uber_payments_order(DRIVERS, seed=6).expected:
        assert row["earnings"] == row["fare_gross"] - row["commission"] + row["tip"]
        assert row["payout"] == row["earnings"] + row["tolls"] - row["cash_collected"]
    for row in gen.uber_payments_driver(DRIVERS, seed=6).expected:
        assert row["earnings"] == (
            row["fare_gross"]
            + row["promotions"]
            + row["tip"]
            + row["adjustments"]
            - row["commission"]
        )
        assert row["payout"] == row["earnings"] + row["tolls"] - row["cash_collected"]
    for row in gen.bolt_weekly(DRIVERS, language="pt", seed=6).expected:
        assert row["earnings"] == row["fare_gross"] - row["commission"] + row["tip"] + row["tolls"]
        assert row["payout"] == row["earnings"] - row["cash_collected"]
    for row in gen.bolt_orders(DRIVERS, seed=6).expected:
        assert row["earnings"] == row["fare_gross"] + row["tolls"] + row["tip"] - row["commission"]


# --- the benchmark file ---------------------------------------------------------------------------


def test_benchmark_file_totals_are_exact(tmp_path: Path) -> None:
    written = gen.write_uber_payments_csv(tmp_path / "bench.csv", rows=20_000, drivers=40, seed=7)
    data = written.path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert 150 < written.bytes / written.rows < 200
    report = read_one(data, "bench.csv", currency="EUR")
    assert report.rows.height == 20_000
    assert report.errors == []
    assert report.rows["platform_account_ref"].n_unique() == 40
    assert set(report.rows["platform_account_ref"].unique()) == set(written.driver_uuids)
    assert report.rows["external_transaction_id"].n_unique() == 20_000
    for name, total in written.totals.items():
        assert report.rows.select(pl.col(name).sum()).item() == total, name
    adjustments = report.rows.filter(pl.col("description") == "trip fare adjust order")
    assert 0 < adjustments.height < 20_000 * 0.2
    # a fare adjustment points at an earlier trip of the file
    trips = set(
        report.rows.filter(pl.col("description") == "trip completed order")["external_trip_id"]
    )
    assert set(adjustments["external_trip_id"]) <= trips
    again = gen.write_uber_payments_csv(tmp_path / "again.csv", rows=20_000, drivers=40, seed=7)
    assert again.path.read_bytes() == data


# --- malformed files ------------------------------------------------------------------------------


def test_bad_number_bad_date_duplicate_unknown_driver_are_row_errors() -> None:
    sample = gen.uber_payments_order(DRIVERS, seed=12)
    sample = gen.inject_bad_number(sample, 2, "tip", "1,2,3")
    sample = gen.inject_bad_date(sample, 4, "reported_at")
    sample = gen.inject_duplicate(sample, 1)
    sample = gen.inject_unknown_driver(sample, 6)
    report = read_one(gen.to_csv(sample), currency="EUR")

    duplicate_line = 2 + len(sample.rows) - 1
    assert report.errors == [
        RowError(4, "Paid to you:Your earnings:Tip", "1,2,3", "not a number"),
        RowError(6, "vs reporting", "2026-13-45 25:61:00 CET", "not a date and time"),
        RowError(
            duplicate_line,
            "transaction UUID",
            sample.rows[1]["transaction_id"],
            "duplicate of row 3",
        ),
    ]
    assert report.rows["valid"].to_list() == [row["valid"] for row in sample.expected]
    # The unknown driver is a valid row: matching accounts is the import's job.
    assert report.rows["platform_account_ref"][6] == sample.expected[6]["platform_account_ref"]
    assert report.rows["platform_account_ref"][6] not in {d.uuid for d in DRIVERS}


def test_bad_amount_in_a_decimal_comma_file_says_why() -> None:
    sample = gen.inject_bad_number(
        gen.uber_payments_driver(DRIVERS, language="fr"), 1, "tip", "12.50"
    )
    report = read_one(gen.to_csv(sample, gen.excel_fr()), currency="EUR")
    assert report.errors == [
        RowError(
            3,
            "Revenus totaux:Pourboire",
            "12.50",
            "written with a decimal point, but this file writes a decimal comma",
        )
    ]


def test_missing_required_column_names_it() -> None:
    sample = gen.drop_column(gen.uber_payments_order(DRIVERS), "driver_uuid")
    with pytest.raises(UnreadableReport) as caught:
        read_report(gen.to_csv(sample), "payments.csv", currency="EUR")
    assert caught.value.reason == (
        "the headers do not identify a report type (closest: uber payments_order, which needs "
        "'transaction UUID' and 'Driver UUID' and 'Paid to you'; known here: 'transaction UUID', "
        "'Driver first name', 'Driver surname', 'Trip UUID', 'Description', 'Organisation name'"
        "): give the report type"
    )
    with pytest.raises(UnreadableReport) as told:
        read_report(
            gen.to_csv(sample), "payments.csv", currency="EUR", report_type="payments_order"
        )
    assert told.value.reason == "missing required column 'Driver UUID' (uber payments_order)"
    french = gen.drop_column(gen.uber_payments_driver(DRIVERS, language="fr"), "total_earnings")
    with pytest.raises(UnreadableReport) as fr:
        read_report(gen.to_csv(french, gen.excel_fr()), "hebdo.csv", report_type="payments_driver")
    assert fr.value.reason == (
        "missing required column 'Revenus totaux' or 'Paid to you : Your earnings' "
        "(uber payments_driver)"
    )


def test_undecodable_file_is_refused() -> None:
    data = gen.undecodable(
        gen.to_csv(gen.uber_payments_driver(DRIVERS, language="fr"), gen.excel_fr())
    )
    with pytest.raises(UnreadableReport, match=r"neither UTF-8 .* nor Windows-1252; byte 0x81"):
        read_report(data, "hebdo.csv", currency="EUR")


def test_damaged_utf8_is_refused_not_read_as_windows_1252() -> None:
    data = gen.to_csv(
        gen.uber_payments_driver(DRIVERS, language="fr"), gen.FileOptions(language="fr")
    )
    damaged = data[:-40] + b"\xe9" + data[-40:]
    with pytest.raises(UnreadableReport, match="starts with a UTF-8 byte-order mark but byte 0xE9"):
        read_report(damaged, "hebdo.csv", currency="EUR")
    no_bom = data[3:-40] + b"\xe9" + data[-40:]
    with pytest.raises(UnreadableReport, match=r"is UTF-8 but byte 0xE9 at offset .* damaged"):
        read_report(no_bom, "hebdo.csv", currency="EUR")


@pytest.mark.parametrize("via", ["cp850", "cp1252"])
def test_mis_decoded_accents_are_repaired_and_said(via: str) -> None:
    sample = gen.uber_payments_driver(DRIVERS, language="fr")
    data = gen.mis_decoded(gen.to_csv(sample, gen.FileOptions(language="fr")), via=via)
    assert ("Pr├®nom" if via == "cp850" else "PrÃ©nom").encode() in data
    report = read_one(data, currency="EUR")
    # The byte-order mark was mangled too ("∩╗┐"): what is left is a plain UTF-8 file.
    assert report.encoding == f"utf-8 (mis-decoded as {via}, repaired)"
    assert_matches(report, sample)


def test_legacy_dos_code_page_is_read_on_evidence() -> None:
    sample = gen.uber_payments_driver(DRIVERS, language="fr")
    report = read_one(gen.to_csv(sample, gen.excel_fr(encoding="cp850")), currency="EUR")
    assert report.encoding == "cp850"
    assert_matches(report, sample)


@pytest.mark.parametrize("data", [b"", b"   \r\n\n", b"\xef\xbb\xbf"])
def test_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(UnreadableReport, match="the file is empty"):
        read_report(data, "empty.csv")


def test_header_only_is_refused() -> None:
    with pytest.raises(UnreadableReport, match="a header but no data rows"):
        read_report(gen.header_only(gen.uber_payments_order(DRIVERS)), "x.csv", currency="EUR")


def test_binary_file_is_refused() -> None:
    with pytest.raises(UnreadableReport, match="binary"):
        read_report(b"\x89PNG\r\n\x1a\n\x00\x00\x00", "photo.csv")


def test_unknown_extra_columns_are_kept_and_listed() -> None:
    sample = gen.bolt_weekly(DRIVERS, seed=3)
    options = gen.FileOptions(extra_columns=(("Fleet note", "ok"), ("Campaign|€", "3.00")))
    report = read_one(gen.to_csv(sample, options))
    assert report.unknown_columns == ["Fleet note", "Campaign|€"]
    assert [json.loads(e) for e in report.rows["extra"]] == [
        {"Fleet note": "ok", "Campaign|€": "3.00"}
    ] * len(DRIVERS)
    assert_matches(report, sample)
    assert report.errors == []


def test_ambiguous_thousands_without_evidence_are_row_errors_not_guesses() -> None:
    header = "Driver UUID,Driver first name,Total earnings,Total earnings:Tip\n"
    lines = [
        'c0ffee00-1234-4abc-8def-0123456789ab,José,"1,234",2\n',
        '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,Élodie,990,"1,500"\n',
    ]
    report = read_one((header + "".join(lines)).encode(), currency="EUR")
    reason = (
        "ambiguous number: nothing else in the file shows whether '.' or ',' separates "
        "decimals or thousands"
    )
    assert report.errors == [
        RowError(2, "Total earnings", "1,234", reason),
        RowError(3, "Total earnings:Tip", "1,500", reason),
    ]
    assert report.rows["earnings"].to_list() == [None, Decimal("990")]
    # One amount with a decimal comma anywhere in the file decides it.
    decided = read_one(
        (
            header + "".join(lines) + 'a1b2c3d4-e5f6-4789-8abc-def012345678,João,"12,50",0\n'
        ).encode(),
        currency="EUR",
    )
    assert decided.errors == []
    assert decided.decimal_comma is True
    assert decided.rows["earnings"].to_list() == [
        Decimal("1.234"),
        Decimal("990"),
        Decimal("12.50"),
    ]


def test_mixed_decimal_styles_in_equal_measure_refuse_the_file() -> None:
    data = (
        b"Driver UUID,Total earnings\n"
        b"c0ffee00-1234-4abc-8def-0123456789ab,12.50\n"
        b'6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,"7,25"\n'
    )
    with pytest.raises(UnreadableReport, match="mix decimal points and decimal commas"):
        read_report(data, "x.csv", currency="EUR")


def test_more_than_four_decimals_is_a_row_error_never_rounded() -> None:
    data = b"Driver UUID,Total earnings\nc0ffee00-1234-4abc-8def-0123456789ab,12.34567\n"
    report = read_one(data, currency="EUR")
    assert report.errors == [
        RowError(2, "Total earnings", "12.34567", "more than 4 decimal places")
    ]


def test_more_fields_than_the_header_is_a_row_error() -> None:
    data = (
        b"Driver UUID,Total earnings\n"
        b"c0ffee00-1234-4abc-8def-0123456789ab,12.50\n"
        b"6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,7.25,oops\n"
    )
    report = read_one(data, currency="EUR")
    assert report.errors == [RowError(3, None, "oops", "more fields than the header's 2")]


# --- times ----------------------------------------------------------------------------------------


def test_times_without_a_zone_need_the_fleet_zone() -> None:
    sample = gen.uber_payments_order(DRIVERS, seed=5)
    data = gen.to_csv(sample, gen.FileOptions(date_style="dmy"))
    with pytest.raises(UnreadableReport, match=r"carry no time zone .* give the fleet's time zone"):
        read_report(data, "payments.csv", currency="EUR")
    report = read_one(data, currency="EUR", timezone="Europe/Paris")
    assert_matches(report, sample)


def test_iso_times_with_offsets() -> None:
    sample = gen.uber_trip_activity(DRIVERS, seed=5, timezone="Europe/Lisbon")
    report = read_one(gen.to_csv(sample, gen.FileOptions(date_style="iso")), default_region="FR")
    assert_matches(report, sample)


def test_local_time_at_a_clock_change_is_a_row_error() -> None:
    data = (
        b"Trip UUID,Driver UUID,Trip request time,Trip status\n"
        b"t1,c0ffee00-1234-4abc-8def-0123456789ab,29/03/2026 02:30,completed\n"
        b"t2,c0ffee00-1234-4abc-8def-0123456789ab,25/10/2026 02:30,completed\n"
        b"t3,c0ffee00-1234-4abc-8def-0123456789ab,25/10/2026 03:30,completed\n"
    )
    report = read_one(data, timezone="Europe/Paris")
    assert report.errors == [
        RowError(
            2,
            "Trip request time",
            "29/03/2026 02:30",
            "this local time does not exist in Europe/Paris (clocks go forward)",
        ),
        RowError(
            3,
            "Trip request time",
            "25/10/2026 02:30",
            "this local time happens twice in Europe/Paris (clocks go back)",
        ),
    ]
    assert report.rows["requested_at"][2].isoformat() == "2026-10-25T02:30:00+00:00"


def test_day_month_order_from_the_file_then_the_country() -> None:
    header = "Trip UUID,Driver UUID,Trip request time,Trip status\n"
    base = "t{n},c0ffee00-1234-4abc-8def-0123456789ab,{when},completed\n"
    ambiguous = header + base.format(n=1, when="03/04/2026 10:00")
    report = read_one(ambiguous.encode(), timezone="UTC")
    assert report.errors == [
        RowError(
            2,
            "Trip request time",
            "03/04/2026 10:00",
            "ambiguous date: nothing in the file shows whether the day or the month comes first",
        )
    ]
    assert (
        read_one(ambiguous.encode(), timezone="UTC", default_region="FR")
        .rows["requested_at"][0]
        .isoformat()
        == "2026-04-03T10:00:00+00:00"
    )
    assert (
        read_one(ambiguous.encode(), timezone="UTC", default_region="US")
        .rows["requested_at"][0]
        .isoformat()
        == "2026-03-04T10:00:00+00:00"
    )
    evidence = ambiguous + base.format(n=2, when="13/04/2026 10:00")
    assert (
        read_one(evidence.encode(), timezone="UTC", default_region="US")
        .rows["requested_at"][0]
        .isoformat()
        == "2026-04-03T10:00:00+00:00"
    )


# --- progress -------------------------------------------------------------------------------------


def test_progress_is_reported_in_percent() -> None:
    seen: list[int] = []
    read_report(gen.to_csv(gen.bolt_weekly(DRIVERS)), "bolt.csv", progress=seen.append)
    assert seen == sorted(seen)
    assert seen[0] > 0
    assert seen[-1] == 100
