"""Deterministic demo data for two fleet operators, generated without a database.

:func:`generate_demo` returns plain rows per table (:class:`DemoDataset`); the same seed and the
same ``today`` give an equal dataset, down to every id. :mod:`fleetcore.demo.loader` writes it.
Nothing here touches the database, the clock (unless ``today`` is omitted) or the network:

* ids are UUIDv7 built from the row's own business instant and the seeded generator, so they are
  time-ordered like the application's ids and still reproducible;
* money is ``Decimal`` rounded to the currency's minor unit (``core.money``), never float; only
  unit prices (fuel per litre) keep three decimals, as ``money.md`` allows;
* catalogue rows (car makes and models, vehicle classes, platforms) are named, not numbered
  (:class:`CatalogueRef`): the loader resolves them against the reference data in the database;
* custody is consistent: assignments never overlap per vehicle or per driver, and every trip,
  toll, fine and expense falls inside the assignment of the driver it is attributed to;
* phones come from the ranges regulators reserve for fiction (ARCEP ``+33 6 39 98 xx xx``,
  Ofcom ``+44 7700 900xxx``) and e-mail addresses from reserved domains (``example.*``), so a
  demo reminder can never reach a real person.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import unicodedata
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from stdnum import luhn
from stdnum.gb import vat as gb_vat

from fleetcore.admin.permissions import SYSTEM_ROLES
from fleetcore.core.identifiers import is_valid_vin, vin_check_digit
from fleetcore.core.money import minor_unit_exponent, round_minor
from fleetcore.demo.documents import PLACEHOLDER_NOTE, demo_document_file, mime_type_of
from fleetcore.demo.presence import MAIN_SLUG, SECOND_SLUG

__all__ = [
    "MAIN_SLUG",
    "SECOND_SLUG",
    "TENANT_TABLE_ORDER",
    "CatalogueRef",
    "DemoDataset",
    "TableRows",
    "TenantData",
    "generate_demo",
    "is_valid_vin",
    "vin_check_digit",
]


TRIP_COLUMNS: tuple[str, ...] = (
    "tenant_id", "id", "platform_id", "external_trip_id", "platform_account_id", "driver_id",
    "vehicle_id", "status", "service_type", "requested_at", "started_at", "ended_at",
    "pickup_lat", "pickup_lon", "dropoff_lat", "dropoff_lon", "distance_km", "duration_s",
    "fare_gross", "tip", "tolls", "platform_commission", "cash_collected", "net_earnings",
    "currency", "payment_method",
)
"""The columns of the generated ``trp_trips`` rows."""

TENANT_TABLE_ORDER: tuple[str, ...] = (
    "adm_tenant_lifecycle_events",
    "adm_roles",
    "adm_members",
    "adm_member_roles",
    "rid_drivers",
    "flt_vehicles",
    "doc_documents",
    "rid_driver_documents",
    "rid_driver_cooperation_terms",
    "flt_vehicle_assignments",
    "flt_vehicle_events",
    "flt_vehicle_insurances",
    "sch_maintenance_schedules",
    "flt_vehicle_maintenance",
    "flt_odometer_readings",
    "trp_platform_accounts",
    "trp_trips",
    "fin_toll_transactions",
    "fin_traffic_fines",
    "flt_vehicle_expenses",
    "rid_driver_requests",
    "sch_tasks",
)
"""A tenant's tables in an order that satisfies every foreign key."""

# --- VIN (ISO 3779) --------------------------------------------------------------------------

# Check digit: fleetcore.core.identifiers (re-exported here for older callers).
_VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q
# Position 10: model year, a 30-year cycle starting with A = 2010 (no I, O, Q, U, Z, 0).
_VIN_YEARS = "ABCDEFGHJKLMNPRSTVWXY123456789"


# --- dataset types ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogueRef:
    """A global reference-data row named by its natural key; the loader resolves its id.

    ``dir_car_makes``: (name,); ``dir_car_models``: (make, model); ``dir_vehicle_classes``:
    (country, code); ``dir_platforms``: (code,).
    """

    table: str
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableRows:
    """The rows of one table: one column list, one tuple per row (COPY-ready)."""

    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def from_dicts(cls, table: str, dicts: Sequence[Mapping[str, Any]]) -> TableRows:
        """Rows built as dicts, which must all have the same keys."""
        if not dicts:
            return cls(table, (), ())
        columns = tuple(dicts[0])
        for row in dicts:
            if tuple(row) != columns:
                raise ValueError(f"{table}: rows with different columns {tuple(row)}")
        return cls(table, columns, tuple(tuple(row.values()) for row in dicts))

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        """All values of one column."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as column → value dicts."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True, slots=True)
class TenantData:
    """One demo tenant: its ``adm_tenants`` row and its rows in :data:`TENANT_TABLE_ORDER`."""

    tenant_id: uuid.UUID
    slug: str
    name: str
    country: str
    currency: str
    timezone: str
    weeks: int
    trips_from: datetime
    """Start of the trip history: a Monday 00:00 in the tenant's time zone, ``weeks`` back."""
    trips_until: datetime
    """End of the trip history (exclusive): ``today`` 00:00 in the tenant's time zone."""
    tenant: TableRows
    tables: tuple[TableRows, ...]

    def table(self, name: str) -> TableRows:
        """The rows of table ``name`` (empty when the tenant has none)."""
        for rows in self.tables:
            if rows.table == name:
                return rows
        return TableRows(name, (), ())

    def counts(self) -> dict[str, int]:
        """Rows per table, ``adm_tenants`` included."""
        return {"adm_tenants": len(self.tenant), **{t.table: len(t) for t in self.tables}}


@dataclass(frozen=True, slots=True)
class DemoDataset:
    """Both demo tenants, as generated for ``seed`` and ``today``."""

    seed: int
    today: date
    tenants: tuple[TenantData, ...]

    def tenant(self, slug: str) -> TenantData:
        """The tenant with ``slug``."""
        for tenant in self.tenants:
            if tenant.slug == slug:
                return tenant
        raise KeyError(slug)

    @property
    def main(self) -> TenantData:
        """The main fleet (Lumière VTC)."""
        return self.tenant(MAIN_SLUG)

    @property
    def second(self) -> TenantData:
        """The second, smaller tenant (Thames Private Hire)."""
        return self.tenant(SECOND_SLUG)


# --- country profiles ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pricing:
    base: Decimal
    per_km: Decimal
    per_min: Decimal
    minimum: Decimal
    commission_pct: Decimal
    cancel_fee: Decimal


@dataclass(frozen=True, slots=True)
class _Place:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class _ModelSpec:
    make: str
    model: str
    fuel: str
    class_code: str
    seats: int
    year_from: int
    weight: int
    wmi: str
    price: int


@dataclass(frozen=True, slots=True)
class _Country:
    code: str
    currency: str
    timezone: str
    language: str
    vat_rate_pct: Decimal
    first_names: tuple[tuple[str, bool], ...]  # (name, female)
    last_names: tuple[str, ...]
    centre: _Place
    spread_km: float
    airports: tuple[_Place, ...]
    models: tuple[_ModelSpec, ...]
    colours: tuple[str, ...]
    pricing: Mapping[str, _Pricing]
    products: Mapping[str, Mapping[str, str]]
    tolls: tuple[tuple[str, str, str], ...]  # operator, gate, amount
    fines: tuple[tuple[str, str, str], ...]  # offence, amount, place
    fine_authority: str
    insurers: tuple[tuple[str, str], ...]  # insurer, policy prefix
    garages: Mapping[str, tuple[str, ...]]
    fuel_vendors: tuple[str, ...]
    charge_vendors: tuple[str, ...]
    wash_vendors: tuple[str, ...]
    parking_vendors: tuple[str, ...]
    toll_share: float  # share of long trips that pay a motorway toll
    fuel_price: tuple[int, int]  # per litre, thousandths
    charge_price: tuple[int, int]  # per kWh, thousandths
    card_type: str
    card_years: int
    deposit: Decimal
    rents: tuple[int, ...]


_D = Decimal

_FRANCE = _Country(
    code="FR",
    currency="EUR",
    timezone="Europe/Paris",
    language="fr",
    vat_rate_pct=_D("20"),
    first_names=tuple(
        [(n, False) for n in (
            "Mohamed", "Karim", "Yassine", "Mehdi", "Sofiane", "Rachid", "Samir", "Nabil",
            "Bilal", "Walid", "Amine", "Hamza", "Moussa", "Mamadou", "Ibrahima", "Abdoulaye",
            "Ousmane", "Julien", "Thomas", "Nicolas", "Kévin", "Anthony", "Maxime", "Romain",
            "Jérémy", "David", "Christophe", "Stéphane", "Frédéric", "Olivier", "Sébastien",
            "Cédric", "Franck", "Patrick", "Éric", "Jean-Baptiste", "Pierre", "Lucas", "Adrien",
            "Vincent", "Ali", "Youssef", "Omar", "Ayoub", "Ismaël", "Kamel", "Farid", "Idriss",
            "Souleymane", "Boubacar", "Tarik", "Rayan",
        )]
        + [(n, True) for n in ("Fatou", "Nadia", "Sarah", "Inès", "Amina", "Leïla", "Camille")]
    ),
    last_names=(
        "Martin", "Bernard", "Dubois", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Bertrand", "Roux", "Fournier",
        "Morel", "Girard", "Mercier", "Dupont", "Lambert", "Bonnet", "Faure", "Rousseau",
        "Blanc", "Guérin", "Perrin", "Diallo", "Traoré", "Koné", "Cissé", "Camara", "Keïta",
        "Sylla", "Diop", "Ndiaye", "Sow", "Benali", "Haddad", "Bouzid", "Belkacem", "Mansouri",
        "Cherif", "Hamidi", "Brahimi", "Amrani", "Nguyen", "Tran", "Da Silva", "Pereira",
        "Ferreira", "Rodrigues", "Gomes", "Lopes", "Costa", "El Idrissi", "Aït Ali", "Meziane",
    ),
    centre=_Place("Paris", 48.8566, 2.3522),
    spread_km=4.2,
    airports=(
        _Place("Paris-Charles de Gaulle", 49.0097, 2.5479),
        _Place("Paris-Orly", 48.7262, 2.3652),
    ),
    models=(
        _ModelSpec("Toyota", "Corolla", "hybrid", "economy", 5, 1966, 6, "SB1", 33500),
        _ModelSpec("Toyota", "C-HR", "hybrid", "economy", 5, 2016, 3, "NMT", 35900),
        _ModelSpec("Toyota", "Camry", "hybrid", "comfort", 5, 1982, 3, "JTN", 45900),
        _ModelSpec("Toyota", "RAV4", "hybrid", "comfort", 5, 1994, 2, "JTM", 43500),
        _ModelSpec("Tesla", "Model 3", "electric", "comfort", 5, 2017, 5, "LRW", 42990),
        _ModelSpec("Tesla", "Model Y", "electric", "comfort", 5, 2020, 3, "XP7", 45990),
        _ModelSpec("Skoda", "Octavia", "plug_in_hybrid", "economy", 5, 1996, 2, "TMB", 39800),
        _ModelSpec("Skoda", "Superb", "plug_in_hybrid", "comfort", 5, 2001, 2, "TMB", 48900),
        _ModelSpec("Skoda", "Enyaq", "electric", "comfort", 5, 2020, 1, "TMB", 46500),
        _ModelSpec("Kia", "Niro", "hybrid", "economy", 5, 2016, 3, "KNA", 33900),
        _ModelSpec("Kia", "EV6", "electric", "comfort", 5, 2021, 1, "KNA", 49500),
        _ModelSpec("Hyundai", "Ioniq 5", "electric", "comfort", 5, 2021, 2, "KMH", 46900),
        _ModelSpec("Hyundai", "Kona", "electric", "economy", 5, 2017, 1, "KMH", 36900),
        _ModelSpec("Peugeot", "508", "plug_in_hybrid", "comfort", 5, 2010, 1, "VR3", 49200),
        _ModelSpec("Mercedes-Benz", "E-Class", "plug_in_hybrid", "premium", 5, 1993, 2, "W1K",
                   69900),
        _ModelSpec("Mercedes-Benz", "V-Class", "diesel", "van", 8, 1996, 1, "W1V", 74500),
        _ModelSpec("BMW", "i5", "electric", "premium", 5, 2023, 1, "WBA", 75900),
        _ModelSpec("Volkswagen", "ID.4", "electric", "comfort", 5, 2020, 1, "WVG", 43900),
        _ModelSpec("Volkswagen", "Passat", "plug_in_hybrid", "comfort", 5, 1973, 1, "WVW",
                   47500),
        _ModelSpec("MG", "MG4", "electric", "green", 5, 2022, 1, "LSJ", 30990),
        _ModelSpec("Lexus", "ES", "hybrid", "premium", 5, 1989, 1, "JTH", 56900),
    ),
    colours=("black", "black", "black", "grey", "white", "dark blue", "silver"),
    pricing={
        "uber": _Pricing(_D("1.20"), _D("1.05"), _D("0.30"), _D("8.00"), _D("25"), _D("5.00")),
        "bolt": _Pricing(_D("1.00"), _D("0.98"), _D("0.28"), _D("7.00"), _D("22"), _D("4.00")),
    },
    products={
        "uber": {"economy": "UberX", "comfort": "Comfort", "premium": "Berline",
                 "van": "Van", "green": "Green"},
        "bolt": {"economy": "Bolt", "comfort": "Comfort", "premium": "Premium",
                 "van": "XL", "green": "Green"},
    },
    tolls=(
        ("Sanef", "A14 - Péage de Montesson", "3.10"),
        ("Sanef", "A1 - Barrière de Chamant", "5.60"),
        ("Sanef", "A16 - Péage de L'Isle-Adam", "2.40"),
        ("SAPN", "A13 - Péage de Buchelay", "3.80"),
    ),
    fines=(
        ("Excès de vitesse inférieur à 20 km/h (agglomération)", "135.00",
         "Boulevard Périphérique, Porte Maillot"),
        ("Excès de vitesse inférieur à 20 km/h (hors agglomération)", "68.00",
         "A1, Saint-Denis"),
        ("Stationnement gênant", "35.00", "Rue de Rivoli, Paris 1er"),
        ("Circulation dans une voie réservée aux bus", "135.00", "Boulevard Haussmann, Paris 9e"),
        ("Franchissement d'un feu rouge", "135.00", "Avenue des Champs-Élysées, Paris 8e"),
        ("Stationnement sur emplacement réservé (livraison)", "35.00",
         "Rue du Faubourg Saint-Antoine, Paris 11e"),
    ),
    fine_authority="ANTAI",
    insurers=(("Hiscox France", "HX-VTC"), ("AXA Entreprises", "AXA-FLT"),
              ("Allianz Flotte", "ALZ")),
    garages={
        "service": ("Norauto Paris 15", "Speedy Paris 11", "Toyota Paris Est",
                    "Tesla Service Rungis", "Feu Vert Montreuil"),
        "inspection": ("Dekra Paris 13", "Autovision Bagnolet", "Sécuritest Saint-Ouen"),
        "tyres": ("Euromaster Gennevilliers", "Point S Ivry-sur-Seine"),
        "repair": ("Carrosserie Vaugirard", "Carrosserie du Parc, Pantin"),
    },
    fuel_vendors=("TotalEnergies Porte de Bagnolet", "Esso Express Paris 19",
                  "BP Porte Maillot"),
    charge_vendors=("Ionity Paris-Rungis", "Tesla Supercharger Saint-Denis",
                    "Electra Paris Bercy"),
    wash_vendors=("Eléphant Bleu Paris 13", "Total Wash Montreuil"),
    parking_vendors=("Indigo Gare de Lyon", "Saemes Gare du Nord"),
    toll_share=0.12,
    fuel_price=(1729, 1899),
    charge_price=(390, 590),
    card_type="vtc",
    card_years=5,
    deposit=_D("1000.00"),
    rents=(250, 275, 300, 325, 350),
)

_BRITAIN = _Country(
    code="GB",
    currency="GBP",
    timezone="Europe/London",
    language="en-GB",
    vat_rate_pct=_D("20"),
    first_names=tuple(
        [(n, False) for n in (
            "James", "Oliver", "Mohammed", "Adam", "Daniel", "Tariq", "Imran", "Kwame", "Emeka",
            "Tomasz", "Piotr", "Ahmed", "Hassan", "Raj", "Sanjay", "George", "Kofi", "Yusuf",
        )]
        + [(n, True) for n in ("Priya", "Chloe", "Grace", "Amira")]
    ),
    last_names=(
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Khan", "Ali", "Hussain",
        "Patel", "Shah", "Okafor", "Mensah", "Kowalski", "Nowak", "Evans", "Roberts", "Walker",
    ),
    centre=_Place("London", 51.5074, -0.1278),
    spread_km=5.0,
    airports=(
        _Place("London Heathrow", 51.4700, -0.4543),
        _Place("London City", 51.5048, 0.0495),
    ),
    models=(
        _ModelSpec("Toyota", "Prius", "hybrid", "economy", 5, 1997, 1, "JTD", 31500),
        _ModelSpec("Toyota", "Corolla", "hybrid", "economy", 5, 1966, 1, "SB1", 30500),
        _ModelSpec("Kia", "Niro", "electric", "economy", 5, 2016, 1, "KNA", 33900),
        _ModelSpec("Tesla", "Model 3", "electric", "comfort", 5, 2017, 1, "LRW", 39990),
        _ModelSpec("Skoda", "Octavia", "plug_in_hybrid", "economy", 5, 1996, 1, "TMB", 31900),
        _ModelSpec("Hyundai", "Ioniq 5", "electric", "comfort", 5, 2021, 1, "KMH", 42900),
    ),
    colours=("black", "silver", "white", "grey", "blue"),
    pricing={
        "uber": _Pricing(_D("2.50"), _D("0.80"), _D("0.17"), _D("7.00"), _D("25"), _D("5.00")),
    },
    products={
        "uber": {"economy": "UberX", "comfort": "Comfort", "premium": "Exec",
                 "van": "UberXL", "green": "Green"},
    },
    tolls=(("Dart Charge", "Dartford Crossing", "2.50"),),
    fines=(
        ("Bus lane contravention", "160.00", "Kingsland Road, Hackney"),
        ("Stopped in a restricted area outside a school", "160.00", "Camden Road, Camden"),
        ("Parked in a loading place during restricted hours", "130.00",
         "Tooley Street, Southwark"),
    ),
    fine_authority="Transport for London",
    insurers=(("Zego", "ZG-PH"), ("Aviva Private Hire", "AV-PHV")),
    garages={
        "service": ("Kwik Fit Croydon", "Halfords Autocentre Wandsworth"),
        "inspection": ("NSL Vehicle Inspection Centre, Perivale",),
        "tyres": ("ATS Euromaster Park Royal",),
        "repair": ("Chiswick Bodyshop",),
    },
    fuel_vendors=("Shell Old Kent Road", "BP Euston Road"),
    charge_vendors=("Shell Recharge Fulham", "Tesla Supercharger Park Royal"),
    wash_vendors=("Waves Hand Car Wash Battersea",),
    parking_vendors=("NCP London Bridge",),
    toll_share=0.02,
    fuel_price=(1399, 1549),
    charge_price=(450, 790),
    card_type="pco",
    card_years=3,
    deposit=_D("800.00"),
    rents=(260, 280, 300, 320),
)

_CLASS_FARE = {
    "economy": _D("1.00"),
    "comfort": _D("1.20"),
    "premium": _D("1.65"),
    "van": _D("1.45"),
    "green": _D("1.05"),
}
_SURGES = (_D("1.2"), _D("1.3"), _D("1.5"), _D("1.8"))
_TIPS = (_D("1.00"), _D("2.00"), _D("2.00"), _D("3.00"), _D("5.00"), _D("5.00"), _D("10.00"))
_FICTION_PHONES = {"FR": ("+3363998", 4), "GB": ("+447700900", 3)}
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_SIV_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # no I, O, U
_GB_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # no I, Q
_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

# --- internal records ------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Vehicle:
    id: uuid.UUID
    spec: _ModelSpec
    plate: str
    vin: str
    year: int
    acquired_on: date
    first_registration_on: date
    colour: str
    ownership: str
    cost: Decimal | None
    traccar_id: str | None
    km_at_acquisition: float
    daily_km: float
    status: str = "active"
    assignments: list[_Assignment] = field(default_factory=list)
    trips: list[_Trip] = field(default_factory=list)
    odometer: _Odometer | None = None


@dataclass(slots=True, eq=False)
class _Driver:
    id: uuid.UUID
    first_name: str
    last_name: str
    female: bool
    email: str
    phone: str
    date_of_birth: date
    hired_on: date
    status: str
    shift: str  # "day" or "night"
    rest_days: frozenset[int]
    role: str
    notes: str | None = None
    member_id: uuid.UUID | None = None
    platforms: tuple[str, ...] = ()
    accounts: dict[str, uuid.UUID] = field(default_factory=dict)
    assignments: list[_Assignment] = field(default_factory=list)
    card_expires_on: date | None = None
    left_at: datetime | None = None


@dataclass(slots=True, eq=False)
class _Assignment:
    id: uuid.UUID
    vehicle: _Vehicle
    driver: _Driver
    starts_at: datetime
    ends_at: datetime | None
    kind: str
    status: str
    notes: str | None


@dataclass(slots=True, eq=False)
class _Trip:
    id: uuid.UUID
    platform: str
    external_id: str
    account_id: uuid.UUID
    driver: _Driver
    vehicle: _Vehicle
    status: str
    service_type: str
    requested_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    pickup: tuple[Decimal, Decimal]
    dropoff: tuple[Decimal, Decimal] | None
    distance_km: Decimal | None
    duration_s: int | None
    fare: Decimal
    tip: Decimal
    tolls: Decimal
    commission: Decimal
    cash: Decimal
    net: Decimal
    payment_method: str
    day: date  # tenant-local day of the request


class _Odometer:
    """A vehicle's odometer over time: linear before the trip history, then trip by trip.

    Every distance driven between trips (to the next pickup, home) is folded into a deadhead
    factor on trip distance, so the odometer, the handover readings and the maintenance due
    dates all follow the trips.
    """

    _DEADHEAD = 1.3

    def __init__(
        self, vehicle: _Vehicle, history_from: datetime, history_until: datetime, tail: bool
    ) -> None:
        self._acquired = datetime.combine(vehicle.acquired_on, time(10), tzinfo=UTC)
        self._km0 = vehicle.km_at_acquisition
        self._daily = vehicle.daily_km
        self._from = max(history_from, self._acquired)
        self._until = history_until
        self._tail = tail
        self._start_km = self._linear(self._from)
        ends: list[datetime] = []
        totals: list[float] = []
        total = 0.0
        for trip in sorted(
            (t for t in vehicle.trips if t.ended_at is not None and t.distance_km is not None),
            key=lambda t: t.ended_at or t.requested_at,
        ):
            assert trip.ended_at is not None
            assert trip.distance_km is not None
            total += float(trip.distance_km) * self._DEADHEAD
            ends.append(trip.ended_at)
            totals.append(total)
        self._ends = ends
        self._totals = totals

    def _linear(self, at: datetime) -> float:
        days = max((at - self._acquired).total_seconds(), 0.0) / 86400
        return self._km0 + self._daily * days

    def at(self, at: datetime) -> float:
        """Kilometres on the clock at ``at``."""
        if at < self._from:
            return self._linear(at)
        index = bisect_right(self._ends, at)
        km = self._start_km + (self._totals[index - 1] if index else 0.0)
        if self._tail and at > self._until:
            km += self._daily * (at - self._until).total_seconds() / 86400
        return km

    def when(self, km: float) -> datetime:
        """The first instant the odometer showed ``km`` (clamped to acquisition)."""
        if km <= self._km0:
            return self._acquired
        if km <= self._start_km:
            return self._acquired + timedelta(days=(km - self._km0) / self._daily)
        target = km - self._start_km
        index = bisect_left(self._totals, target)
        if index < len(self._totals):
            return self._ends[index]
        return self._until + timedelta(days=(target - (self._totals[-1] if self._totals else 0))
                                       / self._daily)


def _km(value: float) -> Decimal:
    return Decimal(f"{value:.1f}")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- the generator ---------------------------------------------------------------------------


class _TenantBuilder:
    """Builds one tenant's rows; every random draw comes from a stream named after its use."""

    def __init__(
        self,
        *,
        seed: int,
        today: date,
        slug: str,
        name: str,
        legal_name: str,
        country: _Country,
        weeks: int,
        platforms: tuple[str, ...],
        created_on: date,
    ) -> None:
        self.seed = seed
        self.today = today
        self.slug = slug
        self.name = name
        self.legal_name = legal_name
        self.c = country
        self.weeks = weeks
        self.platforms = platforms
        self.created_on = created_on
        self.tz = ZoneInfo(country.timezone)
        self._km_to_lon = 1 / (111.320 * math.cos(math.radians(country.centre.lat)))
        self.cur = country.currency
        self.cent = Decimal(1).scaleb(-minor_unit_exponent(country.currency))
        self._ids_rng = self._rng("ids")
        self.week0 = _monday(today) - timedelta(weeks=weeks)
        self.trips_from = self.local(self.week0, 0)
        self.trips_until = self.local(today, 0)
        self.now = self.local(today, 10)
        self.tenant_id = self.new_id(self.local(created_on, 9))
        self.vehicles: list[_Vehicle] = []
        self.drivers: list[_Driver] = []
        self.assignments: list[_Assignment] = []
        self.trips: list[_Trip] = []
        self.leaves: list[tuple[_Driver, datetime, datetime, str]] = []
        self.members: dict[str, uuid.UUID] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TENANT_TABLE_ORDER}
        self.direct: dict[str, TableRows] = {}
        self._plates: set[str] = set()
        self._phones = self._phone_pool()
        self._emails: set[str] = set()
        self._names = self._name_pool()
        self._serial = 0

    # --- primitives -----------------------------------------------------------------------

    def _rng(self, stream: str) -> random.Random:
        # A str seed is hashed with SHA-512 by random.seed(): stable across runs and machines.
        return random.Random(f"fleetcore-demo:{self.seed}:{self.slug}:{stream}")  # noqa: S311

    def new_id(self, at: datetime) -> uuid.UUID:
        """A UUIDv7 whose timestamp is ``at`` and whose random bits come from the seed."""
        ms = int(at.timestamp() * 1000)
        bits = self._ids_rng.getrandbits(74)
        rand_a, rand_b = bits >> 62, bits & ((1 << 62) - 1)
        return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)

    def local(self, day: date, hour: int, minute: int = 0) -> datetime:
        """``day`` at ``hour:minute`` in the tenant's time zone, as a UTC instant."""
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz).astimezone(UTC)

    def week(self, index: int, weekday: int, hour: int, minute: int = 0) -> datetime:
        """Weekday ``weekday`` of week ``index`` of the trip history, local time."""
        return self.local(self.week0 + timedelta(weeks=index, days=weekday), hour, minute)

    def local_date(self, at: datetime) -> date:
        """The tenant-local calendar day of an instant."""
        return at.astimezone(self.tz).date()

    def add(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Append a row of a tenant table (``tenant_id`` first)."""
        full = {"tenant_id": self.tenant_id, **row}
        self.rows[table].append(full)
        return full

    def _phone_pool(self) -> Iterator[str]:
        prefix, digits = _FICTION_PHONES[self.c.code]
        numbers = list(range(10**digits))
        self._rng("phones").shuffle(numbers)
        return (f"{prefix}{n:0{digits}d}" for n in numbers)

    def _name_pool(self) -> Iterator[tuple[str, bool, str]]:
        pairs = [
            (first, female, last)
            for first, female in self.c.first_names
            for last in self.c.last_names
        ]
        self._rng("names").shuffle(pairs)
        return iter(pairs)

    def _email(self, first: str, last: str, rng: random.Random) -> str:
        local = f"{_slugify(first)}.{_slugify(last)}".replace("-", "")
        domain = rng.choice(_EMAIL_DOMAINS)
        email, n = f"{local}@{domain}", 1
        while email in self._emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self._emails.add(email)
        return email

    # --- tenant, roles, members -----------------------------------------------------------

    def build_tenant(self, vat_number: str) -> TableRows:
        """The ``adm_tenants`` row and its lifecycle events."""
        created = self.local(self.created_on, 9)
        row = {
            "id": self.tenant_id,
            "name": self.name,
            "slug": self.slug,
            "legal_name": self.legal_name,
            "country": self.c.code,
            "default_currency": self.cur,
            "timezone": self.c.timezone,
            "vat_rate_pct": self.c.vat_rate_pct,
            "vat_number": vat_number,
            "tax_settings": {"prices_include_vat": True, "self_billing": self.c.code == "FR"},
            "status": "active",
            "clerk_organization_id": f"org_demo_{self.slug.replace('-', '_')}",
            "contact_email": f"owner@{self.slug}.example",
            "settings": {"week_starts_on": "monday", "locale": self.c.language,
                         "document_reminder_days": [30, 14, 7, 1, 0]},
            "trial_ends_at": None,
            "metadata": {"demo": {"seed": self.seed, "generated_for": self.today.isoformat()}},
        }
        for event, offset in (("created", 0), ("trial_started", 0), ("activated", 14)):
            at = created + timedelta(days=offset, minutes=offset)
            self.add("adm_tenant_lifecycle_events", {
                "id": self.new_id(at),
                "event_type": event,
                "effective_at": at,
                "performed_by_type": "system",
                "performed_by_id": None,
                "reason": "Demo tenant" if event == "created" else None,
                "metadata": {"plan": "fleet"} if event != "created" else {},
            })
        return TableRows.from_dicts("adm_tenants", [row])

    def build_roles(self) -> dict[str, uuid.UUID]:
        """The built-in roles, seeded for every tenant."""
        at = self.local(self.created_on, 9, 1)
        roles: dict[str, uuid.UUID] = {}
        # The same rows admin.service.seed_system_roles creates, with deterministic ids.
        for spec in SYSTEM_ROLES:
            roles[spec.name] = self.new_id(at)
            self.add("adm_roles", {
                "id": roles[spec.name],
                "name": spec.name,
                "description": spec.description,
                "permissions": list(spec.permissions),
                "is_system": True,
            })
        return roles

    def add_member(
        self,
        roles: Mapping[str, uuid.UUID],
        *,
        key: str,
        first: str,
        last: str,
        email: str,
        role: str,
        invited_on: date,
        accepted: bool = True,
    ) -> uuid.UUID:
        """A member with one role; ``accepted`` False leaves the invitation pending."""
        rng = self._rng(f"member:{key}")
        invited = self.local(invited_on, 10, rng.randint(0, 59))
        member_id = self.new_id(invited)
        self.members[key] = member_id
        self.add("adm_members", {
            "id": member_id,
            "clerk_user_id": f"user_demo_{self.slug.replace('-', '_')}_{key}" if accepted else None,
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": next(self._phones) if accepted else None,
            "status": "active" if accepted else "invited",
            "preferred_language": self.c.language,
            "invited_at": invited,
            "last_login_at": (
                self.now - timedelta(hours=rng.randint(2, 200)) if accepted else None
            ),
        })
        self.add("adm_member_roles", {
            "id": self.new_id(invited),
            "member_id": member_id,
            "role_id": roles[role],
            "granted_by": self.members.get("owner"),
            "granted_at": invited,
        })
        return member_id

    # --- vehicles and drivers -------------------------------------------------------------

    def new_vehicle(self, earliest: date, latest: date, *, exactly: date | None = None) -> _Vehicle:
        """A vehicle acquired between ``earliest`` and ``latest`` (or on ``exactly``)."""
        rng = self._rng(f"vehicle:{len(self.vehicles)}")
        acquired = exactly or earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
        specs = [s for s in self.c.models if s.year_from <= acquired.year]
        if self.c.code == "GB":
            spec = specs[len(self.vehicles) % len(specs)]
        else:
            spec = rng.choices(specs, weights=[s.weight for s in specs])[0]
        used = spec.class_code in ("economy", "green") and rng.random() < 0.2
        first_registration = acquired - timedelta(days=rng.randint(300, 700)) if used else acquired
        first_registration = max(first_registration, date(spec.year_from, 3, 1))
        year = first_registration.year
        ownership = rng.choices(
            ("owned", "leased", "financed", "rented"), weights=(35, 35, 20, 10)
        )[0]
        price = Decimal(round(spec.price * rng.uniform(0.94, 1.04) / 10) * 10)
        if used:
            price = Decimal(round(float(price) * 0.72 / 10) * 10)
        vehicle = _Vehicle(
            id=self.new_id(self.local(acquired, 10)),
            spec=spec,
            plate=self._plate(rng, first_registration),
            vin=self._vin(rng, spec, year),
            year=year,
            acquired_on=acquired,
            first_registration_on=first_registration,
            colour=rng.choice(self.c.colours),
            ownership=ownership,
            cost=round_minor(price, self.cur) if ownership in ("owned", "financed") else None,
            traccar_id=self._imei(rng) if rng.random() < 0.6 else None,
            km_at_acquisition=rng.uniform(18000, 52000) if used else rng.uniform(8, 60),
            daily_km=rng.uniform(118, 152),
        )
        self.vehicles.append(vehicle)
        return vehicle

    def _plate(self, rng: random.Random, registered: date) -> str:
        while True:
            if self.c.code == "FR":
                year = registered.year
                first = "F" if year <= 2020 else ("G" if year <= 2024 else "H")
                plate = (f"{first}{rng.choice(_SIV_LETTERS)}-{rng.randint(1, 999):03d}-"
                         f"{rng.choice(_SIV_LETTERS)}{rng.choice(_SIV_LETTERS)}")
                if "SS" in plate or "WW" in plate:
                    continue
            else:
                # Age identifier: March-August registrations carry the year, September-February
                # the year + 50 (of the previous year in January and February).
                yy = registered.year % 100
                if registered.month <= 2:
                    age = (yy - 1) % 100 + 50
                elif registered.month >= 9:
                    age = yy + 50
                else:
                    age = yy
                memory = "L" + rng.choice("ABCDEFGHJKLMNOPRSTUVWXY")
                letters = "".join(rng.choice(_GB_LETTERS) for _ in range(3))
                plate = f"{memory}{age:02d} {letters}"
            if plate not in self._plates:
                self._plates.add(plate)
                return plate

    def _vin(self, rng: random.Random, spec: _ModelSpec, year: int) -> str:
        digest = hashlib.sha256(f"{spec.make}/{spec.model}".encode()).digest()
        vds = "".join(_VIN_ALPHABET[b % len(_VIN_ALPHABET)] for b in digest[:5])
        plant = _VIN_ALPHABET[10 + digest[5] % 23]
        serial = f"{rng.randint(0, 999_999):06d}"
        year_code = _VIN_YEARS[(year - 2010) % 30]
        partial = f"{spec.wmi}{vds}0{year_code}{plant}{serial}"
        return partial[:8] + vin_check_digit(partial) + partial[9:]

    @staticmethod
    def _imei(rng: random.Random) -> str:
        body = f"35209{rng.randint(0, 10**9 - 1):09d}"  # a Teltonika-like TAC prefix
        return body + str(luhn.calc_check_digit(body))

    def new_driver(
        self,
        role: str,
        status: str,
        hired_on: date,
        *,
        shift: str | None = None,
        notes: str | None = None,
    ) -> _Driver:
        """A driver with a unique name, fictional phone and reserved-domain e-mail."""
        rng = self._rng(f"driver:{len(self.drivers)}")
        first, female, last = next(self._names)
        age = rng.randint(24, 56)
        dob = hired_on - timedelta(days=age * 365 + rng.randint(0, 364))
        rest = {rng.randrange(7)}
        if rng.random() < 0.5:
            rest.add((min(rest) + rng.choice((1, 3, 4))) % 7)
        driver = _Driver(
            id=self.new_id(self.local(hired_on, 9, rng.randint(0, 59))),
            first_name=first,
            last_name=last,
            female=female,
            email=self._email(first, last, rng),
            phone=next(self._phones),
            date_of_birth=dob,
            hired_on=hired_on,
            status=status,
            shift=shift or rng.choices(("day", "night"), weights=(65, 35))[0],
            rest_days=frozenset(rest),
            role=role,
            notes=notes,
        )
        self.drivers.append(driver)
        return driver

    # --- custody --------------------------------------------------------------------------

    def assign(
        self,
        vehicle: _Vehicle,
        driver: _Driver,
        starts_at: datetime,
        ends_at: datetime | None,
        kind: str = "permanent",
        notes: str | None = None,
    ) -> _Assignment:
        """Custody of ``vehicle`` by ``driver``; refuses what the database would refuse."""
        if ends_at is not None and ends_at <= starts_at:
            raise AssertionError(f"assignment ends before it starts: {starts_at} {ends_at}")
        for other in (*vehicle.assignments, *driver.assignments):
            other_end = other.ends_at or datetime.max.replace(tzinfo=UTC)
            end = ends_at or datetime.max.replace(tzinfo=UTC)
            if starts_at < other_end and other.starts_at < end:
                raise AssertionError(f"overlapping assignments for {vehicle.plate}/{driver.email}")
        if ends_at is not None and ends_at <= self.now:
            status = "ended"
        elif starts_at > self.now:
            status = "scheduled"
        else:
            status = "active"
        assignment = _Assignment(
            self.new_id(starts_at), vehicle, driver, starts_at, ends_at, kind, status, notes
        )
        vehicle.assignments.append(assignment)
        driver.assignments.append(assignment)
        self.assignments.append(assignment)
        return assignment

    def who_had(self, vehicle: _Vehicle, at: datetime) -> _Assignment | None:
        """The assignment of ``vehicle`` at ``at``: the single attribution source."""
        for a in vehicle.assignments:
            if a.starts_at <= at and (a.ends_at is None or at < a.ends_at):
                return a
        return None

    def regular(self, vehicle: _Vehicle, *, until: datetime | None = None) -> _Driver:
        """A driver who has had ``vehicle`` since shortly after its acquisition."""
        rng = self._rng(f"regular:{vehicle.plate}")
        hired = vehicle.acquired_on - timedelta(days=rng.randint(0, 30))
        driver = self.new_driver("regular", "active", hired)
        start = self.local(vehicle.acquired_on + timedelta(days=rng.randint(1, 4)), 9)
        self.assign(vehicle, driver, start, until)
        return driver

    def cover_leave(
        self, vehicle: _Vehicle, driver: _Driver, spare: _Driver, week: int
    ) -> None:
        """Split ``driver``'s open assignment around a week of approved leave covered by
        ``spare`` with a temporary assignment."""
        current = driver.assignments[-1]
        leave_start, leave_end = self.week(week, 0, 6), self.week(week + 1, 0, 6)
        current.ends_at = leave_start
        current.status = "ended"
        self.assign(vehicle, spare, self.week(week, 0, 8), self.week(week, 6, 20), "temporary",
                    notes=f"Cover during {driver.first_name} {driver.last_name}'s leave")
        self.assign(vehicle, driver, leave_end, None)
        self.leaves.append((driver, leave_start, leave_end, "approved"))

    def double_shift(self, vehicle: _Vehicle, day: _Driver, night: _Driver) -> None:
        """From the first day of the history, ``vehicle`` runs two shifts a day: one
        assignment per shift and driver, through the coming week."""
        day.shift, night.shift = "day", "night"
        current = day.assignments[-1]
        current.ends_at = self.week(0, 0, 5)
        current.status = "ended"
        last = self.today + timedelta(days=7)
        d = self.week0
        while d < last:
            if d.weekday() not in day.rest_days:
                self.assign(vehicle, day, self.local(d, 6, 30), self.local(d, 16), "shift")
            if d.weekday() not in night.rest_days:
                self.assign(vehicle, night, self.local(d, 16, 30),
                            self.local(d + timedelta(days=1), 2, 30), "shift")
            d += timedelta(days=1)

    # --- trips ----------------------------------------------------------------------------

    def link_platforms(self) -> None:
        """Platform accounts: Uber by Driver UUID, Bolt by E.164 phone (as their reports)."""
        rng = self._rng("accounts")
        for driver in self.drivers:
            if driver.status == "onboarding" or not driver.platforms:
                continue
            linked = self.local(driver.hired_on + timedelta(days=1), 11)
            for platform in driver.platforms:
                account_id = self.new_id(linked)
                driver.accounts[platform] = account_id
                if platform == "bolt":
                    external, kind = driver.phone, "phone"
                else:
                    external = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                    kind = "uuid"
                unlinked = driver.status == "terminated"
                unlinked_at = (driver.left_at + timedelta(days=2)) if driver.left_at else None
                self.add("trp_platform_accounts", {
                    "id": account_id,
                    "platform_id": CatalogueRef("dir_platforms", (platform,)),
                    "driver_id": driver.id,
                    "vehicle_id": None,
                    "external_account_id": external,
                    "external_account_kind": kind,
                    "display_name": f"{driver.first_name} {driver.last_name[0]}.",
                    "payout_receiver": (
                        "driver" if platform == "bolt" and rng.random() < 0.2 else "fleet"
                    ),
                    "status": (
                        "unlinked" if unlinked
                        else "inactive" if driver.status == "inactive" else "active"
                    ),
                    "linked_at": linked,
                    "unlinked_at": unlinked_at if unlinked else None,
                    "secret_ref": None,
                })

    def generate_trips(self) -> None:
        """Trips of every driver inside their assignments, within the trip history."""
        rng = self._rng("trips")
        bolt_ref = rng.randint(4_100_000_000, 4_200_000_000)
        for assignment in sorted(self.assignments, key=lambda a: (a.starts_at, str(a.id))):
            if not assignment.driver.accounts:
                continue
            for start, end in self._work_windows(assignment, rng):
                bolt_ref = self._shift_trips(rng, assignment, start, end, bolt_ref)

    def _work_windows(
        self, a: _Assignment, rng: random.Random
    ) -> Iterator[tuple[datetime, datetime]]:
        until = min(a.ends_at or self.trips_until, self.trips_until)
        start = max(a.starts_at, self.trips_from)
        if start >= until:
            return
        if a.kind == "shift":
            yield start, until
            return
        day = self.local_date(start) - timedelta(days=1)  # a night shift may spill over
        last = self.local_date(until)
        while day <= last:
            if day.weekday() not in a.driver.rest_days and rng.random() >= 0.03:
                if a.driver.shift == "day":
                    begin = self.local(day, 6, 30) + timedelta(minutes=rng.randint(0, 90))
                else:
                    begin = self.local(day, 16, 30) + timedelta(minutes=rng.randint(0, 90))
                finish = begin + timedelta(minutes=rng.randint(510, 630))
                window = (max(begin, start), min(finish, until))
                if window[1] - window[0] >= timedelta(hours=1):
                    yield window
            day += timedelta(days=1)

    def _shift_trips(
        self, rng: random.Random, a: _Assignment, start: datetime, end: datetime, bolt_ref: int
    ) -> int:
        # The hot loop of the generator (tens of thousands of trips): draws use rng.random()
        # directly and everything per shift is looked up once.
        driver, vehicle = a.driver, a.vehicle
        rand = rng.random
        platforms = list(driver.accounts)
        both = len(platforms) > 1
        offset = start.astimezone(self.tz).utcoffset() or timedelta(0)
        class_code = vehicle.spec.class_code
        class_factor = _CLASS_FARE[class_code]
        cent = self.cent
        airports = self.c.airports
        tolls_list = self.c.tolls
        toll_share = self.c.toll_share
        zero = Decimal("0.00")
        second = timedelta(seconds=1)
        t = start
        while True:
            t += second * (90 + int(rand() * 1410))
            if t >= end:
                return bolt_ref
            platform = ("uber" if rand() < 0.6 else "bolt") if both else platforms[0]
            pricing = self.c.pricing[platform]
            if platform == "bolt":
                bolt_ref += 1 + int(rand() * 40)
                external = str(bolt_ref)
            else:
                external = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            hour = (t + offset).hour
            pickup = self._point(rng)
            product = self.c.products[platform][class_code]
            roll = rand()
            if roll < 0.92:
                airport = rand() < 0.07
                if airport:
                    place = airports[int(rand() * len(airports))]
                    drop = (place.lat, place.lon)
                    if rand() < 0.5:
                        pickup, drop = drop, pickup
                else:
                    drop = self._point(rng)
                distance = max(self._distance(pickup, drop) * (1.22 + 0.2 * rand()), 0.9)
                if airport:
                    speed = 36 + 19 * rand()
                elif hour >= 22 or hour < 6:
                    speed = 26 + 10 * rand()
                elif 7 <= hour < 10 or 17 <= hour < 20:
                    speed = 13 + 6 * rand()
                else:
                    speed = 18 + 9 * rand()
                duration = int(distance / speed * 3600) + 60 + int(rand() * 180)
                started = t + second * (150 + int(rand() * 390))
                ended = started + second * duration
                if ended >= end:
                    return bolt_ref
                distance_km = Decimal(f"{distance:.3f}")
                fare = (pricing.base + pricing.per_km * distance_km
                        + pricing.per_min * Decimal(duration) / 60)
                fare = max(fare * class_factor, pricing.minimum)
                busy = hour >= 22 or hour < 3 or 17 <= hour < 20
                if rand() < (0.18 if busy else 0.05):
                    fare *= _SURGES[int(rand() * len(_SURGES))]
                fare = fare.quantize(cent, ROUND_HALF_UP)
                cash = platform == "bolt" and rand() < 0.15
                method = "cash" if cash else ("card" if rand() < 0.8 else "wallet")
                tip = _TIPS[int(rand() * len(_TIPS))] if not cash and rand() < 0.06 else zero
                tolls = zero
                if (airport or distance > 22) and rand() < toll_share:
                    tolls = Decimal(tolls_list[int(rand() * len(tolls_list))][2])
                commission = (fare * pricing.commission_pct / 100).quantize(cent, ROUND_HALF_UP)
                trip = _Trip(
                    self.new_id(t), platform, external, driver.accounts[platform], driver,
                    vehicle, "completed", product, t, started, ended, self._coords(pickup),
                    self._coords(drop), distance_km, duration, fare, tip, tolls, commission,
                    fare + tolls if cash else zero,
                    # What the driver earned on the trip; cash already in hand is separate.
                    fare - commission + tip + tolls,
                    method, (t + offset).date(),
                )
                t = ended
            else:
                if roll < 0.96:
                    status = "cancelled_by_rider"
                    fee = pricing.cancel_fee if rand() < 0.5 else zero
                elif roll < 0.98:
                    status, fee = "cancelled_by_driver", zero
                else:
                    status, fee = "no_show", pricing.cancel_fee
                commission = (fee * pricing.commission_pct / 100).quantize(cent, ROUND_HALF_UP)
                trip = _Trip(
                    self.new_id(t), platform, external, driver.accounts[platform], driver,
                    vehicle, status, product, t, None, None, self._coords(pickup), None, None,
                    None, fee, zero, zero, commission, zero, fee - commission,
                    "card" if rand() < 0.8 else "wallet", (t + offset).date(),
                )
                t += second * (180 + int(rand() * 300))
            self.trips.append(trip)
            vehicle.trips.append(trip)

    def _point(self, rng: random.Random) -> tuple[float, float]:
        centre = self.c.centre
        dx = rng.gauss(0, self.c.spread_km)
        dy = rng.gauss(0, self.c.spread_km * 0.8)
        return centre.lat + dy / 110.574, centre.lon + dx * self._km_to_lon

    @staticmethod
    def _coords(point: tuple[float, float]) -> tuple[Decimal, Decimal]:
        return Decimal(f"{point[0]:.6f}"), Decimal(f"{point[1]:.6f}")

    @staticmethod
    def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
        lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
        h = (math.sin((lat2 - lat1) / 2) ** 2
             + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
        return 2 * 6371.0 * math.asin(math.sqrt(h))

    # --- rows -----------------------------------------------------------------------------

    def emit(self) -> tuple[TableRows, ...]:
        """Every tenant table's rows, in write order."""
        return tuple(
            self.direct.get(t) or TableRows.from_dicts(t, self.rows[t]) for t in TENANT_TABLE_ORDER
        )


# --- the stories of the two tenants ----------------------------------------------------------


def _vehicles_and_custody_main(b: _TenantBuilder) -> dict[str, Any]:
    """40 cars, 60 drivers, and who had which car when (see the module docstring)."""
    w0 = b.week0
    rng = b._rng("story")
    story: dict[str, Any] = {}

    # Two cars whose first driver left the fleet before the history starts.
    for _ in range(2):
        v = b.new_vehicle(w0 - timedelta(days=900), w0 - timedelta(days=430))
        first = b.new_driver("former", "inactive", v.acquired_on - timedelta(days=20),
                             notes="Left the fleet; kept for history.")
        end = b.local(v.acquired_on + timedelta(days=rng.randint(150, 250)), 18)
        b.assign(v, first, b.local(v.acquired_on + timedelta(days=2), 9), end)
        first.left_at = end
        hired = b.local_date(end) - timedelta(days=rng.randint(5, 40))
        regular = b.new_driver("regular", "active", hired)
        b.assign(v, regular, b.local(b.local_date(end) + timedelta(days=rng.randint(3, 10)), 9),
                 None)

    plain = [b.new_vehicle(w0 - timedelta(days=1150), w0 - timedelta(days=60)) for _ in range(32)]
    regulars = [b.regular(v) for v in plain]
    story["regulars"] = regulars

    # Two spares cover three weeks of leave.
    spares = [
        b.new_driver("spare", "active", w0 - timedelta(days=rng.randint(150, 300)),
                     notes="Relief driver: covers leave and workshop days.")
        for _ in range(2)
    ]
    for (vehicle, driver), spare, week in zip(
        zip(plain[18:21], regulars[18:21], strict=True), (spares[0], spares[1], spares[0]),
        (2, 5, 8), strict=True,
    ):
        b.cover_leave(vehicle, driver, spare, week)

    # Three cars run day and night shifts.
    for vehicle, day in zip(plain[29:32], regulars[29:32], strict=True):
        night = b.new_driver("night partner", "active", w0 - timedelta(days=rng.randint(10, 25)),
                             shift="night")
        b.double_shift(vehicle, day, night)

    # Three cars change hands: the first driver leaves, a new hire takes over.
    for week, status in ((1, "terminated"), (4, "terminated"), (8, "inactive")):
        v = b.new_vehicle(w0 - timedelta(days=900), w0 - timedelta(days=120))
        leaver = b.regular(v, until=b.week(week, 4, 18))
        leaver.status = status
        leaver.left_at = b.week(week, 4, 18)
        leaver.notes = ("Left the fleet (end of cooperation)." if status == "terminated"
                        else "On a break; may come back.")
        newcomer = b.new_driver("new hire", "active", w0 + timedelta(weeks=week, days=-7))
        b.assign(v, newcomer, b.week(week + 1, 0, 8), None)

    # A driver moves to a new car (an approved vehicle-change request); the old car goes to the
    # workshop, then to a new hire.
    old = b.new_vehicle(w0 - timedelta(days=1000), w0 - timedelta(days=500))
    changer = b.regular(old, until=b.week(5, 0, 9))
    new = b.new_vehicle(w0, w0, exactly=w0 + timedelta(weeks=5))
    story["vehicle_change"] = b.assign(new, changer, b.week(5, 0, 11), None,
                                       notes="Vehicle change (new car)")
    story["changer"] = changer
    story["change_old"], story["change_new"] = old, new
    story["workshop"] = (old, b.week(5, 0, 12), b.week(5, 3, 17))
    newcomer = b.new_driver("new hire", "active", w0 + timedelta(weeks=4))
    b.assign(old, newcomer, b.week(5, 4, 8), None)

    # A car whose driver was suspended (expired card), then driven until an accident two days
    # ago; it is in the bodyshop and promised back to its driver in two days.
    v = b.new_vehicle(w0 - timedelta(days=1000), w0 - timedelta(days=400))
    suspended = b.regular(v, until=b.week(3, 0, 8))
    suspended.status = "suspended"
    suspended.card_expires_on = b.local_date(b.week(3, 0, 8)) - timedelta(days=1)
    suspended.notes = "Suspended: professional card expired; renewal pending at the prefecture."
    driver = b.new_driver("regular", "active", w0 + timedelta(weeks=2, days=-3))
    accident = b.local(b.today - timedelta(days=2), 18)
    b.assign(v, driver, b.week(3, 1, 8), accident)
    b.assign(v, driver, b.local(b.today + timedelta(days=2), 8), None,
             notes="Back from the bodyshop")
    v.status = "in_maintenance"
    story["accident"] = (v, driver, accident)

    # The rest: drivers in onboarding, waiting for a car, or gone.
    for _ in range(5):
        b.new_driver("onboarding", "onboarding", b.today - timedelta(days=rng.randint(1, 12)),
                     notes="Onboarding: documents under review.")
    for _ in range(3):
        b.new_driver("waiting", "active", b.today - timedelta(days=rng.randint(20, 70)),
                     notes="Waiting for a vehicle.")
    b.new_driver("former", "inactive", w0 - timedelta(days=rng.randint(400, 700)),
                 notes="Stopped driving for the fleet.")
    story["spares"] = spares
    return story


def _vehicles_and_custody_second(b: _TenantBuilder) -> dict[str, Any]:
    """6 cars, 8 drivers, one leave covered, one handover."""
    w0 = b.week0
    plain = [b.new_vehicle(w0 - timedelta(days=900), w0 - timedelta(days=90)) for _ in range(5)]
    regulars = [b.regular(v) for v in plain]
    spare = b.new_driver("spare", "active", w0 - timedelta(days=200),
                         notes="Relief driver.")
    b.cover_leave(plain[4], regulars[4], spare, 1)
    v = b.new_vehicle(w0 - timedelta(days=700), w0 - timedelta(days=200))
    leaver = b.regular(v, until=b.week(1, 4, 18))
    leaver.status, leaver.left_at = "inactive", b.week(1, 4, 18)
    leaver.notes = "Taking a break from driving."
    newcomer = b.new_driver("new hire", "active", w0 + timedelta(days=3))
    b.assign(v, newcomer, b.week(2, 0, 8), None)
    return {"regulars": regulars, "spares": [spare]}


# --- everything around custody ---------------------------------------------------------------


class _Details:
    """Drivers, vehicles, documents, maintenance, costs and to-dos, derived from custody."""

    def __init__(self, b: _TenantBuilder, story: Mapping[str, Any]) -> None:
        self.b = b
        self.story = story
        self.c = b.c
        self.rng = b._rng("details")
        self.manager = b.members.get("fleet_manager", b.members["owner"])
        self.finance = b.members.get("finance", b.members["owner"])
        self.terms: dict[uuid.UUID, dict[str, Any]] = {}
        self.platform_refs = {p: CatalogueRef("dir_platforms", (p,)) for p in b.platforms}

    # --- drivers ----------------------------------------------------------------------------

    def drivers(self, *, expiring_cards: int) -> None:
        """``rid_drivers`` rows with licences and professional cards, plus their documents."""
        b, rng = self.b, self.rng
        soon = [d for d in self.story["regulars"] if d.status == "active"][:expiring_cards]
        soon_days = iter((6, 17, 27, 12, 23))
        first_onboarding = next((x for x in b.drivers if x.status == "onboarding"), None)
        for d in b.drivers:
            licence_issued = _add_years(d.date_of_birth, 18) + timedelta(days=rng.randint(30, 2000))
            licence_issued = min(licence_issued, d.hired_on - timedelta(days=3 * 365 + 10))
            if b.c.code == "FR":
                licence_expires = (_add_years(licence_issued, 15)
                                   if licence_issued >= date(2013, 9, 16) else date(2033, 1, 19))
                dept = rng.choice((75, 92, 93, 94, 95, 77, 91))
                licence_number = (f"{licence_issued.year % 100:02d}{licence_issued.month:02d}"
                                  f"{dept:02d}{rng.randint(0, 999_999):06d}")
            else:
                licence_expires = _add_years(licence_issued, 10)
                while licence_expires <= b.today + timedelta(days=60):
                    licence_expires = _add_years(licence_expires, 10)
                licence_number = self._dvla(d)
            if d.card_expires_on is None:
                if d in soon:
                    d.card_expires_on = b.today + timedelta(days=next(soon_days))
                else:
                    card_issued = d.hired_on - timedelta(days=rng.randint(10, 900))
                    expires = _add_years(card_issued, self.c.card_years)
                    while expires <= b.today + timedelta(days=45):
                        # Renewed about a month before it lapsed, and never in the future.
                        card_issued = min(expires - timedelta(days=30),
                                          b.today - timedelta(days=rng.randint(1, 60)))
                        expires = _add_years(card_issued, self.c.card_years)
                    d.card_expires_on = expires
            card_issued = _add_years(d.card_expires_on, -self.c.card_years)
            if b.c.code == "FR":
                card_number = (f"VTC-0{rng.choice((75, 92, 93, 94))}-{card_issued.year}-"
                               f"{rng.randint(0, 99_999):05d}")
            else:
                card_number = f"{rng.randint(100_000, 999_999)}"
            worked = any(a.starts_at < b.trips_until for a in d.assignments)
            b.add("rid_drivers", {
                "id": d.id,
                "first_name": d.first_name,
                "last_name": d.last_name,
                "email": d.email,
                "phone": d.phone,
                "date_of_birth": d.date_of_birth,
                "licence_number": licence_number,
                "licence_country": b.c.code,
                "licence_issued_on": licence_issued,
                "licence_expires_on": licence_expires,
                "professional_card_type": self.c.card_type,
                "professional_card_number": card_number,
                "professional_card_expires_on": d.card_expires_on,
                "status": d.status,
                "rating": Decimal(rng.randint(468, 499)).scaleb(-2) if worked else None,
                "notes": d.notes,
                "member_id": d.member_id,
                "hired_on": d.hired_on,
                "preferred_language": self.c.language,
            })
            onboarding = d.status == "onboarding"
            licence_name = "permis-de-conduire" if b.c.code == "FR" else "driving-licence"
            card_name = "carte-vtc" if b.c.code == "FR" else "pco-licence"
            rejected = d is first_onboarding  # one upload was refused: unreadable photo
            for doc_type, number, issued, expires, name in (
                ("driver_licence", licence_number, licence_issued, licence_expires, licence_name),
                ("professional_card", card_number, card_issued, d.card_expires_on, card_name),
            ):
                state = "pending" if onboarding else "verified"
                if rejected and doc_type == "driver_licence":
                    state = "rejected"
                uploaded = max(issued, d.hired_on - timedelta(days=5))
                doc_id = self.document(
                    entity_type="driver", entity_id=d.id, doc_type=doc_type, number=number,
                    file_name=f"{name}-{_slugify(d.last_name)}.{'jpg' if onboarding else 'pdf'}",
                    issued_on=issued, expires_on=expires, uploaded_on=uploaded, state=state,
                )
                expired = expires < b.today
                doc_row = b.rows["doc_documents"][-1]
                b.add("rid_driver_documents", {
                    "id": b.new_id(b.local(uploaded, 12)),
                    "driver_id": d.id,
                    "document_id": doc_id,
                    "requirement": "required",
                    "verification_status": "expired" if expired and state == "verified" else state,
                    "verified_by": doc_row["verified_by"] or doc_row["rejected_by"],
                    "verified_at": doc_row["verified_at"] or doc_row["rejected_at"],
                    "rejection_reason": doc_row["rejection_reason"],
                })

    def _dvla(self, d: _Driver) -> str:
        surname = re.sub("[^A-Z]", "", _ascii(d.last_name).upper())[:5].ljust(5, "9")
        dob = d.date_of_birth
        month = dob.month + (50 if d.female else 0)
        initials = (_ascii(d.first_name).upper()[:1] + "9")[:2]
        check = "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
        birth = f"{dob.year % 100 // 10}{month:02d}{dob.day:02d}{dob.year % 10}"
        return f"{surname}{birth}{initials}9{check}"

    def document(
        self,
        *,
        entity_type: str,
        entity_id: uuid.UUID,
        doc_type: str,
        number: str | None,
        file_name: str,
        issued_on: date,
        expires_on: date | None,
        uploaded_on: date,
        state: str,
    ) -> uuid.UUID:
        """A ``doc_documents`` row; its file (:mod:`fleetcore.demo.documents`) is stored by the
        loader under the row's key."""
        b, rng = self.b, self.rng
        uploaded_on = min(uploaded_on, b.today)
        doc_id = b.new_id(b.local(uploaded_on, 11, rng.randint(0, 59)))
        reviewed = min(b.local(uploaded_on + timedelta(days=rng.randint(0, 3)), 15),
                       b.now - timedelta(hours=1))
        # The size drawn before files existed is still drawn: the rest of the demo keeps the
        # same random sequence (and so the same data) for a seed.
        rng.randint(90_000, 2_400_000)
        content = demo_document_file(doc_id, doc_type, file_name)
        b.add("doc_documents", {
            "id": doc_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "document_type": doc_type,
            "document_number": number,
            "file_name": file_name,
            "storage_backend": "local",
            "storage_key": f"{b.tenant_id}/{doc_id}",
            "mime_type": mime_type_of(file_name),
            "size_bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "issued_on": issued_on,
            "expires_on": expires_on,
            "notes": PLACEHOLDER_NOTE,
            "verified": state == "verified",
            "verified_by": self.manager if state == "verified" else None,
            "verified_at": reviewed if state == "verified" else None,
            "rejection_reason": (
                "Photo unreadable: the licence number is cut off." if state == "rejected" else None
            ),
            "rejected_by": self.manager if state == "rejected" else None,
            "rejected_at": reviewed if state == "rejected" else None,
        })
        return doc_id

    def terms_rows(self, *, versioned: int) -> None:
        """Cooperation terms: revenue share or weekly rent, versioned and dated."""
        b, rng = self.b, self.rng
        candidates = [d for d in self.story["regulars"]
                      if d.status == "active" and (b.today - d.hired_on).days > 220]
        changed = set(rng.sample(candidates, min(versioned, len(candidates))))
        for d in b.drivers:
            start = b.local(d.hired_on, 0)
            if d.status == "onboarding":
                self._terms(d, 1, b.local(b.today + timedelta(days=rng.randint(3, 10)), 0), None,
                            "pending")
                continue
            end: datetime | None = None
            status = "active"
            if d.left_at is not None:
                end = b.local(b.local_date(d.left_at) + timedelta(days=1), 0)
                status = "terminated" if d.status == "terminated" else "expired"
            elif d.status == "inactive":
                end, status = b.local(d.hired_on + timedelta(days=200), 0), "expired"
            if d in changed:
                switch = b.local(b.today - timedelta(days=rng.randint(20, 150)), 0)
                self._terms(d, 1, start, switch, "expired")
                self._terms(d, 2, switch, None, "active")
            else:
                self._terms(d, 1, start, end, status)

    def _terms(
        self, d: _Driver, version: int, start: datetime, end: datetime | None, status: str
    ) -> None:
        b, rng = self.b, self.rng
        rent = rng.random() < 0.4
        accepted = None if status == "pending" else start - timedelta(
            days=rng.randint(1, 3), hours=rng.randint(1, 8))
        row = {
            "id": b.new_id(start),
            "driver_id": d.id,
            "terms_version": f"{b.slug.split('-')[0].upper()}-{start.year}-v{version}",
            "status": status,
            "accepted_at": accepted,
            "accepted_ip": f"203.0.113.{rng.randint(2, 254)}" if accepted else None,
            "accepted_user_agent": _USER_AGENT if accepted else None,
            "effective_from": start,
            "effective_to": end,
            "settlement_model": "fixed_rent" if rent else "revenue_share",
            "fleet_share_pct": None if rent else Decimal(rng.choice((25, 28, 30, 32, 35))),
            "rent_amount": Decimal(rng.choice(self.c.rents)).quantize(Decimal("0.01"))
            if rent else None,
            "rent_period": "week" if rent else None,
            "currency": b.cur,
            "recharge_fuel": rent,
            "recharge_tolls": True,
            "recharge_fines": True,
            "recharge_other_expenses": False,
            "deposit_amount": self.c.deposit if rent else (self.c.deposit / 2).quantize(
                Decimal("0.01")),
            "weekly_deposit_instalment": Decimal("100.00") if rent else None,
            "termination_reason": "Left the fleet" if status == "terminated" else None,
        }
        b.add("rid_driver_cooperation_terms", row)
        if status != "pending":
            self.terms[d.id] = row  # the latest accepted version decides recharges

    # --- vehicles -------------------------------------------------------------------------

    def vehicles(self) -> None:
        """``flt_vehicles`` rows, registration documents, and the odometer models."""
        b = self.b
        for v in b.vehicles:
            b.add("flt_vehicles", {
                "id": v.id,
                "make_id": CatalogueRef("dir_car_makes", (v.spec.make,)),
                "model_id": CatalogueRef("dir_car_models", (v.spec.make, v.spec.model)),
                "vehicle_class_id": CatalogueRef("dir_vehicle_classes",
                                                 (b.c.code, v.spec.class_code)),
                "vin": v.vin,
                "licence_plate": v.plate,
                "country": b.c.code,
                "year": v.year,
                "first_registration_on": v.first_registration_on,
                "colour": v.colour,
                "seats": v.spec.seats,
                "fuel_type": v.spec.fuel,
                "ownership_type": v.ownership,
                "acquired_on": v.acquired_on,
                "acquisition_cost": v.cost,
                "currency": b.cur,
                "status": v.status,
                "traccar_device_id": v.traccar_id,
                "notes": None,
            })
            tail = any(a.ends_at is None or a.ends_at > b.trips_until for a in v.assignments
                       if a.starts_at <= b.trips_until)
            v.odometer = _Odometer(v, b.trips_from, b.trips_until, tail)
            number = (f"{v.acquired_on.year}{self.rng.choice(_SIV_LETTERS)}"
                      f"{self.rng.choice(_SIV_LETTERS)}{self.rng.randint(10_000, 99_999)}"
                      if b.c.code == "FR" else f"{self.rng.randint(10**10, 10**11 - 1)}")
            self.document(
                entity_type="vehicle", entity_id=v.id, doc_type="registration", number=number,
                file_name=("certificat-immatriculation" if b.c.code == "FR" else "v5c")
                + f"-{_slugify(v.plate)}.pdf",
                issued_on=v.acquired_on, expires_on=None, uploaded_on=v.acquired_on,
                state="verified",
            )

    @staticmethod
    def meter(v: _Vehicle) -> _Odometer:
        """The vehicle's odometer model (built by :meth:`vehicles`)."""
        assert v.odometer is not None
        return v.odometer

    def odo(self, v: _Vehicle, at: datetime) -> float:
        """The vehicle's odometer at ``at``."""
        return self.meter(v).at(at)

    def assignment_rows(self) -> None:
        """``flt_vehicle_assignments`` with handover odometers, and handover events."""
        b = self.b
        for a in sorted(b.assignments, key=lambda a: (a.starts_at, str(a.id))):
            started = a.starts_at <= b.now
            b.add("flt_vehicle_assignments", {
                "id": a.id,
                "vehicle_id": a.vehicle.id,
                "driver_id": a.driver.id,
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "assignment_type": a.kind,
                "status": a.status,
                "odometer_out_km": _km(self.odo(a.vehicle, a.starts_at)) if started else None,
                "odometer_in_km": (_km(self.odo(a.vehicle, a.ends_at))
                                   if a.ends_at is not None and a.status == "ended" else None),
                "notes": a.notes,
            })

    def events(self, *, overspeeds: int) -> None:
        """Acquisition and handover events, the accident, and a few GPS overspeeds."""
        b, rng = self.b, self.rng
        for v in b.vehicles:
            at = b.local(v.acquired_on, 10)
            self._event(v, None, None, "acquisition", "info", at, v.cost,
                        f"{v.spec.make} {v.spec.model} joined the fleet ({v.ownership}).")
        for a in b.assignments:
            if a.kind != "shift" and a.starts_at <= b.now:
                self._event(a.vehicle, a.driver, a, "handover", "info", a.starts_at, None,
                            f"Handed over to {a.driver.first_name} {a.driver.last_name}.")
        if "accident" in self.story:
            v, d, at = self.story["accident"]
            self._event(v, d, self.b.who_had(v, at - timedelta(minutes=30)), "accident", "medium",
                        at - timedelta(minutes=30), round_minor(Decimal("1840.00"), b.cur),
                        "Low-speed rear collision at a junction; no injuries. Bodyshop quote "
                        "attached to the repair job.",
                        follow_up=b.today + timedelta(days=5))
        tracked = [v for v in b.vehicles if v.traccar_id and v.trips]
        for n in range(overspeeds):
            v = rng.choice(tracked)
            trip = rng.choice([t for t in v.trips if t.ended_at is not None])
            assert trip.started_at is not None
            at = trip.started_at + timedelta(minutes=2)
            self._event(v, trip.driver, b.who_had(v, at), "overspeed",
                        rng.choice(("low", "low", "medium")), at, None,
                        f"{rng.randint(12, 24)} km/h over the limit for {rng.randint(8, 40)} s.",
                        source="traccar", external=f"traccar-{b.slug}-{n + 1:05d}",
                        resolved=at + timedelta(days=1))

    def _event(
        self,
        v: _Vehicle,
        d: _Driver | None,
        a: _Assignment | None,
        kind: str,
        severity: str,
        at: datetime,
        cost: Decimal | None,
        description: str,
        *,
        follow_up: date | None = None,
        source: str = "manual",
        external: str | None = None,
        resolved: datetime | None = None,
    ) -> None:
        self.b.add("flt_vehicle_events", {
            "id": self.b.new_id(at),
            "vehicle_id": v.id,
            "driver_id": d.id if d else None,
            "assignment_id": a.id if a else None,
            "event_type": kind,
            "severity": severity,
            "occurred_at": at,
            "odometer_km": _km(self.odo(v, at)),
            "description": description,
            "cost": cost,
            "currency": self.b.cur if cost is not None else None,
            "source": source,
            "external_event_id": external,
            "follow_up_due_on": follow_up,
            "resolved_at": resolved,
        })

    def insurances(self, *, renewals_due: int) -> None:
        """One active policy per vehicle covering today, the previous one ended."""
        b, rng = self.b, self.rng
        old = [v for v in b.vehicles if (b.today - v.acquired_on).days > 400]
        due = set(rng.sample(old, min(renewals_due, len(old))))
        for v in b.vehicles:
            insurer, prefix = rng.choice(self.c.insurers)
            if v in due:
                start = b.today - timedelta(days=365 - rng.randint(8, 26))
            else:
                start = b.today - timedelta(days=rng.randint(0, 330))
            start = max(start, v.acquired_on)
            premium = Decimal(rng.randint(210, 330)).quantize(Decimal("0.01"))
            deductible = Decimal(rng.choice((500, 750, 1000, 1500))).quantize(Decimal("0.01"))
            policies = [(start, _add_years(start, 1) - timedelta(days=1), True)]
            if start > v.acquired_on:
                previous = max(_add_years(start, -1), v.acquired_on)
                policies.insert(0, (previous, start - timedelta(days=1), False))
            for starts_on, ends_on, current in policies:
                policy = f"{prefix}-{starts_on.year}-{rng.randint(100_000, 999_999)}"
                b.add("flt_vehicle_insurances", {
                    "id": b.new_id(b.local(starts_on, 9)),
                    "vehicle_id": v.id,
                    "provider": insurer,
                    "policy_number": policy,
                    "coverage_type": ("Flotte VTC tous risques" if b.c.code == "FR"
                                      else "Private hire fully comprehensive"),
                    "currency": b.cur,
                    "deductible": deductible,
                    "premium": premium,
                    "premium_frequency": "monthly",
                    "starts_on": starts_on,
                    "ends_on": ends_on,
                    "active": current,
                    "notes": None if current else "Renewed.",
                })
                if current:
                    self.document(
                        entity_type="vehicle", entity_id=v.id,
                        doc_type="insurance_certificate", number=policy,
                        file_name=f"attestation-assurance-{_slugify(v.plate)}.pdf"
                        if b.c.code == "FR" else f"insurance-certificate-{_slugify(v.plate)}.pdf",
                        issued_on=starts_on, expires_on=ends_on, uploaded_on=starts_on,
                        state="verified",
                    )

    # --- maintenance and odometer ---------------------------------------------------------

    def maintenance(self, *, due_soon: int) -> dict[str, Any]:
        """Schedules (service, inspection, tyres), their history, planned jobs and the
        bodyshop job; one service overdue, a few due soon."""
        b, rng = self.b, self.rng
        busy = {(t.vehicle.id, t.day) for t in b.trips}
        candidates = [v for v in b.vehicles if v.status == "active" and v.trips]
        # The overdue one must have driven well over an interval since it was bought.
        overdue_vehicle = next(
            v for v in candidates
            if self.odo(v, b.now) - v.km_at_acquisition
            > 1.2 * (30000 if v.spec.fuel == "electric" else 15000)
        )
        others = [v for v in candidates if v is not overdue_vehicle]
        soon = set(rng.sample(others, min(due_soon, len(others))))
        inspection_soon = set(rng.sample(others, min(2, len(others))))
        workshop = self.story.get("workshop")
        result: dict[str, Any] = {}
        for v in b.vehicles:
            current = self.odo(v, b.now)
            ev = v.spec.fuel == "electric"
            service_type = "service" if ev else "oil_change"
            interval_km, interval_days = (30000, 730) if ev else (15000, 365)
            # Service: chosen by distance since the last one.
            if workshop is not None and v is workshop[0]:
                last_at: datetime = workshop[2]
            else:
                if v is overdue_vehicle:
                    since = interval_km * 1.07
                elif v in soon:
                    since = interval_km * rng.uniform(0.93, 0.97)
                else:
                    since = interval_km * rng.uniform(0.1, 0.85)
                last_at = self._free_day(v, self.meter(v).when(current - since), busy)
            schedule_id = self._schedule(
                v, service_type, "Service" if ev else "Oil and filter change", interval_km,
                interval_days, last_at, reminder_km=1500, reminder_days=14,
                history=True, workshop=workshop if workshop and v is workshop[0] else None,
            )
            if v is overdue_vehicle:
                result["overdue"] = (v, schedule_id)
            if v in soon:
                result.setdefault("soon", []).append((v, schedule_id))
            # Inspection: yearly, by date.
            if v is self.story.get("accident", (None,))[0]:
                inspected = b.today - timedelta(days=372)
            elif v in inspection_soon:
                inspected = b.today - timedelta(days=365 - rng.randint(8, 23))
            else:
                inspected = b.today - timedelta(days=rng.randint(20, 330))
            if inspected < v.acquired_on:
                inspected = v.acquired_on
            inspected_at = self._free_day(v, b.local(inspected, 9), busy)
            self._schedule(v, "inspection", "Periodic technical inspection", None, 365,
                           inspected_at, reminder_km=None, reminder_days=30, history=True)
            self.document(
                entity_type="vehicle", entity_id=v.id, doc_type="inspection_report",
                number=f"CT-{rng.randint(10**7, 10**8 - 1)}",
                file_name=("proces-verbal-controle-technique" if b.c.code == "FR"
                           else "phv-inspection-report") + f"-{_slugify(v.plate)}.pdf",
                issued_on=b.local_date(inspected_at),
                expires_on=b.local_date(inspected_at) + timedelta(days=365),
                uploaded_on=b.local_date(inspected_at), state="verified",
            )
            # Tyres: every 40,000 km.
            tyres_since = rng.uniform(2000, 36000)
            tyres_at = self._free_day(v, self.meter(v).when(current - tyres_since), busy)
            self._schedule(v, "tyres", "Tyre replacement", 40000, None, tyres_at,
                           reminder_km=2000, reminder_days=None,
                           history=current - tyres_since > v.km_at_acquisition + 1000)
        if "accident" in self.story:
            v, _, at = self.story["accident"]
            self._job(v, None, "repair", "in_progress", b.local_date(at), None,
                      at + timedelta(hours=1), None, self.odo(v, at), None,
                      "Rear bumper, tailgate and parking sensors after a low-speed collision.",
                      cost=None, fault=True, provider=rng.choice(self.c.garages["repair"]))
        return result

    def _free_day(self, v: _Vehicle, at: datetime, busy: set[tuple[uuid.UUID, date]]) -> datetime:
        """The day closest to ``at`` on which the vehicle did no trips (the driver's day off),
        09:00 local, so workshop time never overlaps a trip."""
        day = self.b.local_date(min(at, self.b.now - timedelta(days=1)))
        day = max(day, v.acquired_on)
        for delta in (0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, 6):
            candidate = day + timedelta(days=delta)
            if (v.acquired_on <= candidate < self.b.today
                    and (v.id, candidate) not in busy
                    and (v.id, candidate - timedelta(days=1)) not in busy):
                return self.b.local(candidate, 9)
        return self.b.local(day, 9)

    def _schedule(
        self,
        v: _Vehicle,
        kind: str,
        description: str,
        interval_km: int | None,
        interval_days: int | None,
        last_at: datetime,
        *,
        reminder_km: int | None,
        reminder_days: int | None,
        history: bool,
        workshop: tuple[_Vehicle, datetime, datetime] | None = None,
    ) -> uuid.UUID:
        b, rng = self.b, self.rng
        last_km = self.odo(v, last_at)
        last_on = b.local_date(last_at)
        next_km = _km(last_km + interval_km) if interval_km else None
        next_on = last_on + timedelta(days=interval_days) if interval_days else None
        schedule_id = b.new_id(b.local(v.acquired_on, 11))
        b.add("sch_maintenance_schedules", {
            "id": schedule_id,
            "vehicle_id": v.id,
            "maintenance_type": kind,
            "description": description,
            "interval_km": interval_km,
            "interval_days": interval_days,
            "last_done_km": _km(last_km),
            "last_done_on": last_on,
            "next_due_km": next_km,
            "next_due_on": next_on,
            "reminder_lead_km": reminder_km,
            "reminder_lead_days": reminder_days,
            "active": True,
        })
        garage = rng.choice(self.c.garages["tyres" if kind == "tyres" else
                                           "inspection" if kind == "inspection" else "service"])
        costs = {"oil_change": (180, 320), "service": (220, 420), "inspection": (78, 95),
                 "tyres": (420, 720)}[kind]
        if history:
            off_start: datetime | None = None
            off_end: datetime | None = None
            if workshop is not None:
                off_start, off_end = workshop[1], workshop[2]
            elif interval_km and last_km - interval_km > v.km_at_acquisition + 500:
                # The job before: gives the vehicle a maintenance history of more than one row.
                previous_at = self.meter(v).when(last_km - interval_km)
                previous_km = self.odo(v, previous_at)
                self._job(v, schedule_id, kind, "completed", None, b.local_date(previous_at),
                          None, None, previous_km, (previous_km + interval_km, None),
                          description, cost=rng.randint(*costs), provider=garage,
                          interval_days=interval_days)
            if last_on > v.acquired_on:
                self._job(v, schedule_id, kind, "completed", None, last_on, off_start, off_end,
                          last_km, (float(next_km) if next_km else None, next_on), description,
                          cost=rng.randint(*costs), provider=garage)
        due_soon = (next_on is not None and next_on <= b.today + timedelta(days=30)) or (
            next_km is not None and float(next_km) - self.odo(v, b.now) <= (reminder_km or 0)
            and float(next_km) > self.odo(v, b.now)
        )
        if due_soon and (next_on is None or next_on >= b.today):
            planned = b.today + timedelta(days=rng.randint(2, 9))
            self._job(v, schedule_id, kind, "scheduled", planned, None, None, None, None, None,
                      description, cost=None, provider=garage)
        return schedule_id

    def _job(
        self,
        v: _Vehicle,
        schedule_id: uuid.UUID | None,
        kind: str,
        status: str,
        scheduled_on: date | None,
        completed_on: date | None,
        off_start: datetime | None,
        off_end: datetime | None,
        km: float | None,
        next_due: tuple[float | None, date | None] | None,
        description: str,
        *,
        cost: int | None,
        provider: str,
        fault: bool = False,
        interval_days: int | None = None,
    ) -> None:
        b = self.b
        when = completed_on or scheduled_on
        assert when is not None
        next_km, next_on = next_due if next_due else (None, None)
        if interval_days and completed_on and next_on is None:
            next_on = completed_on + timedelta(days=interval_days)
        b.add("flt_vehicle_maintenance", {
            "id": b.new_id(b.local(when, 9)),
            "vehicle_id": v.id,
            "schedule_id": schedule_id,
            "maintenance_type": kind,
            "status": status,
            "scheduled_on": scheduled_on or completed_on,
            "completed_on": completed_on,
            "odometer_km": _km(km) if km is not None else None,
            "next_due_km": _km(next_km) if next_km is not None else None,
            "next_due_on": next_on,
            "provider": provider,
            "description": description,
            "cost": Decimal(cost).quantize(Decimal("0.01")) if cost is not None else None,
            "currency": b.cur if cost is not None else None,
            "off_road_starts_at": off_start,
            "off_road_ends_at": off_end,
            "driver_at_fault": fault,
            "notes": None,
        })
        if status == "completed" and km is not None and completed_on is not None:
            self._reading(v, b.local(completed_on, 12), "maintenance")

    def odometer_readings(self) -> None:
        """Acquisition, handover, maintenance and weekly readings (GPS where a tracker is
        fitted, the driver's photo otherwise); one typo flagged and corrected."""
        b, rng = self.b, self.rng
        for v in b.vehicles:
            self._reading(v, b.local(v.acquired_on, 10), "manual")
            for a in v.assignments:
                if a.kind != "shift" and a.starts_at <= b.now and a.starts_at >= b.trips_from:
                    self._reading(v, a.starts_at, "handover")
                if (a.kind != "shift" and a.ends_at is not None and a.status == "ended"
                        and a.ends_at >= b.trips_from):
                    self._reading(v, a.ends_at, "handover")
            for week in range(b.weeks + 1):
                at = b.week(week, 1, 3)
                if at <= b.now and at > b.local(v.acquired_on, 10):
                    if v.traccar_id:
                        self._reading(v, at, "gps")
                    elif week % 2 == 0:
                        self._reading(v, at + timedelta(hours=6), "manual")
        manual = [r for r in b.rows["flt_odometer_readings"]
                  if r["source"] == "manual" and r["read_at"] > b.trips_from]
        if manual:
            typo = rng.choice(manual)
            true_km = typo["odometer_km"]
            wrong = typo["odometer_km"] * 10
            typo["odometer_km"] = wrong
            typo["is_anomaly"] = True
            typo["anomaly_reason"] = (
                f"Implausible: {wrong - true_km:,.0f} km more than the previous reading; "
                "likely an extra digit."
            )
            self._reading_row(typo["vehicle_id"], typo["read_at"], true_km, "manual",
                              corrects=typo["id"], recorded_by=self.manager)
        b.rows["flt_odometer_readings"].sort(key=lambda r: (r["read_at"], r["corrects_reading_id"]
                                                            is not None))

    def _reading(self, v: _Vehicle, at: datetime, source: str) -> None:
        self._reading_row(v.id, at, _km(self.odo(v, at)), source)

    def _reading_row(
        self,
        vehicle_id: uuid.UUID,
        at: datetime,
        km: Decimal,
        source: str,
        *,
        corrects: uuid.UUID | None = None,
        recorded_by: uuid.UUID | None = None,
    ) -> None:
        self.b.add("flt_odometer_readings", {
            "id": self.b.new_id(at),
            "vehicle_id": vehicle_id,
            "read_at": at,
            "odometer_km": km,
            "source": source,
            "is_anomaly": False,
            "anomaly_reason": None,
            "corrects_reading_id": corrects,
            "confirmed_at": None,
            "confirmed_by": None,
            "recorded_by": recorded_by,
        })

    # --- trips, tolls, fines, expenses ----------------------------------------------------

    def trip_rows(self) -> None:
        """``trp_trips`` rows, built as tuples directly (they are most of the dataset)."""
        b = self.b
        tenant, currency = b.tenant_id, b.cur
        rows = []
        for t in sorted(b.trips, key=lambda t: t.requested_at):
            dropoff = t.dropoff or (None, None)
            rows.append((
                tenant, t.id, self.platform_refs[t.platform], t.external_id, t.account_id,
                t.driver.id, t.vehicle.id, t.status, t.service_type, t.requested_at,
                t.started_at, t.ended_at, t.pickup[0], t.pickup[1], dropoff[0], dropoff[1],
                t.distance_km, t.duration_s, t.fare, t.tip, t.tolls, t.commission, t.cash,
                t.net, currency, t.payment_method,
            ))
        b.direct["trp_trips"] = TableRows("trp_trips", TRIP_COLUMNS, tuple(rows))

    def _recharges(self, d: _Driver, what: str) -> bool:
        terms = self.terms.get(d.id)
        return bool(terms and terms[f"recharge_{what}"])

    def tolls(self, *, extra: int) -> uuid.UUID | None:
        """A toll for every trip the platform refunded a toll on, a few outside trips, and one
        the operator sent with a misread plate (unassignable: a task)."""
        b, rng = self.b, self.rng
        n = 0

        def add(vehicle: _Vehicle | None, driver: _Driver | None, trip: _Trip | None,
                at: datetime, amount: Decimal, operator: str, gate: str, plate: str) -> uuid.UUID:
            nonlocal n
            n += 1
            toll_id = b.new_id(at)
            recharged = (driver is not None and self._recharges(driver, "tolls")
                         and at < b.now - timedelta(days=14))
            b.add("fin_toll_transactions", {
                "id": toll_id,
                "vehicle_id": vehicle.id if vehicle else None,
                "driver_id": driver.id if driver else None,
                "operator": operator,
                "gate": gate,
                "plate": plate,
                "occurred_at": at,
                "amount": amount,
                "currency": b.cur,
                "source": "import",
                "trip_id": trip.id if trip else None,
                "status": ("unassigned" if driver is None
                           else "recharged" if recharged else "assigned"),
                "external_reference": f"{_slugify(operator).upper()}-{at:%Y%m%d}-{n:06d}",
            })
            return toll_id

        for trip in (t for t in b.trips if t.tolls > 0):
            assert trip.started_at is not None
            assert trip.ended_at is not None
            operator, gate, _ = next(x for x in self.c.tolls if Decimal(x[2]) == trip.tolls)
            at = trip.started_at + (trip.ended_at - trip.started_at) / 2
            add(trip.vehicle, trip.driver, trip, at, trip.tolls, operator, gate, trip.vehicle.plate)
        completed = [t for t in b.trips if t.ended_at is not None]
        for _ in range(extra):
            trip = rng.choice(completed)
            assert trip.ended_at is not None
            at = trip.ended_at + timedelta(minutes=rng.randint(5, 20))
            a = b.who_had(trip.vehicle, at)
            if a is None:
                continue
            operator, gate, amount = rng.choice(self.c.tolls)
            add(trip.vehicle, a.driver, None, at, Decimal(amount), operator, gate,
                trip.vehicle.plate)
        operator, gate, amount = self.c.tolls[0]
        at = b.local(b.today - timedelta(days=6), 23, 14)
        plate = "GX-404-ZZ" if b.c.code == "FR" else "LX71 ZZZ"
        return add(None, None, None, at, Decimal(amount), operator, gate, plate)

    def fines(self, count: int) -> list[uuid.UUID]:
        """Traffic fines attributed to the driver who had the car; recent ones await
        designation before the legal deadline."""
        b, rng = self.b, self.rng
        completed = [t for t in b.trips if t.started_at is not None]
        pending: list[uuid.UUID] = []
        references: set[str] = set()
        for i in range(count):
            # Spread over the history, the last two within the last fortnight.
            if i >= count - 2:
                recent = [t for t in completed
                          if t.started_at and t.started_at > b.now - timedelta(days=14)]
                trip = rng.choice(recent)
            else:
                trip = rng.choice(completed)
            assert trip.started_at is not None
            assert trip.ended_at is not None
            at = trip.started_at + (trip.ended_at - trip.started_at) / 3
            offence, amount, place = rng.choice(self.c.fines)
            age = (b.now - at).days
            designated = None
            if age < 20:
                status = "received"
            elif age < 60:
                status, designated = "driver_designated", at + timedelta(days=rng.randint(6, 15))
            else:
                status = "recharged" if self._recharges(trip.driver, "fines") else "paid"
                designated = at + timedelta(days=rng.randint(6, 15))
            reference = f"{rng.randint(10**9, 10**10 - 1)}"
            while reference in references:
                reference = f"{rng.randint(10**9, 10**10 - 1)}"
            references.add(reference)
            fine_id = b.new_id(at + timedelta(days=3))
            if status == "received":
                pending.append(fine_id)
            offence_day = b.local_date(at)
            b.add("fin_traffic_fines", {
                "id": fine_id,
                "vehicle_id": trip.vehicle.id,
                "driver_id": trip.driver.id,
                "fine_reference": reference,
                "issuing_authority": self.c.fine_authority,
                "offence_type": offence,
                "offence_at": at,
                "offence_place": place,
                "plate": trip.vehicle.plate,
                "amount": Decimal(amount),
                "currency": b.cur,
                "due_on": offence_day + timedelta(days=45 if b.c.code == "FR" else 28),
                "designation_deadline_on": offence_day + timedelta(days=45 if b.c.code == "FR"
                                                                   else 28),
                "designated_at": designated,
                "status": status,
                "scan_document_id": None,
            })
        return pending

    def expenses(self, count: int) -> None:
        """Fuel or charging, washes and parking, at moments the car was with its driver."""
        b, rng = self.b, self.rng
        completed = [t for t in b.trips if t.ended_at is not None]
        vat = self.c.vat_rate_pct
        for _ in range(count):
            trip = rng.choice(completed)
            assert trip.ended_at is not None
            at = trip.ended_at + timedelta(minutes=rng.randint(3, 12))
            a = b.who_had(trip.vehicle, at)
            if a is None:
                at = trip.ended_at
                a = b.who_had(trip.vehicle, at - timedelta(seconds=1))
            assert a is not None
            v, d = trip.vehicle, a.driver
            kind = rng.choices(("energy", "wash", "parking"), weights=(60, 25, 15))[0]
            quantity = unit = unit_price = None
            if kind == "energy":
                if v.spec.fuel == "electric":
                    quantity = Decimal(rng.randint(28_000, 62_000)).scaleb(-3)
                    unit, vendor = "kwh", rng.choice(self.c.charge_vendors)
                    unit_price = Decimal(rng.randint(*self.c.charge_price)).scaleb(-3)
                    method, description = "company_card", "Charging"
                else:
                    quantity = Decimal(rng.randint(24_000, 44_000)).scaleb(-3)
                    unit, vendor = "litre", rng.choice(self.c.fuel_vendors)
                    unit_price = Decimal(rng.randint(*self.c.fuel_price)).scaleb(-3)
                    method, description = "fuel_card", "Fuel"
                amount = round_minor(quantity * unit_price, b.cur)
                category = "fuel"
                rechargeable, reimbursable = self._recharges(d, "fuel"), False
            elif kind == "wash":
                amount = Decimal(rng.choice((1200, 1500, 1800, 2500))).scaleb(-2)
                category, method, vendor = "wash", "company_card", rng.choice(self.c.wash_vendors)
                description, rechargeable, reimbursable = "Car wash", False, False
            else:
                amount = Decimal(rng.randint(450, 1800)).scaleb(-2)
                category, method = "parking", "driver_paid"
                vendor = rng.choice(self.c.parking_vendors)
                description, rechargeable, reimbursable = "Parking while waiting", False, True
            b.add("flt_vehicle_expenses", {
                "id": b.new_id(at),
                "vehicle_id": v.id,
                "driver_id": d.id,
                "category": category,
                "payment_method": method,
                "amount": amount,
                "tax_amount": round_minor(amount * vat / (100 + vat), b.cur),
                "currency": b.cur,
                "incurred_on": b.local_date(at),
                "incurred_at": at,
                "odometer_km": _km(self.odo(v, at)),
                "vendor": vendor,
                "description": description,
                "quantity": quantity,
                "quantity_unit": unit,
                "unit_price": unit_price,
                "trip_id": None,
                "transaction_id": None,
                "receipt_document_id": None,
                "is_reimbursable": reimbursable,
                "is_rechargeable": rechargeable,
            })

    # --- requests and tasks ---------------------------------------------------------------

    def requests(self) -> None:
        """Approved leave behind every covered week, a pending leave, an advance, the vehicle
        change and a licence renewal under review."""
        b, rng = self.b, self.rng
        for driver, start, end, status in b.leaves:
            asked = start - timedelta(days=rng.randint(15, 30))
            self._request(driver, "leave", status, asked, start=start, end=end,
                          details={"kind": "annual_leave"}, reason="Congés" if b.c.code == "FR"
                          else "Annual leave", reviewed=asked + timedelta(days=2),
                          notes="Cover arranged with a relief driver.")
        regulars = [d for d in self.story["regulars"] if d.status == "active"]
        start = b.local(b.today + timedelta(days=20), 6)
        self._request(regulars[min(3, len(regulars) - 2)], "leave", "pending",
                      b.now - timedelta(days=1), start=start, end=start + timedelta(days=7),
                      details={"kind": "annual_leave"},
                      reason="Family trip" if b.c.code == "GB" else "Voyage en famille")
        self._request(regulars[min(5, len(regulars) - 1)], "advance_payment", "pending",
                      b.now - timedelta(hours=20), amount=Decimal("300.00"),
                      details={"instalments": 3},
                      reason="Car repair at home" if b.c.code == "GB"
                      else "Réparation de la voiture personnelle")
        if "vehicle_change" in self.story:
            change = self.story["vehicle_change"]
            asked = change.starts_at - timedelta(days=9)
            self._request(self.story["changer"], "vehicle_change", "completed", asked,
                          vehicle=self.story["change_new"], assignment=change,
                          details={"from_plate": self.story["change_old"].plate},
                          reason="Moving to the new car", reviewed=asked + timedelta(days=1),
                          notes="New car assigned on delivery.")
        expiring = sorted((x for x in b.drivers if x.status == "active" and x.card_expires_on
                           and b.today <= x.card_expires_on <= b.today + timedelta(days=30)),
                          key=lambda x: x.card_expires_on or b.today)
        if expiring:
            self._request(expiring[0], "licence_renewal", "under_review",
                          b.now - timedelta(days=3), details={"document": "professional_card"},
                          reason="Renewal file submitted")

    def _request(
        self,
        d: _Driver,
        kind: str,
        status: str,
        asked: datetime,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        details: dict[str, Any],
        reason: str,
        amount: Decimal | None = None,
        vehicle: _Vehicle | None = None,
        assignment: _Assignment | None = None,
        reviewed: datetime | None = None,
        notes: str | None = None,
    ) -> None:
        self.b.add("rid_driver_requests", {
            "id": self.b.new_id(asked),
            "driver_id": d.id,
            "request_type": kind,
            "status": status,
            "period_start": start,
            "period_end": end,
            "details": details,
            "reason": reason,
            "amount": amount,
            "currency": self.b.cur if amount is not None else None,
            "requested_vehicle_id": vehicle.id if vehicle else None,
            "reviewed_by": self.manager if reviewed else None,
            "reviewed_at": reviewed,
            "resolution_notes": notes,
            "resulting_assignment_id": assignment.id if assignment else None,
        })

    def tasks(self, maintenance: Mapping[str, Any], fines: Sequence[uuid.UUID],
              toll: uuid.UUID | None) -> None:
        """Open to-dos: documents to verify, the overdue service, fines to designate, the
        unassignable toll, insurance renewals, onboarding and payouts to review."""
        b = self.b
        pending_doc = next((r for r in b.rows["doc_documents"] if not r["verified"]
                            and r["rejected_at"] is None), None)
        items: list[tuple[str, str, str, str | None, uuid.UUID | None, uuid.UUID, str,
                          datetime, str]] = []
        if pending_doc is not None:
            items.append(("Verify uploaded documents of the new drivers", "document_verification",
                          "document", "document", pending_doc["id"], self.manager, "normal",
                          b.now + timedelta(days=2), "system"))
        if "overdue" in maintenance:
            v, schedule_id = maintenance["overdue"]
            items.append((f"Service overdue: {v.plate} ({v.spec.make} {v.spec.model})",
                          "maintenance", "schedule", "maintenance_schedule", schedule_id,
                          self.manager, "high", b.now + timedelta(days=1), "system"))
        for fine_id in fines:
            items.append(("Designate the driver for a traffic fine", "other", "fine",
                          "traffic_fine", fine_id, self.finance, "high",
                          b.now + timedelta(days=10), "system"))
        if toll is not None:
            items.append(("Toll with an unknown plate: check with the operator", "other", "toll",
                          "toll_transaction", toll, self.finance, "normal",
                          b.now + timedelta(days=7), "system"))
        renewal = min((r for r in b.rows["flt_vehicle_insurances"] if r["active"]),
                      key=lambda r: r["ends_on"])
        items.append(("Renew the insurance policy " + renewal["policy_number"], "other",
                      "insurance", "vehicle_insurance", renewal["id"], self.manager, "normal",
                      b.local(renewal["ends_on"] - timedelta(days=7), 9), "manual"))
        onboarding = next((d for d in b.drivers if d.status == "onboarding"), None)
        if onboarding is not None:
            items.append((f"Finish onboarding of {onboarding.first_name} {onboarding.last_name}",
                          "onboarding", "driver", "driver", onboarding.id, self.manager,
                          "normal", b.now + timedelta(days=5), "manual"))
        items.append(("Review last week's payouts before approval", "payout_review", "payouts",
                      None, None, self.finance, "normal", b.now + timedelta(days=1), "manual"))
        for n, (title, kind, key, entity, entity_id, assignee, priority, due, source) in (
            enumerate(items)
        ):
            self.b.add("sch_tasks", {
                "id": b.new_id(b.now - timedelta(hours=n + 1)),
                "title": title,
                "description": None,
                "task_type": kind,
                "related_entity_type": entity,
                "related_entity_id": entity_id,
                "assignee_id": assignee,
                "priority": priority,
                "due_at": due,
                "status": "in_progress" if kind == "onboarding" else "open",
                "completed_at": None,
                "source": source,
                "dedup_key": f"{kind}:{key}:{entity_id}" if source == "system" else None,
            })


# --- assembling a tenant ---------------------------------------------------------------------


def _portal_members(b: _TenantBuilder, roles: Mapping[str, uuid.UUID], drivers: Iterable[_Driver]
                    ) -> None:
    for d in drivers:
        d.member_id = b.add_member(
            roles, key=f"driver_{len(b.members)}", first=d.first_name, last=d.last_name,
            email=d.email, role="driver", invited_on=d.hired_on + timedelta(days=2),
        )


def _finish(
    b: _TenantBuilder, story: dict[str, Any], tenant: TableRows, *, expiring_cards: int,
    versioned_terms: int, overspeeds: int, renewals_due: int, due_soon: int, extra_tolls: int,
    fines: int, expenses: int,
) -> TenantData:
    b.link_platforms()
    b.generate_trips()
    details = _Details(b, story)
    details.drivers(expiring_cards=expiring_cards)
    details.vehicles()
    details.terms_rows(versioned=versioned_terms)
    details.assignment_rows()
    details.events(overspeeds=overspeeds)
    details.insurances(renewals_due=renewals_due)
    maintenance = details.maintenance(due_soon=due_soon)
    details.odometer_readings()
    details.trip_rows()
    toll = details.tolls(extra=extra_tolls)
    pending_fines = details.fines(fines)
    details.expenses(expenses)
    details.requests()
    details.tasks(maintenance, pending_fines, toll)
    return TenantData(
        tenant_id=b.tenant_id, slug=b.slug, name=b.name, country=b.c.code, currency=b.cur,
        timezone=b.c.timezone, weeks=b.weeks, trips_from=b.trips_from,
        trips_until=b.trips_until, tenant=tenant, tables=b.emit(),
    )


def _siren(rng: random.Random) -> str:
    body = f"{rng.randint(10**7, 10**8 - 1)}"
    return body + str(luhn.calc_check_digit(body))


def _main_tenant(seed: int, today: date) -> TenantData:
    b = _TenantBuilder(
        seed=seed, today=today, slug=MAIN_SLUG, name="Lumière VTC",
        legal_name="Lumière VTC SAS", country=_FRANCE, weeks=12, platforms=("uber", "bolt"),
        created_on=today - timedelta(days=640),
    )
    siren = _siren(b._rng("siren"))
    tenant = b.build_tenant(f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}")
    roles = b.build_roles()
    b.add_member(roles, key="owner", first="Claire", last="Vasseur",
                 email="owner@lumiere-vtc.example", role="owner", invited_on=b.created_on)
    b.add_member(roles, key="fleet_manager", first="Karim", last="Benhamou",
                 email="karim.benhamou@lumiere-vtc.example", role="fleet_manager",
                 invited_on=b.created_on + timedelta(days=1))
    b.add_member(roles, key="finance", first="Sophie", last="Marchand",
                 email="sophie.marchand@lumiere-vtc.example", role="finance",
                 invited_on=b.created_on + timedelta(days=1))
    b.add_member(roles, key="dispatcher", first="Julien", last="Perret",
                 email="julien.perret@lumiere-vtc.example", role="dispatcher",
                 invited_on=b.created_on + timedelta(days=30))
    b.add_member(roles, key="accountant", first="Hélène", last="Durand",
                 email="helene.durand@cabinet-durand.example", role="viewer",
                 invited_on=today - timedelta(days=3), accepted=False)
    story = _vehicles_and_custody_main(b)
    rng = b._rng("platforms")
    regulars: list[_Driver] = story["regulars"]
    for d in b.drivers:
        d.platforms = ("uber", "bolt")
    for d in rng.sample(regulars[:18], 3):
        d.platforms = ("uber",)
    rng.choice([d for d in regulars[:18] if len(d.platforms) == 2]).platforms = ("bolt",)
    _portal_members(b, roles, regulars[:5])
    return _finish(b, story, tenant, expiring_cards=3, versioned_terms=8, overspeeds=8,
                   renewals_due=2, due_soon=3, extra_tolls=6, fines=10, expenses=36)


def _second_tenant(seed: int, today: date) -> TenantData:
    b = _TenantBuilder(
        seed=seed, today=today, slug=SECOND_SLUG, name="Thames Private Hire",
        legal_name="Thames Private Hire Ltd", country=_BRITAIN, weeks=4, platforms=("uber",),
        created_on=today - timedelta(days=190),
    )
    rng = b._rng("vat")
    vat = f"GB{rng.randint(10**8, 10**9 - 1)}"
    while not gb_vat.is_valid(vat):
        vat = f"GB{rng.randint(10**8, 10**9 - 1)}"
    tenant = b.build_tenant(vat)
    roles = b.build_roles()
    b.add_member(roles, key="owner", first="Daniel", last="Hughes",
                 email="owner@thames-private-hire.example", role="owner",
                 invited_on=b.created_on)
    b.add_member(roles, key="fleet_manager", first="Priya", last="Shah",
                 email="priya.shah@thames-private-hire.example", role="fleet_manager",
                 invited_on=b.created_on + timedelta(days=2))
    story = _vehicles_and_custody_second(b)
    for d in b.drivers:
        d.platforms = ("uber",)
    _portal_members(b, roles, story["regulars"][:1])
    return _finish(b, story, tenant, expiring_cards=1, versioned_terms=1, overspeeds=2,
                   renewals_due=1, due_soon=1, extra_tolls=1, fines=2, expenses=8)


def generate_demo(seed: int = 7, today: date | None = None) -> DemoDataset:
    """The demo dataset for ``seed`` as of ``today`` (default: the local date); pure."""
    day = today or date.today()
    return DemoDataset(seed=seed, today=day,
                       tenants=(_main_tenant(seed, day), _second_tenant(seed, day)))
