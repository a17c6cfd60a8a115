"""Platform report readers on hand-written files shaped like the real exports (docs/imports.md),
not produced by the sample generator: exact canonical values (amounts as Decimals, signs by
meaning) and exact row errors."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from fleetcore.revenue.reports import (
    CANONICAL_SCHEMA,
    ParsedReport,
    ReportList,
    RowError,
    UnreadableReport,
    read_report,
)

SAMPLES = Path(__file__).parent / "samples"
D = Decimal


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def read_one(data: bytes, name: str = "file.csv", **options: Any) -> ParsedReport:
    reports = read_report(data, name, **options)
    assert len(reports) == 1
    report = reports[0]
    assert report.rows.schema == CANONICAL_SCHEMA
    return report


def row(report: ParsedReport, number: int) -> dict[str, Any]:
    """The canonical row read from line ``number`` of the file."""
    found = report.rows.filter(report.rows["row_number"] == number)
    assert found.height == 1, f"no row for line {number}"
    return found.row(0, named=True)


def amounts(values: dict[str, Any], *names: str) -> dict[str, Decimal | None]:
    return {name: values[name] for name in names}


MONEY_FIELDS = (
    "earnings",
    "fare_gross",
    "commission",
    "tip",
    "tolls",
    "cash_collected",
    "payout",
    "promotions",
    "adjustments",
)


# --- Uber payments_order, English ------------------------------------------------------------


def test_uber_payments_order_with_go_timestamps_reads_every_row() -> None:
    """Uber's per-transaction export writes ``vs reporting`` as Go's ``time.String()``
    (``2025-03-04 18:22:11.123 +0000 UTC``): each row is read, to the millisecond."""
    lines = sample("uber_payments_order_en.csv").decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    column = header.index("vs reporting")
    stamps = iter(
        [
            "2026-11-16 07:15:02.123 +0000 UTC",
            "2026-11-16 22:40:00 +0000 UTC",
            "2026-11-17 10:02:11.5 +0100 CET",
        ]
    )
    rewritten = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) > column and cells[column].endswith(" CET"):
            cells[column] = next(stamps, "2026-11-17 11:00:00.000 +0000 UTC")
        rewritten.append(",".join(cells))
    data = ("\ufeff" + "\n".join(rewritten) + "\n").encode()

    report = read_one(data, "payments.csv", currency="EUR")

    assert not [e for e in report.errors if e.column == "vs reporting"]
    assert row(report, 2)["occurred_at"] == datetime(2026, 11, 16, 7, 15, 2, 123000, tzinfo=UTC)
    assert row(report, 3)["occurred_at"] == datetime(2026, 11, 16, 22, 40, tzinfo=UTC)
    assert row(report, 4)["occurred_at"] == datetime(2026, 11, 17, 9, 2, 11, 500000, tzinfo=UTC)



def test_uber_payments_order_reads_mixed_separators_and_lower_case_transaction_uuid() -> None:
    data = sample("uber_payments_order_en.csv")
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"Paid to you : Your earnings," in data
    assert b"Paid to you:Your earnings:Service fee" in data

    report = read_one(data, "payments.csv", currency="EUR")

    assert (report.platform, report.report_type) == ("uber", "payments_order")
    assert (report.locale, report.encoding, report.delimiter) == ("en", "utf-8-sig", ",")
    assert report.decimal_comma is False
    assert report.rows["row_number"].to_list() == [2, 3, 4, 5, 6, 8]  # line 7 is blank
    card_trip = row(report, 2)
    assert card_trip["platform_account_ref"] == "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert card_trip["account_kind"] == "uuid"
    assert card_trip["account_name"] == "Élodie Lefèvre"
    assert card_trip["external_transaction_id"] == "1d5e7a8c-0b3f-4a61-9c2d-5e8f7a6b4c3d"
    assert card_trip["external_trip_id"] == "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
    assert card_trip["description"] == "trip completed order"
    assert card_trip["occurred_at"] == datetime(2026, 11, 16, 7, 15, 2, tzinfo=UTC)  # 08:15 CET
    assert card_trip["currency"] == "EUR"
    assert amounts(card_trip, *MONEY_FIELDS) == {
        "earnings": D("16.50"),
        "fare_gross": D("22.00"),
        "commission": D("5.50"),
        "tip": D("0"),
        "tolls": D("3.20"),
        "cash_collected": D("0"),
        "payout": D("19.70"),
        "promotions": None,
        "adjustments": None,
    }
    assert card_trip["valid"] is True
    # Cash trip: cash collected is negative in the file, positive by meaning; the fare is the
    # Fare aggregate, which includes the airport surcharge leaf no mapping knows.
    cash_trip = row(report, 3)
    assert amounts(
        cash_trip, "earnings", "fare_gross", "commission", "cash_collected", "payout"
    ) == {
        "earnings": D("21.19"),
        "fare_gross": D("28.25"),
        "commission": D("7.06"),
        "cash_collected": D("28.25"),
        "payout": D("-7.06"),
    }
    assert json.loads(cash_trip["extra"]) == {
        "Paid to you:Your earnings:Fare:Airport Surcharge": "1.00"
    }
    assert cash_trip["occurred_at"] == datetime(2026, 11, 16, 22, 40, tzinfo=UTC)
    # Fare adjustment of an older trip: the service fee comes back (a negative commission).
    adjustment = row(report, 4)
    assert adjustment["external_trip_id"] == "0f0e0d0c-0b0a-4909-8807-060504030201"
    assert adjustment["description"] == "trip fare adjust order"
    assert amounts(adjustment, "earnings", "fare_gross", "commission", "payout") == {
        "earnings": D("-1.50"),
        "fare_gross": D("-2.00"),
        "commission": D("-0.50"),
        "payout": D("-1.50"),
    }
    late_tip = row(report, 5)
    assert amounts(late_tip, "earnings", "fare_gross", "tip", "payout") == {
        "earnings": D("2.00"),
        "fare_gross": D("0"),
        "tip": D("2.00"),
        "payout": D("2.00"),
    }
    broken = row(report, 6)
    assert broken["valid"] is False
    assert broken["payout"] is None
    assert broken["occurred_at"] is None
    assert broken["earnings"] == D("9.38")
    assert report.errors == [
        RowError(6, "vs reporting", "2026-11-18 25:10:00 CET", "not a date and time"),
        RowError(6, "Paid to you", "12.5O", "not a number"),
        RowError(
            8, "transaction UUID", "1d5e7a8c-0b3f-4a61-9c2d-5e8f7a6b4c3d", "duplicate of row 2"
        ),
        RowError(8, "Driver UUID", None, "missing Driver UUID"),
        # Its earnings are not made of its fare, fee and tip (empty: 0).
        RowError(
            8,
            "Paid to you : Your earnings",
            "1.00",
            "the amounts do not add up (off by 1.00): Paid to you : Your earnings 1.00 ≠ "
            "Paid to you : Your earnings : Fare 0.00 - Paid to you:Your earnings:Service fee "
            "0.00 + Paid to you:Your earnings:Tip 0.00 = 0.00",
        ),
    ]
    assert report.rows["valid"].to_list() == [True, True, True, True, False, False]
    assert report.unknown_columns == ["Paid to you:Your earnings:Fare:Airport Surcharge"]
    assert report.period_start == datetime(2026, 11, 16, 7, 15, 2, tzinfo=UTC)
    assert report.period_end == datetime(2026, 11, 19, 6, 0, tzinfo=UTC)


def test_uber_payments_without_currency_is_refused_and_a_bad_one_too() -> None:
    with pytest.raises(UnreadableReport, match="does not say its currency") as caught:
        read_report(sample("uber_payments_order_en.csv"), "payments.csv")
    assert caught.value.source == "payments.csv"
    with pytest.raises(UnreadableReport, match="'EURO' is not an ISO 4217"):
        read_report(sample("uber_payments_order_en.csv"), "payments.csv", currency="EURO")


# --- Uber weekly summary, French, re-saved by Excel -------------------------------------------


def test_uber_weekly_summary_fr_excel_cp1252_semicolon_decimal_comma_nbsp() -> None:
    data = sample("uber_weekly_fr_excel.csv")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert b"Pr\xe9nom du chauffeur;" in data
    assert b"1\xa0180,40" in data
    assert b"\r\n" in data

    report = read_one(data, "hebdo.csv", currency="EUR")

    assert (report.platform, report.report_type, report.locale) == ("uber", "payments_driver", "fr")
    assert (report.encoding, report.delimiter, report.decimal_comma) == ("cp1252", ";", True)
    elodie = row(report, 2)
    assert elodie["account_name"] == "Élodie Lefèvre"
    assert elodie["platform_account_ref"] == "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert amounts(elodie, *MONEY_FIELDS) == {
        "earnings": D("1238.00"),
        "fare_gross": D("1180.40"),
        # No Platform fee column: derived from the identity (the net fare is net of Uber's fee).
        "commission": D("0"),
        "tip": D("12.60"),
        "tolls": D("8.40"),
        "cash_collected": D("210.00"),
        "payout": D("1036.40"),
        "promotions": D("45.00"),
        "adjustments": None,
    }
    assert elodie["occurred_at"] is None  # a weekly summary has no dates: the caller's period
    jose = row(report, 3)
    assert jose["account_name"] == "José Gonçalves"
    assert amounts(jose, "earnings", "tip", "tolls", "payout") == {
        "earnings": D("987.65"),
        "tip": D("0"),
        "tolls": D("0"),
        "payout": D("987.65"),
    }
    assert report.errors == [RowError(4, "Revenus totaux", "1.234,5.6", "not a number")]
    assert row(report, 4)["earnings"] is None
    assert report.period_start is None
    assert report.period_end is None


# --- Uber per-driver payments, Portuguese ------------------------------------------------------


def test_uber_payments_pt_paid_to_you_shape() -> None:
    report = read_one(sample("uber_payments_pt.csv"), "pagamentos.csv", currency="EUR")

    assert (report.report_type, report.locale) == ("payments_driver", "pt")
    joao = row(report, 2)
    assert joao["account_name"] == "João Conceição"
    assert amounts(joao, *MONEY_FIELDS) == {
        "earnings": D("604.55"),
        "fare_gross": D("790.00"),
        "commission": D("197.50"),
        "tip": D("12.05"),
        "tolls": D("7.75"),
        "cash_collected": D("100.00"),
        "payout": D("512.30"),
        "promotions": None,
        "adjustments": None,
    }
    ines = row(report, 3)
    assert amounts(ines, "tolls", "cash_collected", "payout") == {
        "tolls": D("0"),
        "cash_collected": D("0"),
        "payout": D("88.10"),
    }
    assert report.errors == []
    assert report.unknown_columns == []


# --- Bolt weekly ------------------------------------------------------------------------------


def test_bolt_weekly_en_trailing_empty_column_currency_suffix_phone_or_email() -> None:
    data = sample("bolt_weekly_en.csv")
    assert all(line.endswith(b",") for line in data.splitlines())

    report = read_one(data, "bolt.csv", default_region="FR")

    assert (report.platform, report.report_type, report.locale) == ("bolt", "bolt_weekly", "en")
    assert report.rows["currency"].unique().to_list() == ["EUR"]  # from "|€"
    elodie = row(report, 2)
    assert (elodie["platform_account_ref"], elodie["account_kind"]) == ("+33639980123", "phone")
    assert amounts(elodie, *MONEY_FIELDS) == {
        "earnings": D("623.80"),
        "fare_gross": D("812.40"),
        # No commission column: gross + tips - net (812.40 + 14.50 - 623.80).
        "commission": D("203.10"),
        "tip": D("14.50"),
        "tolls": None,
        "cash_collected": D("210.00"),
        "payout": D("413.80"),
        "promotions": None,
        "adjustments": None,
    }
    jose = row(report, 3)
    assert (jose["platform_account_ref"], jose["account_kind"]) == (
        "jose.goncalves@example.com",
        "email",
    )
    amelie = row(report, 4)  # written nationally: read in the fleet's country
    assert amelie["platform_account_ref"] == "+33639984567"
    karim = row(report, 5)
    assert karim["platform_account_ref"] is None
    assert karim["valid"] is False
    assert karim["account_name"] == "Karim Benaïssa"  # shown, never used to match
    assert report.errors == [
        RowError(
            5,
            "Driver's Phone",
            None,
            "no phone or e-mail: the row cannot be matched to a driver (names are never used)",
        )
    ]
    assert report.unknown_columns == []  # the trailing empty column is tolerated silently


def test_a_missing_fare_or_commission_is_derived_from_the_earnings_identity() -> None:
    """earnings = fare_gross - commission + tip (+ …): an Uber per-transaction file without its
    Fare columns has the fare derived (never earnings + fee, which would count the tip twice);
    a Bolt English weekly file, which has no commission column, has the commission derived."""
    uber = (
        b"transaction UUID,Driver UUID,vs reporting,Paid to you,Paid to you : Your earnings,"
        b"Paid to you:Your earnings:Service fee,Paid to you:Your earnings:Tip\n"
        b"1d5e7a8c-0b3f-4a61-9c2d-5e8f7a6b4c3d,6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,"
        b"2026-11-16 08:15:02 CET,19.50,19.50,-5.50,3.00\n"
    )
    trip = row(read_one(uber, currency="EUR"), 2)
    assert amounts(trip, "earnings", "fare_gross", "commission", "tip") == {
        "earnings": D("19.50"), "fare_gross": D("22.00"), "commission": D("5.50"),
        "tip": D("3.00")}
    assert trip["valid"] is True
    bolt = (
        "Driver,Driver's Phone,Gross earnings (total)|€,Rider tips|€,Net earnings|€\n"
        "Ana,+33639980123,800.00,10.00,610.00\n"
    ).encode()
    week = row(read_one(bolt), 2)
    assert amounts(week, "fare_gross", "commission", "tip", "earnings") == {
        "fare_gross": D("800.00"), "commission": D("200.00"), "tip": D("10.00"),
        "earnings": D("610.00")}
    # Neither a fare nor a fee column: the fare is the earnings after the fee, less the tip.
    summary = (
        b"Driver UUID,Total earnings,Total earnings:Tip\n"
        b"6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,320.00,10.00\n"
    )
    only_total = row(read_one(summary, currency="EUR"), 2)
    assert amounts(only_total, "fare_gross", "commission", "tip", "earnings") == {
        "fare_gross": D("310.00"), "commission": None, "tip": D("10.00"),
        "earnings": D("320.00")}


def test_an_empty_required_total_is_a_row_error_but_an_empty_breakdown_is_zero() -> None:
    """Bolt's weekly file with an empty ``Net earnings`` cell: the row cannot be settled (it
    is not 0); an empty ``Rider tips`` cell is how Bolt writes nothing."""
    data = (
        "Driver,Driver's Phone,Email,Gross earnings (total)|€,Collected cash|€,"
        "Rider tips|€,Net earnings|€,\n"
        "Ann Example,+33 6 39 98 01 23,,100.00,0.00,,75.00,\n"
        "Bob Example,+33 6 39 98 01 24,,100.00,0.00,2.00,,\n"
        "Cy Example,+33 6 39 98 01 25,,100.00,0.00,2.00,   ,\n"
    ).encode()
    report = read_one(data, "bolt.csv", default_region="FR")
    assert row(report, 2)["valid"] is True
    assert row(report, 2)["tip"] == D("0")
    assert row(report, 2)["earnings"] == D("75.00")
    for line in (3, 4):
        assert row(report, line)["valid"] is False
        assert row(report, line)["earnings"] is None
    reasons = {(e.row, e.column): e.reason for e in report.errors}
    assert reasons[(3, "Net earnings|€")] == (
        "Net earnings is empty: a required amount, never read as 0"
    )
    assert (4, "Net earnings|€") in reasons


def test_a_mapping_may_only_require_money_cells() -> None:
    from fleetcore.revenue.reports.mapping import _load_mapping, common

    text = (
        'platform = "x"\nreport_type = "y"\nlanguages = ["en"]\ndetect = [["a"]]\n'
        'required = [["a"]]\n[columns.a]\ntype = "text"\nempty = "a is empty"\nen = ["A"]\n'
        '[fields]\naccount_name = "a"\n'
    )
    with pytest.raises(ValueError, match="'empty'"):
        _load_mapping("x.toml", text, common())


def test_bolt_weekly_national_phone_without_region_is_a_row_error() -> None:
    report = read_one(sample("bolt_weekly_en.csv"), "bolt.csv")
    assert (
        RowError(
            4,
            "Driver's Phone",
            "06 39 98 45 67",
            "phone number without a country code: give the fleet's country",
        )
        in report.errors
    )
    assert row(report, 4)["platform_account_ref"] is None
    assert row(report, 2)["platform_account_ref"] == "+33639980123"  # E.164 needs no region


def test_bolt_weekly_currency_given_must_agree_with_the_header_suffix() -> None:
    with pytest.raises(UnreadableReport, match="in EUR, not GBP as given"):
        read_report(sample("bolt_weekly_en.csv"), "bolt.csv", currency="GBP")
    assert read_one(sample("bolt_weekly_en.csv"), currency="EUR").rows.height == 4


def test_bolt_weekly_pt_negative_cash_and_commission_are_magnitudes() -> None:
    report = read_one(sample("bolt_weekly_pt.csv"), "bolt_pt.csv")

    assert (report.report_type, report.locale, report.encoding) == (
        "bolt_weekly",
        "pt",
        "utf-8-sig",
    )
    joao = row(report, 2)
    assert (joao["platform_account_ref"], joao["account_name"]) == (
        "+351912345678",
        "João Conceição",
    )
    assert amounts(joao, *MONEY_FIELDS) == {
        "earnings": D("492.50"),
        "fare_gross": D("640.00"),
        "commission": D("160.00"),
        "tip": D("8.00"),
        "tolls": D("4.50"),
        "cash_collected": D("95.00"),
        "payout": D("397.50"),
        "promotions": None,
        "adjustments": None,
    }
    assert row(report, 3)["commission"] == D("52.50")
    assert report.errors == []


# --- Bolt orders (API JSON) ---------------------------------------------------------------------


def test_bolt_orders_json() -> None:
    report = read_one(
        sample("bolt_orders.json"), "orders.json", currency="EUR", default_region="FR"
    )

    assert (report.platform, report.report_type, report.locale) == ("bolt", "bolt_orders", None)
    assert report.rows["row_number"].to_list() == [1, 2, 3]  # position in the orders list
    finished = row(report, 1)
    assert finished["external_trip_id"] == "1834567890"
    assert (finished["platform_account_ref"], finished["account_kind"]) == (
        "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",
        "uuid",
    )
    assert finished["vehicle_plate"] == "GH-482-KL"  # "gh 482 kl" in the French spelling
    assert (finished["trip_status"], finished["payment_method"]) == ("completed", "card")
    assert finished["distance_km"] == D("7.350")  # ride_distance is in metres
    assert finished["requested_at"] == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    assert finished["started_at"] == datetime(2026, 11, 16, 8, 6, tzinfo=UTC)
    assert finished["ended_at"] == datetime(2026, 11, 16, 8, 24, 30, tzinfo=UTC)
    assert finished["occurred_at"] == datetime(2026, 11, 16, 8, 25, tzinfo=UTC)
    assert finished["duration_s"] == 1110
    assert amounts(finished, "fare_gross", "commission", "tip", "tolls", "earnings") == {
        "fare_gross": D("19.90"),
        "commission": D("3.98"),
        "tip": D("2"),
        "tolls": D("0"),
        "earnings": D("17.92"),
    }
    assert json.loads(finished["extra"]) == {"vehicle_year": "2019"}
    cancelled = row(report, 2)
    assert cancelled["trip_status"] == "cancelled_by_rider"
    assert cancelled["started_at"] is None
    assert cancelled["duration_s"] is None
    assert cancelled["ended_at"] == datetime(2026, 11, 17, 18, 34, tzinfo=UTC)  # finished
    assert amounts(cancelled, "fare_gross", "earnings") == {
        "fare_gross": D("5.0"),
        "earnings": D("4.0"),
    }
    assert report.errors == [
        RowError(
            3,
            "order_status",
            "driver_on_the_way",
            "unknown value for 'order_status' (known: client_cancelled, client_did_not_show, "
            "driver_cancelled, driver_cancelled_after_accept, driver_did_not_respond, "
            "driver_rejected, finished)",
        ),
        RowError(
            3,
            "payment_method",
            "business",
            "unknown value for 'payment_method' (known: apple_pay, bolt_balance, card, cash, "
            "google_pay, in_app)",
        ),
    ]
    assert report.unknown_columns == ["vehicle_year"]


def test_bolt_orders_bare_list_reads_the_same() -> None:
    wrapped = read_one(
        sample("bolt_orders.json"), "orders.json", currency="EUR", default_region="FR"
    )
    orders = json.loads(sample("bolt_orders.json"))["data"]["orders"]
    bare = read_one(json.dumps(orders).encode(), "orders.json", currency="EUR", default_region="FR")
    assert bare.rows.drop("source").equals(wrapped.rows.drop("source"))
    assert bare.errors == wrapped.errors


def test_bolt_api_error_and_empty_order_list_are_refused() -> None:
    with pytest.raises(UnreadableReport, match=r"answered an error \(code 503: busy\)"):
        read_report(b'{"code": 503, "message": "busy"}', "orders.json", currency="EUR")
    with pytest.raises(UnreadableReport, match="holds no orders"):
        read_report(b'{"code": 0, "data": {"orders": []}}', "orders.json", currency="EUR")
    with pytest.raises(UnreadableReport, match="not valid JSON"):
        read_report(b'{"code": 0, "data": {"orders": [}', "orders.json", currency="EUR")


# --- Uber trip activity ------------------------------------------------------------------------


def test_uber_trip_activity() -> None:
    report = read_one(sample("uber_trip_activity.csv"), "trips.csv", default_region="FR")

    assert report.report_type == "trip_activity"
    first = row(report, 2)
    assert first["external_trip_id"] == "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
    assert first["vehicle_plate"] == "GH-482-KL"
    assert first["service_type"] == "UberX"
    assert first["requested_at"] == datetime(2026, 11, 16, 6, 58, 40, tzinfo=UTC)
    assert first["ended_at"] == first["occurred_at"] == datetime(2026, 11, 16, 7, 15, 2, tzinfo=UTC)
    assert first["distance_km"] == D("7.350")
    assert first["trip_status"] == "completed"
    assert all(first[name] is None for name in MONEY_FIELDS)
    assert first["currency"] is None  # no money, no currency given
    cancelled = row(report, 3)
    assert cancelled["trip_status"] == "cancelled_by_rider"
    assert cancelled["ended_at"] is None
    assert cancelled["occurred_at"] == cancelled["requested_at"]
    assert report.errors == [
        RowError(
            4,
            "Trip status",
            "failed",
            "unknown value for 'Trip status' (known: completed, driver_canceled, "
            "driver_cancelled, no_show, rider_canceled, rider_cancelled, rider_no_show)",
        )
    ]


# --- XLSX ---------------------------------------------------------------------------------------


def _workbook() -> bytes:
    """An Uber weekly summary saved as XLSX: a notes sheet first, then the report under two
    title lines; amounts are numbers (floats), as Excel stores them."""
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["Exported from the Uber Supplier portal"])
    data = book.create_sheet("Weekly")
    data.append(["Weekly earnings, 16-22 November 2026"])
    data.append([])
    data.append(
        [
            "Driver UUID",
            "Driver first name",
            "Driver surname",
            "Total Earnings",
            "Total earnings : Net fare",
            "Total earnings:Tip",
            "Payouts : Cash collected",
            "Payouts:Transferred To Bank Account",
            "Fleet bonus",
        ]
    )
    data.append(
        [
            "6F1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
            "Élodie",
            "Lefèvre",
            1250.5,
            1230.5,
            20,
            -100.25,
            -1150.25,
            "yes",
        ]
    )
    data.append([None] * 9)
    data.append(
        [
            "c0ffee00-1234-4abc-8def-0123456789ab",
            "José",
            "Gonçalves",
            300,
            300,
            None,
            None,
            -300,
            None,
        ]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_first_sheet_with_a_known_header_rows_as_the_sheet_numbers_them() -> None:
    report = read_one(_workbook(), "weekly.xlsx", currency="EUR")

    assert (report.report_type, report.locale, report.encoding, report.delimiter) == (
        "payments_driver",
        "en",
        None,
        None,
    )
    assert report.rows["row_number"].to_list() == [4, 6]
    elodie = row(report, 4)
    assert elodie["platform_account_ref"] == "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert amounts(elodie, "earnings", "fare_gross", "tip", "cash_collected", "payout") == {
        "earnings": D("1250.5"),
        "fare_gross": D("1230.5"),
        "tip": D("20"),
        "cash_collected": D("100.25"),
        "payout": D("1150.25"),
    }
    assert json.loads(elodie["extra"]) == {"Fleet bonus": "yes"}
    assert row(report, 6)["tip"] == D("0")
    assert report.unknown_columns == ["Fleet bonus"]
    assert report.errors == []


def test_xlsx_without_any_report_header_is_refused() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Amount"])
    sheet.append(["x", 1])
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(UnreadableReport, match="no sheet has a known report header"):
        read_report(buffer.getvalue(), "book.xlsx")


# --- zip ------------------------------------------------------------------------------------------


def _zip(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_of_two_reports_gives_two_and_lists_what_it_skipped() -> None:
    data = _zip(
        ("week/bolt_weekly_en.csv", sample("bolt_weekly_en.csv")),
        ("week/uber_payments_pt.csv", sample("uber_payments_pt.csv")),
        ("week/readme.pdf", b"%PDF-1.4"),
        ("__MACOSX/week/._bolt_weekly_en.csv", b"\x00\x05"),
        ("week/drivers.csv", b"Name,Licence\nx,y\n"),
    )
    progress: list[int] = []
    reports = read_report(
        data, "week.zip", currency="EUR", default_region="FR", progress=progress.append
    )

    assert isinstance(reports, ReportList)
    assert [(r.source, r.report_type) for r in reports] == [
        ("week/bolt_weekly_en.csv", "bolt_weekly"),
        ("week/uber_payments_pt.csv", "payments_driver"),
    ]
    assert reports[0].rows["source"].unique().to_list() == ["week/bolt_weekly_en.csv"]
    assert row(reports[1], 2)["payout"] == D("512.30")
    assert reports.skipped == [
        ("week/readme.pdf", "not a report file (CSV, XLSX or JSON)"),
        ("__MACOSX/week/._bolt_weekly_en.csv", "system file"),
        ("week/drivers.csv", "no known report header in line 1: 'Name,Licence'"),
    ]
    assert progress == sorted(progress)
    assert progress[-1] == 100


def test_zip_with_a_broken_report_is_refused_naming_the_member() -> None:
    broken = b"Driver UUID,Driver first name\nx,y\n"  # no Total earnings / Paid to you
    data = _zip(("a.csv", sample("uber_payments_pt.csv")), ("b.csv", broken))
    with pytest.raises(UnreadableReport) as caught:
        read_report(data, "week.zip", currency="EUR")
    assert caught.value.source == "b.csv"
    assert caught.value.reason.startswith("b.csv: ")


def test_zip_without_any_report_is_refused() -> None:
    with pytest.raises(UnreadableReport, match=r"the zip holds no report \(notes.txt: no known"):
        read_report(_zip(("notes.txt", b"hello\n")), "week.zip")
    with pytest.raises(UnreadableReport, match="it is empty"):
        read_report(_zip(), "empty.zip")


# --- report type given, detection -------------------------------------------------------------


def test_report_type_given_that_does_not_fit_names_the_missing_columns() -> None:
    with pytest.raises(UnreadableReport) as caught:
        read_report(
            sample("bolt_weekly_en.csv"),
            "bolt.csv",
            platform="uber",
            report_type="payments_order",
        )
    assert caught.value.reason == (
        "missing required columns 'transaction UUID', 'Driver UUID', 'vs reporting', "
        "'Paid to you', 'Paid to you : Your earnings' (uber payments_order)"
    )


def test_platform_given_limits_detection() -> None:
    with pytest.raises(UnreadableReport, match="not those of any known report"):
        read_report(sample("bolt_weekly_en.csv"), "bolt.csv", platform="uber")
    with pytest.raises(UnreadableReport, match="no reader for 'lyft'"):
        read_report(sample("bolt_weekly_en.csv"), "bolt.csv", platform="lyft")
    report = read_one(sample("bolt_weekly_en.csv"), platform="bolt", default_region="FR")
    assert report.report_type == "bolt_weekly"


def test_header_spelling_variants_compare_equal() -> None:
    """Case, spaces around ':' and '|', non-breaking spaces and typographic apostrophes."""
    header = (
        "DRIVER UUID;driver first name;Driver last name;total earnings;"
        "Total Earnings\u00a0: Net fare;Payouts:Cash Collected;"
        "Payouts : Transferred to bank account | EUR\n"
    )
    body = "c0ffee00-1234-4abc-8def-0123456789ab;José;Gonçalves;10,00;10,00;-2,00;-8,00\n"
    report = read_one((header + body).encode("utf-8"))
    values = row(report, 2)
    assert values["account_name"] == "José Gonçalves"
    assert amounts(values, "earnings", "fare_gross", "cash_collected", "payout", "currency") == {
        "earnings": D("10.00"),
        "fare_gross": D("10.00"),
        "cash_collected": D("2.00"),
        "payout": D("8.00"),
        "currency": "EUR",
    }
    assert report.decimal_comma is True
    assert report.unknown_columns == []


def test_a_mapped_column_twice_is_refused() -> None:
    data = (
        b"Driver UUID,Total earnings,Total Earnings\n"
        b"c0ffee00-1234-4abc-8def-0123456789ab,1.00,2.00\n"
    )
    with pytest.raises(UnreadableReport, match="'Total Earnings' is in the file twice"):
        read_report(data, "x.csv", currency="EUR")


def test_row_errors_carry_line_numbers_of_the_file_even_with_multiline_cells() -> None:
    data = (
        "Driver UUID,Driver first name,Total earnings\n"
        'c0ffee00-1234-4abc-8def-0123456789ab,"José\nthe second line",1.00\n'
        "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,Élodie,x\n"
    ).encode()
    report = read_one(data, currency="EUR")
    assert report.rows["row_number"].to_list() == [2, 4]
    assert report.errors == [RowError(4, "Total earnings", "x", "not a number")]
