"""The reference data files shipped in the package parse and hold together (no database)."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from decimal import Decimal
from importlib import resources
from typing import Any

import pycountry
import pytest

from fleetcore.core.money import is_currency
from fleetcore.fleet.models import FuelType
from fleetcore.reference import service
from fleetcore.reference.service import (
    CountryRegulationRecord,
    ReferenceData,
    iter_car_makes,
    iter_country_regulations,
    iter_platforms,
    iter_vehicle_classes,
    read_reference_data,
)

COUNTRIES = {"FR", "GB", "AE", "NL", "BE", "ES", "PT", "DE", "US"}
CLASS_CODES = {"economy", "comfort", "premium", "van", "green"}
CURRENCY_OF = {"AE": "AED", "GB": "GBP", "US": "USD"}
DATA_FILES = [
    "platforms.json",
    "vehicle_classes.json",
    "country_regulations.json",
    "car_makes.json",
]


@pytest.fixture(scope="module")
def data() -> ReferenceData:
    return read_reference_data()


def _data_dir() -> Any:
    return resources.files("fleetcore.reference").joinpath("data")


@pytest.mark.parametrize("file_name", DATA_FILES)
def test_files_are_package_data_with_no_json_floats(file_name: str) -> None:
    def refuse_float(text: str) -> Any:
        raise AssertionError(f"{file_name}: JSON number {text} with a fraction; use a string")

    loaded = json.loads(
        _data_dir().joinpath(file_name).read_text("utf-8"), parse_float=refuse_float
    )
    assert isinstance(loaded, list)
    assert loaded


def test_every_loader_parses_its_file() -> None:
    assert len(list(iter_platforms())) >= 5
    assert len(list(iter_vehicle_classes())) >= 45
    assert len(list(iter_country_regulations())) >= 9
    assert len(list(iter_car_makes())) >= 15


def test_sources_document_every_file() -> None:
    sources = _data_dir().joinpath("SOURCES.md").read_text("utf-8")
    for file_name in DATA_FILES:
        assert f"`{file_name}`" in sources
    assert "2026-11-25" in sources


# --- platforms ---------------------------------------------------------------------------


def test_platforms(data: ReferenceData) -> None:
    by_code = {p.code: p for p in data.platforms}
    assert len(by_code) == len(data.platforms)
    assert {"uber", "bolt", "heetch", "freenow", "careem"} <= set(by_code)
    assert by_code["uber"].report_config["report_types"] == [
        "payments_order",
        "payments_driver",
        "trip_activity",
    ]
    assert by_code["bolt"].report_config["report_types"] == ["bolt_weekly", "bolt_orders"]
    for platform in data.platforms:
        assert platform.countries
        assert all(pycountry.countries.get(alpha_2=c) for c in platform.countries)
        assert platform.website is None or platform.website.startswith("https://")


# --- vehicle classes ---------------------------------------------------------------------


def test_every_country_has_the_five_classes(data: ReferenceData) -> None:
    codes: dict[str, set[str]] = {}
    for vc in data.vehicle_classes:
        codes.setdefault(vc.country, set()).add(vc.code)
    assert set(codes) >= COUNTRIES
    for country in COUNTRIES:
        assert codes[country] >= CLASS_CODES, country
    keys = Counter((vc.country, vc.code) for vc in data.vehicle_classes)
    assert max(keys.values()) == 1


def test_class_values_are_plausible(data: ReferenceData) -> None:
    for vc in data.vehicle_classes:
        assert re.fullmatch(r"[a-z0-9_]+", vc.code)
        assert vc.max_age_years is None or 1 <= vc.max_age_years <= 20
        assert vc.min_seats is None or 2 <= vc.min_seats <= 9
    vans = [vc for vc in data.vehicle_classes if vc.code == "van"]
    assert all(vc.min_seats is not None and vc.min_seats >= 7 for vc in vans)


def test_class_age_never_exceeds_the_current_regulation(data: ReferenceData) -> None:
    current = {r.country: r for r in data.country_regulations if r.effective_to is None}
    for vc in data.vehicle_classes:
        limit = current[vc.country].max_vehicle_age_years
        if limit is not None and vc.max_age_years is not None:
            assert vc.max_age_years <= limit, (vc.country, vc.code)


# --- regulations -------------------------------------------------------------------------


def test_all_nine_countries_have_a_regulation_in_force(data: ReferenceData) -> None:
    open_ended = Counter(r.country for r in data.country_regulations if r.effective_to is None)
    assert set(open_ended) >= COUNTRIES
    assert max(open_ended.values()) == 1


def test_regulation_currencies_are_iso_4217_and_match_the_country(data: ReferenceData) -> None:
    for r in data.country_regulations:
        assert is_currency(r.currency)
        assert r.currency == CURRENCY_OF.get(r.country, "EUR"), r.country


def test_every_regulation_has_a_source(data: ReferenceData) -> None:
    for r in data.country_regulations:
        assert len(r.source.strip()) > 20, r.country
        assert r.notes, r.country


def test_regulation_values(data: ReferenceData) -> None:
    for r in data.country_regulations:
        assert isinstance(r.vat_rate_pct, Decimal)
        assert Decimal(0) <= r.vat_rate_pct <= Decimal(100)
        assert r.min_fare is None or (isinstance(r.min_fare, Decimal) and r.min_fare >= 0)
        assert r.max_daily_driving_hours is None or Decimal(0) < r.max_daily_driving_hours <= 24
        assert r.min_driver_age is None or 16 <= r.min_driver_age <= 99
        assert r.min_licence_years is None or r.min_licence_years >= 0
        assert r.max_vehicle_age_years is None or r.max_vehicle_age_years > 0
        if r.professional_card_required:
            assert r.professional_card_name
        if r.vehicle_permit_required:
            assert r.vehicle_permit_name
    fr = [r for r in data.country_regulations if r.country == "FR"]
    assert all(r.vat_rate_pct == Decimal("10") for r in fr)
    assert all(r.professional_card_name == "Carte professionnelle VTC" for r in fr)


def test_regulation_periods_do_not_overlap(data: ReferenceData) -> None:
    by_country: dict[str, list[CountryRegulationRecord]] = {}
    for r in data.country_regulations:
        by_country.setdefault(r.country, []).append(r)
    for country, periods in by_country.items():
        periods.sort(key=lambda r: r.effective_from)
        for earlier, later in itertools.pairwise(periods):
            assert earlier.effective_to is not None, country
            assert earlier.effective_to <= later.effective_from, country


# --- car catalogue -----------------------------------------------------------------------


def test_makes_and_models_are_unique(data: ReferenceData) -> None:
    names = [m.name for m in data.car_makes]
    assert len(names) == len(set(names))
    assert len(data.car_makes) >= 15
    for make in data.car_makes:
        models = [m.name for m in make.models]
        assert models, make.name
        assert len(models) == len(set(models)), make.name


def test_models_use_known_class_codes_and_energy_types(data: ReferenceData) -> None:
    class_codes = {vc.code for vc in data.vehicle_classes}
    fuel_types = {f.value for f in FuelType}
    for make in data.car_makes:
        for m in make.models:
            assert m.default_class_code in class_codes, (make.name, m.name)
            assert m.energy_types, (make.name, m.name)
            assert set(m.energy_types) <= fuel_types, (make.name, m.name)


def test_model_values_are_plausible(data: ReferenceData) -> None:
    van_seats = min(
        vc.min_seats for vc in data.vehicle_classes if vc.code == "van" and vc.min_seats
    )
    for make in data.car_makes:
        for m in make.models:
            assert m.year_from is not None
            assert 1900 <= m.year_from <= 2026
            assert m.year_to is None or m.year_from <= m.year_to <= 2026
            assert m.seats is not None
            assert 2 <= m.seats <= 9
            assert m.body_type in {"sedan", "hatchback", "estate", "suv", "mpv", "van"}
            if m.default_class_code == "van":
                assert m.seats >= van_seats, (make.name, m.name)
            if m.default_class_code == "green":
                assert {"electric", "hybrid", "plug_in_hybrid"} & set(m.energy_types)


def test_brief_models_are_in_the_catalogue(data: ReferenceData) -> None:
    models = {(make.name, m.name) for make in data.car_makes for m in make.models}
    for expected in [
        ("Toyota", "Prius"),
        ("Toyota", "Corolla"),
        ("Kia", "Niro"),
        ("Hyundai", "Ioniq"),
        ("Tesla", "Model 3"),
        ("Skoda", "Octavia"),
        ("Mercedes-Benz", "E-Class"),
        ("Mercedes-Benz", "V-Class"),
        ("Dacia", "Jogger"),
        ("Nissan", "Leaf"),
        ("BYD", "Atto 3"),
    ]:
        assert expected in models


# --- the readers refuse bad files ----------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "rows", "message"),
    [
        ("vehicle_classes.json", [{"country": "fr", "code": "economy", "name": "E"}], "ISO 3166"),
        ("vehicle_classes.json", [{"country": "FR", "code": "Eco", "name": "E"}], "lower-case"),
        (
            "vehicle_classes.json",
            [{"country": "FR", "code": "x", "name": "E", "seats": 5}],
            "unknown",
        ),
        ("car_makes.json", [{"name": "X", "models": [{"name": "Y", "seats": "5"}]}], "integer"),
        ("platforms.json", [{"code": "x", "name": "X", "active": "yes"}],
         "active: Input should be a valid boolean"),
        (
            "platforms.json",
            [{"code": "x", "name": "X", "active": True, "api_config": {"v": Decimal("1.5")}}],
            "strings",
        ),
    ],
)
def test_readers_refuse_bad_rows(
    monkeypatch: pytest.MonkeyPatch, file_name: str, rows: list[dict[str, Any]], message: str
) -> None:
    monkeypatch.setattr(service, "_read", lambda _name: rows)
    readers = {
        "vehicle_classes.json": iter_vehicle_classes,
        "car_makes.json": iter_car_makes,
        "platforms.json": iter_platforms,
    }
    with pytest.raises(ValueError, match=message):
        list(readers[file_name]())


def _regulation(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "country": "FR",
        "effective_from": "2024-01-01",
        "effective_to": None,
        "currency": "EUR",
        "vat_rate_pct": "10",
        "professional_card_required": True,
        "vehicle_permit_required": True,
        "source": "Code des transports",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"currency": "EURO"}, "ISO 4217"),
        ({"vat_rate_pct": "120"}, "vat_rate_pct: Input should be less than or equal to 100"),
        ({"vat_rate_pct": "ten"}, "decimal"),
        ({"effective_to": "2023-01-01"}, "after effective_from"),
        ({"effective_from": "01/01/2024"}, "YYYY-MM-DD"),
        ({"source": ""}, "non-empty"),
    ],
)
def test_regulation_reader_refuses_bad_rows(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any], message: str
) -> None:
    monkeypatch.setattr(service, "_read", lambda _name: [_regulation(**overrides)])
    with pytest.raises(ValueError, match=message):
        list(iter_country_regulations())


def test_regulation_reader_makes_decimals_from_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        service,
        "_read",
        lambda _name: [_regulation(min_fare="7.65", max_daily_driving_hours="10")],
    )
    (record,) = iter_country_regulations()
    assert record.min_fare == Decimal("7.65")
    assert record.max_daily_driving_hours == Decimal("10")
    assert record.vat_rate_pct == Decimal("10")
