"""The pieces under the report readers: the locale-aware number parser (hypothesis), the
mapping data and its loader, header normalisation, time zones and encodings."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcore.revenue.reports import UnreadableReport, read_report
from fleetcore.revenue.reports.decoding import decode
from fleetcore.revenue.reports.mapping import (
    CommonData,
    Mapping,
    _load_mapping,
    common,
    mapping_for,
    mappings,
    normalise_header,
)
from fleetcore.revenue.reports.model import CANONICAL_SCHEMA
from fleetcore.revenue.reports.normalise import ReadOptions, choose_mapping
from fleetcore.revenue.reports.numbers import parse_series
from fleetcore.revenue.reports.times import parse_datetimes, parse_unix_seconds

# --- numbers ------------------------------------------------------------------------------------

STYLES = {
    # name: (decimal mark, thousands separator, parser style)
    "en": (".", ",", "dot"),
    "plain-dot": (".", "", "dot"),
    "fr-nbsp": (",", "\u00a0", "comma"),
    "fr-narrow-nbsp": (",", "\u202f", "comma"),
    "fr-space": (",", " ", "comma"),
    "pt-de": (",", ".", "comma"),
    "plain-comma": (",", "", "comma"),
    "ch": (".", "'", "dot"),
}
NEGATIVE = {
    "minus": lambda s: f"-{s}",
    "unicode-minus": lambda s: f"\u2212{s}",
    "parentheses": lambda s: f"({s})",
    "trailing": lambda s: f"{s}-",
}


def fmt(value: Decimal, style: str, negative: str = "minus", places: int = 2) -> str:
    mark, thousands, _ = STYLES[style]
    text = f"{abs(value):.{places}f}"
    units, _, decimals = text.partition(".")
    groups = []
    while len(units) > 3:
        groups.insert(0, units[-3:])
        units = units[:-3]
    body = thousands.join([units, *groups]) if thousands else units + "".join(groups)
    if decimals:
        body += mark + decimals
    return NEGATIVE[negative](body) if value < 0 else body


amounts = st.decimals(
    min_value=Decimal("-99999999999.9999"),
    max_value=Decimal("99999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@settings(max_examples=300, deadline=None)
@given(
    value=amounts,
    style=st.sampled_from(sorted(STYLES)),
    negative=st.sampled_from(sorted(NEGATIVE)),
    places=st.integers(min_value=0, max_value=4),
)
def test_a_decimal_written_in_any_locale_reads_back_equal(
    value: Decimal, style: str, negative: str, places: int
) -> None:
    value = value.quantize(Decimal(1).scaleb(-places))
    text = fmt(value, style, negative, places)
    parsed, reasons = parse_series([text], STYLES[style][2])  # type: ignore[arg-type]
    assert reasons.to_list() == [None], text
    assert parsed.to_list() == [value], text


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(amounts, min_size=1, max_size=20),
    style=st.sampled_from(sorted(STYLES)),
)
def test_the_style_of_a_column_is_detected_from_its_cells(
    values: list[Decimal], style: str
) -> None:
    """Written with two decimals (as platforms write money), one column always shows its
    style, whatever the values: nothing is ever read the other way."""
    texts = [fmt(v.quantize(Decimal("0.01")), style) for v in values]
    parsed, reasons = parse_series(texts, detect=True)
    assert reasons.to_list() == [None] * len(texts)
    assert parsed.to_list() == [v.quantize(Decimal("0.01")) for v in values]


@pytest.mark.parametrize(
    ("values", "style", "expected"),
    [
        (["1,234", "2,5"], "comma", [Decimal("1.234"), Decimal("2.5")]),
        (["1,234", "2.50"], "dot", [Decimal("1234"), Decimal("2.50")]),
        (["1.234.567", "3"], "comma", [Decimal("1234567"), Decimal("3")]),
        (["1,234,567", "3"], "dot", [Decimal("1234567"), Decimal("3")]),
        (["0,123", "7"], "comma", [Decimal("0.123"), Decimal("7")]),
        (["1 234", "12 345,67"], "comma", [Decimal("1234"), Decimal("12345.67")]),
        (["€12.50", "-€3.00"], "dot", [Decimal("12.50"), Decimal("-3.00")]),
    ],
)
def test_detection_examples(values: list[str], style: str, expected: list[Decimal]) -> None:
    parsed, reasons = parse_series(values, detect=True)
    assert reasons.to_list() == [None] * len(values)
    assert parsed.to_list() == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e5", "not a number"),
        ("12.3.4", "not a number"),
        ("1,23,4", "not a number"),
        ("abc", "not a number"),
        ("12.34567", "more than 4 decimal places"),
        ("123456789012345", "out of range"),
        ("12,50", "written with a decimal comma, but this file writes a decimal point"),
    ],
)
def test_cells_that_cannot_be_read_say_why(text: str, reason: str) -> None:
    parsed, reasons = parse_series(["1.50", text], "dot")
    assert parsed.to_list() == [Decimal("1.50"), None]
    assert reasons.to_list() == [None, reason]


def test_blank_amounts_are_zero_and_never_errors() -> None:
    parsed, reasons = parse_series(["", None, "   "], "dot")
    assert parsed.to_list() == [Decimal(0)] * 3
    assert reasons.to_list() == [None] * 3


# --- mapping data -------------------------------------------------------------------------------


def test_every_report_type_has_a_mapping_and_every_field_is_canonical() -> None:
    from fleetcore.revenue.models import ReportType

    loaded = {(m.platform, m.report_type) for m in mappings()}
    assert {t for _, t in loaded} == {t.value for t in ReportType}
    for mapping in mappings():
        assert set(mapping.fields) <= set(CANONICAL_SCHEMA), mapping.name
        assert mapping.detect, mapping.name
        assert mapping.required, mapping.name
        for column in mapping.columns.values():
            assert set(column.headers) <= set(mapping.languages)


@pytest.mark.parametrize("mapping", mappings(), ids=lambda m: m.name)
def test_every_mapping_detects_its_own_headers_in_every_language(mapping: Mapping) -> None:
    """A file with a mapping's columns, spelled in any one of its languages, is detected as
    that report (and in that language) among all the others."""
    tested = []
    for language in mapping.languages:
        headers = [
            c.headers[language][0] for c in mapping.columns.values() if language in c.headers
        ]
        if not all(any(c in _ids(mapping, headers) for c in group) for group in mapping.required):
            continue  # this language lacks a required column (Uber transactions in French)
        found = choose_mapping(headers, ReadOptions())
        assert found.mapping is mapping, (language, found.mapping.name)
        assert found.language == language
        tested.append(language)
    expected = {"uber payments_driver": ["en", "fr", "pt"], "bolt bolt_weekly": ["en", "pt"]}
    assert tested == expected.get(mapping.name, [mapping.languages[0]])


def _ids(mapping: Mapping, headers: list[str]) -> set[str]:
    return {hit[0] for h in headers if (hit := mapping.lookup(normalise_header(h).key))}


BROKEN = """
platform = "uber"
report_type = "payments_order"
languages = ["en"]
detect = [["a"]]
required = [["a"]]
[columns.a]
type = "money"
en = ["A"]
[fields]
earnings = "{field}"
"""


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("b", "uses unknown column 'b'"),
        ("-a?x", "is not a column reference"),
    ],
)
def test_the_loader_refuses_broken_mapping_data(field: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load_mapping("broken.toml", BROKEN.format(field=field), common())


def test_the_loader_refuses_unmapped_columns_and_wrong_types() -> None:
    unused = BROKEN.format(field="a") + '[columns.b]\ntype = "text"\nen = ["B"]\n'
    with pytest.raises(ValueError, match=r"columns \['b'\] feed no field"):
        _load_mapping("broken.toml", unused, common())
    wrong = BROKEN.format(field="a").replace('earnings = "a"', 'account_name = "a"')
    with pytest.raises(ValueError, match="field account_name cannot take column a of type money"):
        _load_mapping("broken.toml", wrong, common())


def test_every_money_report_has_an_earnings_identity_and_the_loader_checks_it() -> None:
    """docs/imports.md, "Normalisation by meaning": the identity derives a missing fare or
    commission and rejects rows that do not add up; a report with money must state it."""
    identities = {m.name: m.identity for m in mappings()}
    assert identities == {
        "uber payments_order": (("fare_gross", "+"), ("commission", "-"), ("tip", "+"),
                                ("promotions", "+"), ("adjustments", "+")),
        "uber payments_driver": (("fare_gross", "+"), ("commission", "-"), ("tip", "+"),
                                 ("promotions", "+"), ("adjustments", "+")),
        "uber trip_activity": (),
        "bolt bolt_weekly": (("fare_gross", "+"), ("commission", "-"), ("tip", "+"),
                             ("tolls", "+")),
        "bolt bolt_orders": (("fare_gross", "+"), ("commission", "-"), ("tip", "+"),
                             ("tolls", "+")),
    }
    base = BROKEN.format(field="a").replace(
        "[fields]\n", "[columns.b]\ntype = \"money\"\nen = [\"B\"]\n"
        "[columns.c]\ntype = \"money\"\nen = [\"C\"]\n[fields]\n"
        "fare_gross = \"b\"\ncommission = \"c\"\n")
    for identity, message in (
        ('["fare_gross", "-commission", "cash_collected"]', "is not a mapped amount"),
        ('["fare_gross", "abs:commission"]', "only \\+ and - signs"),
        ('["fare_gross", "commission"]', "earnings = fare_gross - commission"),
        ('["earnings", "fare_gross", "-commission"]', "on its left side only"),
    ):
        text = base.replace('required = [["a"]]\n', f'required = [["a"]]\nidentity = {identity}\n')
        with pytest.raises(ValueError, match=message):
            _load_mapping("broken.toml", text, common())
    fine = base.replace('required = [["a"]]\n', 'required = [["a"]]\nidentity = '
                        '["fare_gross", "-commission"]\n')
    assert _load_mapping("broken.toml", fine, common()).identity == (
        ("fare_gross", "+"), ("commission", "-"))


@pytest.mark.parametrize(
    ("raw", "key", "symbol"),
    [
        ("Paid to you : Your earnings", "paid to you:your earnings", None),
        ("Paid to you:Your earnings", "paid to you:your earnings", None),
        ("  PAID TO YOU  :YOUR   EARNINGS ", "paid to you:your earnings", None),
        ("Net earnings|€", "net earnings", "€"),
        ("Gross earnings per hour | € / h", "gross earnings per hour", "€"),
        ("Net earnings | EUR", "net earnings", "EUR"),
        ("Other earnings:Other|Adjustment", "other earnings:other|adjustment", None),
        ("Paid to airport | Railway pick-up fee", "paid to airport|railway pick-up fee", None),
        ("Driver\u2019s\u00a0Phone", "driver's phone", None),
    ],
)
def test_header_normalisation(raw: str, key: str, symbol: str | None) -> None:
    found = normalise_header(raw)
    assert (found.key, found.currency_symbol) == (key, symbol)


def test_currency_symbols() -> None:
    rules: CommonData = common()
    assert rules.currency_of("€", None) == "EUR"
    assert rules.currency_of("£", "EUR") == "GBP"
    assert rules.currency_of("PLN", None) == "PLN"
    assert rules.currency_of("$", "USD") == "USD"
    with pytest.raises(UnreadableReport, match="names several currencies"):
        rules.currency_of("$", None)


def test_a_dollar_suffix_needs_the_currency() -> None:
    data = b"Driver,Email,Net earnings|$\nAnn,ann@example.com,10.00\n"
    with pytest.raises(UnreadableReport, match="'\\$', which names several currencies"):
        read_report(data, "bolt.csv")
    report = read_report(data, "bolt.csv", currency="AUD")[0]
    assert report.rows["currency"].to_list() == ["AUD"]


def test_mapping_for_unknown_report() -> None:
    assert mapping_for("bolt", "bolt_orders").languages == ("api",)
    with pytest.raises(UnreadableReport, match="no reader for uber bolt_orders"):
        mapping_for("uber", "bolt_orders")


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-11-16 08:15:02 CET", "2026-11-16T07:15:02+00:00"),
        ("2026-07-16 08:15:02 CEST", "2026-07-16T06:15:02+00:00"),
        ("2026-07-16 08:15:02 BST", "2026-07-16T07:15:02+00:00"),
        ("2026-07-16 08:15:02 WEST", "2026-07-16T07:15:02+00:00"),
        ("2026-11-16 08:15:02 GMT", "2026-11-16T08:15:02+00:00"),
        ("2026-11-16T08:15:02Z", "2026-11-16T08:15:02+00:00"),
        ("2026-11-16T08:15:02.250+01:00", "2026-11-16T07:15:02.250000+00:00"),
        ("2026-11-16 08:15:02 +0100", "2026-11-16T07:15:02+00:00"),
        ("2026-11-16 08:15:02 UTC+1", "2026-11-16T07:15:02+00:00"),
        ("16/11/2026 08:15", "2026-11-16T07:15:00+00:00"),
        ("16.11.2026 8:15:01", "2026-11-16T07:15:01+00:00"),
        (" 2026-11-16 08:15:02 cet ", "2026-11-16T07:15:02+00:00"),
        # Uber's per-transaction export writes Go's time.String(): fraction, offset, name.
        ("2025-03-04 18:22:11.123 +0000 UTC", "2025-03-04T18:22:11.123000+00:00"),
        ("2025-03-04 18:22:11 +0000 UTC", "2025-03-04T18:22:11+00:00"),
        ("2025-03-04 18:22:11.123456789 +0100 CET", "2025-03-04T17:22:11.123456+00:00"),
        ("2025-07-04 18:22:11.5 +0300 +03", "2025-07-04T15:22:11.500000+00:00"),
        ("2025-03-04 18:22:11.123 -0500 EST", "2025-03-04T23:22:11.123000+00:00"),
        ("2025-03-04T18:22:11.123 +0000 UTC", "2025-03-04T18:22:11.123000+00:00"),
        ("2025-03-04 18:22:11.123 CET", "2025-03-04T17:22:11.123000+00:00"),
        ("2025-03-04 18:22:11.123", "2025-03-04T17:22:11.123000+00:00"),
    ],
)
def test_timestamps_to_utc(text: str, iso: str) -> None:
    parsed = parse_datetimes(
        pl.Series([text]), header="t", order="dmy", timezone="Europe/Paris", rules=common()
    )
    assert parsed.reason.to_list() == [None]
    assert parsed.value[0].isoformat() == iso


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-16 08:15:02 EST", "unknown time zone 'EST'"),
        ("2026-11-16 08:15:02 CET UTC", "not a date and time"),
        ("2026-11-16T08:15:02 CET UTC", "not a date and time"),
        ("2025-03-04 18:22:11.123 +0000 UTC trailing", "not a date and time"),
        ("2026-02-30 08:15:02 CET", "not a date and time"),
        ("yesterday", "not a date and time"),
    ],
)
def test_timestamps_that_cannot_be_read(text: str, reason: str) -> None:
    parsed = parse_datetimes(
        pl.Series([text]), header="t", order="dmy", timezone="Europe/Paris", rules=common()
    )
    assert parsed.value.to_list() == [None]
    assert parsed.reason.to_list() == [reason]


def test_unix_seconds() -> None:
    value, reason = parse_unix_seconds("t")
    out = pl.DataFrame({"t": ["1763280000", "1763280000.5", "1763280000000", "soon", None]}).select(
        value.alias("v"), reason.alias("r")
    )
    assert [v.isoformat() if v else None for v in out["v"]] == [
        "2025-11-16T08:00:00+00:00",
        "2025-11-16T08:00:00.500000+00:00",
        None,
        None,
        None,
    ]
    assert out["r"].to_list() == [
        None,
        None,
        "not a unix time in seconds (2000-2100)",
        "not a unix time in seconds (2000-2100)",
        None,
    ]


def test_unknown_time_zone_name_is_refused() -> None:
    with pytest.raises(UnreadableReport, match="'Europe/Pariss' is not a time zone"):
        read_report(b"x", "x.csv", timezone="Europe/Pariss")


# --- encodings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Prénom;Total\n".encode(), "utf-8"),
        ("Prénom;Total\n".encode("utf-8-sig"), "utf-8-sig"),
        ("Prénom;Total\n".encode("cp1252"), "cp1252"),
        ("Prénom;Total\n".encode("utf-16"), "utf-16"),
        (b"Driver;Total\n", "utf-8"),
    ],
)
def test_encodings_are_detected(data: bytes, encoding: str) -> None:
    decoded = decode(data)
    assert decoded.encoding == encoding
    assert decoded.body.decode("utf-8").startswith(("Prénom", "Driver"))


def test_the_import_docs_list_every_header_spelling() -> None:
    """docs/imports.md tells which header feeds which field: it must not fall behind the data."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "imports.md").read_text("utf-8")
    missing = [
        (mapping.name, spelling)
        for mapping in mappings()
        for spellings in [
            *(s for c in mapping.columns.values() for s in c.headers.values()),
            *mapping.ignored.values(),
        ]
        for spelling in spellings
        if f"`{spelling}`" not in doc and f"`{spelling.replace('|', chr(92) + '|')}`" not in doc
    ]
    assert missing == []
