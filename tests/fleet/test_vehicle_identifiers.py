"""VIN and plate rules (core.identifiers) and CSV cells (core.export)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fleetcore.core.export import csv_cell
from fleetcore.core.identifiers import (
    InvalidIdentifier,
    is_valid_plate,
    normalise_plate,
    validate_vin,
    vin_check_digit,
    vin_check_digit_required,
)
from fleetcore.fleet.models import FuelType


def test_the_textbook_check_digit() -> None:
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    assert validate_vin("1m8gdm9a-xkp042788") == "1M8GDM9AXKP042788"


@pytest.mark.parametrize(("vin", "country", "required"), [
    ("WVWZZZ1KZ6W000001", "FR", False),  # European VIN in Europe: no check digit
    ("WVWZZZ1KZ6W000001", "US", True),  # registered in the US: mandatory
    ("WVWZZZ1KZ6W000001", "CA", True),
    ("1M8GDM9AXKP042788", "FR", True),  # built for North America: always has one
])
def test_where_the_check_digit_applies(vin: str, country: str, required: bool) -> None:
    assert vin_check_digit_required(vin, country) is required


def test_vin_refusals() -> None:
    for bad, words in (("WVWZZZ1KZ6W00001", "17"), ("WVWZZZ1KZ6W00000O", "I, O and Q"),
                       ("WVWZZZ1KZ6W000001", "check digit")):
        with pytest.raises(InvalidIdentifier, match=words):
            validate_vin(bad, country="US" if words == "check digit" else "FR")


@pytest.mark.parametrize(("plate", "country", "expected"), [
    ("ab123cd", "FR", "AB-123-CD"), ("AB 123 CD", "FR", "AB-123-CD"),
    ("la19abc", "GB", "LA19 ABC"), ("A123 BCD", "GB", "A123 BCD"), ("ABC 123D", "GB", "ABC 123D"),
    (" b-ab  123 ", "DE", "B-AB 123"), ("ΑΒΓ-1234", "GR", "ΑΒΓ-1234"),
])
def test_plates_are_normalised(plate: str, country: str, expected: str) -> None:
    assert normalise_plate(plate, country) == expected


@pytest.mark.parametrize(("plate", "country"), [
    ("AI-123-CD", "FR"), ("AB-000-CD", "FR"), ("SS-123-AB", "FR"), ("123 ABC 75", "FR"),
    ("ABCDEFG", "GB"), ("!!", "DE"), ("A", "NL"), ("A--B", "NL"),
])
def test_plates_are_refused(plate: str, country: str) -> None:
    assert not is_valid_plate(plate, country)


def test_csv_cells_neutralise_formulas_but_not_our_numbers() -> None:
    for text in ("=1+1", "+33 6", "-cmd", "@SUM(A1)", "\tx"):
        assert csv_cell(text).startswith("'")
    assert csv_cell("Plain") == "Plain"
    assert csv_cell(Decimal("-12.50")) == "-12.50"
    assert csv_cell(-3) == "-3"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    assert csv_cell(FuelType.ELECTRIC) == "electric"
    assert csv_cell(dt.date(2026, 1, 2)) == "2026-01-02"
    assert csv_cell(dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)) == "2026-01-02T03:04:00+00:00"
