"""Realistic Uber and Bolt report files, for tests, the import benchmark and the web console.

Each ``uber_*`` / ``bolt_*`` function builds a :class:`SampleReport` for a list of drivers and a
week: the cells to write (by mapping column id, so headers are spelled as the mapping data
spells them in the chosen language) and, for every row, the canonical values a correct reader
returns (:attr:`SampleReport.expected`). Amounts are internally consistent, so downstream tests
can check exact totals:

* Uber per transaction: ``fare_gross`` = Σ fare parts, ``commission`` = 25 % of it (rounded
  half up), ``earnings`` = fare_gross - commission + tip, ``payout`` ("Paid to you") =
  earnings + toll refund - cash collected;
* Uber weekly summary: ``earnings`` = net fare + promotions + tip + taxes - platform fee,
  ``payout`` (transferred to the bank) = earnings + tolls - cash collected;
* Bolt weekly: ``earnings`` = gross - commission + tips + tolls, ``payout`` = earnings - cash
  (the English export has no commission column: its rows still carry one, which the reader
  derives from that identity);
* Bolt orders: ``earnings`` = ride price + booking fee + cancellation fee + toll + tip -
  commission.

Writers render a report as CSV (language, encoding, delimiter, decimal comma, NBSP thousands,
trailing empty column, extra unknown columns, zone style of dates), XLSX, Bolt API JSON, or a
zip of several files. ``inject_*`` helpers plant malformed rows and say where; byte helpers
make empty, header-only, undecodable and mis-decoded files. :func:`write_uber_payments_csv`
writes the 1,000,000-row benchmark file in a few seconds, vectorised with polars.

Everything is deterministic for a seed: ``random.Random(seed)`` for the small files, a
splitmix64 stream computed by polars for the benchmark file.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl

from fleetcore.revenue.reports.mapping import mapping_for

DEFAULT_WEEK = date(2026, 11, 16)  # a Monday
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# --- drivers ---------------------------------------------------------------------------------

_NAMES: tuple[tuple[str, str], ...] = (
    ("Élodie", "Lefèvre"),
    ("José", "Gonçalves"),
    ("Amélie", "Dupré"),
    ("João", "Conceição"),
    ("Zoë", "Brontë"),
    ("François", "Müller"),
    ("Inês", "Simões"),
    ("Karim", "Benaïssa"),
    ("Chloé", "Garçon"),
    ("Sébastien", "Nöel"),
    ("Mariana", "Araújo"),
    ("Lucas", "Martin"),
)
# Regulators' fiction ranges: a sample file never names a real person's phone.
_FICTION_PHONES = {"FR": ("+3363998", 4), "GB": ("+447700900", 3)}
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class ReportDriver:
    """A driver as the platforms know them."""

    uuid: str  # Uber Driver UUID, lower-case
    first_name: str
    surname: str
    phone: str  # E.164
    email: str  # lower-case
    plate: str  # French SIV plate of the car they drive
    bolt_uuid: str  # Bolt driver_uuid

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.surname}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def sample_drivers(count: int = 5, *, seed: int = 0, country: str = "FR") -> list[ReportDriver]:
    """``count`` drivers with accented names, fiction-range phones, example.com e-mails."""
    rng = random.Random(f"drivers-{seed}")  # noqa: S311 - sample data
    prefix, digits = _FICTION_PHONES[country]
    numbers = rng.sample(range(10**digits), count)
    drivers = []
    for n in range(count):
        first, surname = _NAMES[n % len(_NAMES)]
        letters = "".join(rng.choice(_PLATE_LETTERS) for _ in range(4))
        plate = f"{letters[:2]}-{rng.randint(1, 999):03d}-{letters[2:]}".replace("SS", "ST")
        drivers.append(
            ReportDriver(
                uuid=_uuid(rng),
                first_name=first,
                surname=surname,
                phone=f"{prefix}{numbers[n]:0{digits}d}",
                email=f"{_ascii(first)}.{_ascii(surname)}.{n + 1}@example.com",
                plate=plate,
                bolt_uuid=_uuid(rng),
            )
        )
    return drivers


# --- the report model ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """A cell written exactly as given (malformed values, odd spellings)."""

    text: str


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a sample file: a mapping column id, or a realistic column the mapping
    ignores or does not know (``headers`` then spells it per language)."""

    id: str
    kind: Literal["text", "money", "rate", "datetime", "int", "number"]
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Injected:
    """A malformed cell or row planted by an ``inject_*`` helper (row index from 0)."""

    row: int
    column: str | None
    what: str


@dataclass(slots=True)
class SampleReport:
    """Cells to write and the canonical values a correct reader returns, row by row."""

    platform: str
    report_type: str
    currency: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    period_start: datetime
    period_end: datetime
    timezone: str = "Europe/Paris"
    injected: list[Injected] = field(default_factory=list)

    def total(self, name: str) -> Decimal:
        """Σ of one canonical amount over the rows a reader keeps valid."""
        return sum(
            (
                row[name]
                for row in self.expected
                if row.get("valid", True) and row.get(name) is not None
            ),
            ZERO,
        )

    def column(self, column_id: str) -> Column:
        return next(c for c in self.columns if c.id == column_id)


def _money(rng: random.Random, low: str, high: str) -> Decimal:
    cents = rng.randint(int(Decimal(low) * 100), int(Decimal(high) * 100))
    return Decimal(cents) / 100


def _pct(amount: Decimal, percent: int) -> Decimal:
    return (amount * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def _week(week_start: date, timezone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(timezone)
    start = datetime.combine(week_start, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(week_start + timedelta(days=7), time(), tzinfo=tz).astimezone(UTC)
    return start, end


def _instants(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    span = int((end - start).total_seconds()) - 3 * 3600
    return sorted(start + timedelta(seconds=rng.randint(0, span)) for _ in range(count))


def _ignored(en: str, **others: str) -> dict[str, str]:
    return {"en": en, **others}


# --- Uber payments_order ---------------------------------------------------------------------


def uber_payments_order_columns(*, fare_aggregate: bool = True) -> list[Column]:
    """The columns of Uber's per-transaction report, in the order the files have them."""
    return [
        Column("transaction_id", "text"),
        Column("driver_uuid", "text"),
        Column("first_name", "text"),
        Column("surname", "text"),
        Column("trip_id", "text"),
        Column("description", "text"),
        Column("organisation", "text", _ignored("Organisation name")),
        Column("reported_at", "datetime"),
        Column("paid_to_you", "money"),
        Column("your_earnings", "money"),
        *([Column("earnings_fare", "money")] if fare_aggregate else []),
        Column("fare_fare", "money"),
        Column("fare_surge", "money"),
        Column("fare_booking_fee", "money"),
        Column("fare_wait_time", "money"),
        Column("service_fee", "money"),
        Column("tip", "money"),
        Column("toll", "money"),
        Column("cash_collected", "money"),
        Column(
            "bank",
            "money",
            _ignored("Paid to you:Trip balance:Payouts:Transferred To Bank Account"),
        ),
    ]


def uber_payments_order(
    drivers: Sequence[ReportDriver],
    week_start: date = DEFAULT_WEEK,
    *,
    trips_per_driver: int = 4,
    seed: int = 0,
    currency: str = "EUR",
    timezone: str = "Europe/Paris",
    fare_aggregate: bool = True,
) -> SampleReport:
    """Uber's per-transaction report: trips ("trip completed order") and one fare adjustment
    per driver on their first trip. ``fare_aggregate=False`` leaves out the ``…:Fare``
    aggregate, so readers must add the fare leaves."""
    rng = random.Random(f"payments_order-{seed}")  # noqa: S311 - sample data
    start, end = _week(week_start, timezone)
    columns = uber_payments_order_columns(fare_aggregate=fare_aggregate)
    events: list[tuple[datetime, dict[str, Any], dict[str, Any]]] = []
    for driver in drivers:
        moments = _instants(rng, start, end, trips_per_driver + 1)
        first_trip: str | None = None
        for number, moment in enumerate(moments):
            adjustment = number == len(moments) - 1
            trip_id = first_trip if adjustment and first_trip else _uuid(rng)
            first_trip = first_trip or trip_id
            if adjustment:
                fare = _money(rng, "-3.00", "4.00")
                parts = {
                    "fare_fare": fare,
                    "fare_surge": ZERO,
                    "fare_booking_fee": ZERO,
                    "fare_wait_time": ZERO,
                }
                tip = toll = cash = ZERO
                description = "trip fare adjust order"
            else:
                parts = {
                    "fare_fare": _money(rng, "7.00", "38.00"),
                    "fare_surge": _money(rng, "0.50", "6.00") if rng.random() < 0.3 else ZERO,
                    "fare_booking_fee": Decimal("1.50"),
                    "fare_wait_time": _money(rng, "0.20", "2.00") if rng.random() < 0.2 else ZERO,
                }
                tip = _money(rng, "1.00", "5.00") if rng.random() < 0.25 else ZERO
                toll = _money(rng, "2.10", "9.80") if rng.random() < 0.15 else ZERO
                description = "trip completed order"
            fare_gross = sum(parts.values(), ZERO)
            fee = _pct(fare_gross, 25)
            cash = fare_gross if not adjustment and rng.random() < 0.25 else ZERO
            earnings = fare_gross - fee + tip
            paid = earnings + toll - cash
            transaction = _uuid(rng)
            cells = {
                "transaction_id": transaction,
                "driver_uuid": driver.uuid,
                "first_name": driver.first_name,
                "surname": driver.surname,
                "trip_id": trip_id,
                "description": description.title() if rng.random() < 0.1 else description,
                "organisation": "Lumière VTC",
                "reported_at": moment,
                "paid_to_you": paid,
                "your_earnings": earnings,
                "earnings_fare": fare_gross,
                **{k: (v or None) for k, v in parts.items()},
                "service_fee": -fee if fee else None,
                "tip": tip or None,
                "toll": toll or None,
                "cash_collected": -cash if cash else None,
                "bank": None,
            }
            expected = {
                "platform_account_ref": driver.uuid,
                "account_kind": "uuid",
                "account_name": driver.name,
                "external_trip_id": trip_id,
                "external_transaction_id": transaction,
                "occurred_at": moment,
                "description": description,
                "earnings": earnings,
                "fare_gross": fare_gross,
                "commission": fee,
                "tip": tip,
                "tolls": toll,
                "cash_collected": cash,
                "payout": paid,
                "promotions": None,
                "adjustments": None,
                "currency": currency,
                "valid": True,
            }
            events.append((moment, cells, expected))
    events.sort(key=lambda e: e[0])
    return SampleReport(
        platform="uber",
        report_type="payments_order",
        currency=currency,
        columns=columns,
        rows=[e[1] for e in events],
        expected=[e[2] for e in events],
        period_start=start,
        period_end=end,
        timezone=timezone,
    )


# --- Uber payments_driver --------------------------------------------------------------------


def uber_payments_driver(
    drivers: Sequence[ReportDriver],
    week_start: date = DEFAULT_WEEK,
    *,
    seed: int = 0,
    currency: str = "EUR",
    language: str = "en",
    shape: Literal["total_earnings", "paid_to_you"] = "total_earnings",
) -> SampleReport:
    """Uber's weekly per-driver summary in ``language``. Columns without a spelling in that
    language are left out, and the amounts they would carry are zero, so the identities
    hold for every language."""
    rng = random.Random(f"payments_driver-{seed}")  # noqa: S311 - sample data
    mapping = mapping_for("uber", "payments_driver")
    start, end = _week(week_start, "Europe/Paris")

    def has(column_id: str) -> bool:
        return language in mapping.columns[column_id].headers

    if shape == "total_earnings":
        wanted = [
            Column("driver_uuid", "text"),
            Column("first_name", "text"),
            Column("surname", "text"),
            Column("total_earnings", "money"),
            Column("net_fare", "money"),
            Column("promotions", "money"),
            Column("tip", "money"),
            Column("taxes", "money"),
            Column("platform_fee", "money"),
            Column(
                "refunds",
                "money",
                _ignored("Refunds & Expenses", fr="Remboursements et notes de frais"),
            ),
            Column("refunds_toll", "money"),
            Column("payouts", "money"),
            Column("payouts_cash", "money"),
            Column("payouts_bank", "money"),
            Column(
                "third_parties",
                "money",
                _ignored("Paid to third parties", fr="Montant versé à des tiers"),
            ),
        ]
    else:
        wanted = [
            Column("driver_uuid", "text"),
            Column("first_name", "text"),
            Column("surname", "text"),
            Column("trips", "int", _ignored("Trips", pt="Viagens")),
            Column("pty_total", "money"),
            Column("pty_earnings", "money"),
            Column("pty_fare", "money"),
            Column("pty_service_fee", "money"),
            Column("pty_tip", "money"),
            Column("pty_toll", "money"),
            Column("pty_cash", "money"),
        ]
    columns = [
        c
        for c in wanted
        if (c.headers is not None and language in c.headers) or (c.headers is None and has(c.id))
    ]
    present = {c.id for c in columns}
    key = "total_earnings" if shape == "total_earnings" else "pty_total"
    if "driver_uuid" not in present or key not in present:
        raise ValueError(f"Uber payments_driver has no {language} headers for the {shape} shape")
    rows, expected = [], []
    for driver in drivers:
        fare = _money(rng, "250.00", "1400.00")
        tip = _money(rng, "0.00", "40.00")
        toll = _money(rng, "0.00", "25.00")
        cash = _money(rng, "0.00", "120.00")
        if shape == "total_earnings":
            promotions = _money(rng, "0.00", "60.00") if "promotions" in present else ZERO
            taxes = _money(rng, "0.00", "30.00") if "taxes" in present else ZERO
            fee = _money(rng, "1.00", "15.00") if "platform_fee" in present else ZERO
            earnings = fare + promotions + tip + taxes - fee
            bank = earnings + toll - cash
            rows.append(
                {
                    "driver_uuid": driver.uuid.upper() if rng.random() < 0.3 else driver.uuid,
                    "first_name": driver.first_name,
                    "surname": driver.surname,
                    "total_earnings": earnings,
                    "net_fare": fare,
                    "promotions": promotions,
                    "tip": tip,
                    "taxes": taxes,
                    "platform_fee": -fee,
                    "refunds": toll,
                    "refunds_toll": toll,
                    "payouts": -(cash + bank),
                    "payouts_cash": -cash,
                    "payouts_bank": -bank,
                    "third_parties": ZERO,
                }
            )
            expected.append(
                {
                    "platform_account_ref": driver.uuid,
                    "account_kind": "uuid",
                    "account_name": driver.name,
                    "earnings": earnings,
                    "fare_gross": fare,
                    # Without a Platform fee column it is derived from the identity: 0.
                    "commission": fee,
                    "tip": tip,
                    "promotions": promotions if "promotions" in present else None,
                    "adjustments": taxes if "taxes" in present else None,
                    "tolls": toll,
                    "cash_collected": cash,
                    "payout": bank,
                    "currency": currency,
                    "occurred_at": None,
                    "valid": True,
                }
            )
        else:
            fee = _pct(fare, 25)
            earnings = fare - fee + tip
            paid = earnings + toll - cash
            rows.append(
                {
                    "driver_uuid": driver.uuid,
                    "first_name": driver.first_name,
                    "surname": driver.surname,
                    "trips": rng.randint(20, 90),
                    "pty_total": paid,
                    "pty_earnings": earnings,
                    "pty_fare": fare,
                    "pty_service_fee": -fee,
                    "pty_tip": tip,
                    "pty_toll": toll,
                    "pty_cash": -cash,
                }
            )
            expected.append(
                {
                    "platform_account_ref": driver.uuid,
                    "account_kind": "uuid",
                    "account_name": driver.name,
                    "earnings": earnings,
                    "fare_gross": fare,
                    "commission": fee,
                    "tip": tip,
                    "promotions": None,
                    "adjustments": None,
                    "tolls": toll,
                    "cash_collected": cash,
                    "payout": paid,
                    "currency": currency,
                    "occurred_at": None,
                    "valid": True,
                }
            )
    return SampleReport("uber", "payments_driver", currency, columns, rows, expected, start, end)


# --- Uber trip activity ----------------------------------------------------------------------


def uber_trip_activity(
    drivers: Sequence[ReportDriver],
    week_start: date = DEFAULT_WEEK,
    *,
    trips_per_driver: int = 4,
    seed: int = 0,
    timezone: str = "Europe/Paris",
) -> SampleReport:
    """Uber's trips CSV: no money; a cancelled trip has no drop-off time and no distance."""
    rng = random.Random(f"trip_activity-{seed}")  # noqa: S311 - sample data
    start, end = _week(week_start, timezone)
    columns = [
        Column("trip_id", "text"),
        Column("driver_uuid", "text"),
        Column("vehicle_uuid", "text", _ignored("Vehicle UUID")),
        Column("plate", "text"),
        Column("service_type", "text"),
        Column("requested_at", "datetime"),
        Column("dropped_off_at", "datetime"),
        Column("pickup_address", "text", _ignored("Pick-up address")),
        Column("dropoff_address", "text", _ignored("Drop-off address")),
        Column("distance", "number"),
        Column("trip_status", "text"),
    ]
    events = []
    statuses = [("completed", "completed")] * 8 + [
        ("rider_cancelled", "cancelled_by_rider"),
        ("driver_cancelled", "cancelled_by_driver"),
    ]
    for driver in drivers:
        vehicle = _uuid(rng)
        for moment in _instants(rng, start, end, trips_per_driver):
            raw_status, status = rng.choice(statuses)
            done = status == "completed"
            dropped = moment + timedelta(seconds=rng.randint(420, 3600)) if done else None
            distance = Decimal(rng.randint(80, 4200)) / 100 if done else ZERO
            trip = _uuid(rng)
            service = rng.choice(["UberX", "Comfort", "Green"])
            events.append(
                (
                    moment,
                    {
                        "trip_id": trip,
                        "driver_uuid": driver.uuid,
                        "vehicle_uuid": vehicle,
                        "plate": driver.plate.replace("-", " ")
                        if rng.random() < 0.3
                        else driver.plate,
                        "service_type": service,
                        "requested_at": moment,
                        "dropped_off_at": dropped,
                        "pickup_address": "10 Rue de Rivoli, Paris",
                        "dropoff_address": "Gare de Lyon, Paris",
                        "distance": distance,
                        "trip_status": raw_status,
                    },
                    {
                        "external_trip_id": trip,
                        "platform_account_ref": driver.uuid,
                        "account_kind": "uuid",
                        "vehicle_plate": driver.plate,
                        "service_type": service,
                        "requested_at": moment,
                        "ended_at": dropped,
                        "occurred_at": dropped or moment,
                        "distance_km": distance,
                        "trip_status": status,
                        "valid": True,
                    },
                )
            )
    events.sort(key=lambda e: e[0])
    return SampleReport(
        "uber",
        "trip_activity",
        "EUR",
        columns,
        [e[1] for e in events],
        [e[2] for e in events],
        start,
        end,
        timezone,
    )


# --- Bolt weekly -----------------------------------------------------------------------------


def bolt_weekly(
    drivers: Sequence[ReportDriver],
    week_start: date = DEFAULT_WEEK,
    *,
    seed: int = 0,
    currency: str = "EUR",
    language: str = "en",
    identify: Literal["phone", "email", "both"] = "both",
    phone_style: Literal["e164", "national", "spaced"] = "e164",
    negative_cash: bool = False,
) -> SampleReport:
    """Bolt's weekly earnings per driver: no driver id, matched by phone or e-mail. English
    headers list the documented columns; Portuguese ones add commission and tolls. In some
    locales cash (and commission) are written negative: ``negative_cash``."""
    rng = random.Random(f"bolt_weekly-{seed}")  # noqa: S311 - sample data
    start, end = _week(week_start, "Europe/Paris")
    if language == "en":
        wanted = [
            Column("driver_name", "text"),
            Column("phone", "text"),
            Column("email", "text"),
            Column("gross_total", "money"),
            Column("gross_in_app", "money", _ignored("Gross earnings (in-app payment)")),
            Column("cash", "money"),
            Column("tips", "money"),
            Column("net_earnings", "money"),
            Column("gross_per_hour", "rate", _ignored("Gross earnings per hour")),
            Column("net_per_hour", "rate", _ignored("Net earnings per hour")),
            Column("projected_payout", "money"),
        ]
    elif language == "pt":
        wanted = [
            Column("driver_name", "text"),
            Column("phone", "text"),
            Column("email", "text"),
            Column("trips", "int", {"pt": "Viagens (total)"}),
            Column("gross_total", "money"),
            Column("commission", "money"),
            Column("tips", "money"),
            Column("tolls", "money"),
            Column("cash", "money"),
            Column("net_earnings", "money"),
            Column("projected_payout", "money"),
        ]
    else:
        raise ValueError(f"Bolt weekly files come in en or pt headers, not {language}")
    drop = {"phone": {"email"}, "email": {"phone"}, "both": set()}[identify]
    columns = [c for c in wanted if c.id not in drop]
    present = {c.id for c in columns}
    rows, expected = [], []
    sign = Decimal(-1) if negative_cash else Decimal(1)
    for driver in drivers:
        gross = _money(rng, "300.00", "1500.00")
        # Bolt takes its commission in every locale; the English export just does not show
        # it (the reader derives it from gross, tips and net).
        commission = _pct(gross, 25)
        tips = _money(rng, "0.00", "35.00")
        tolls = _money(rng, "0.00", "20.00") if "tolls" in present else ZERO
        cash = _money(rng, "0.00", "250.00")
        net = gross - commission + tips + tolls
        payout = net - cash
        hours = Decimal(rng.randint(20, 55))
        if phone_style == "national":
            digits = "0" + driver.phone[3:]
            phone = " ".join([digits[:2], digits[2:4], digits[4:6], digits[6:8], digits[8:]])
        elif phone_style == "spaced":
            p = driver.phone
            phone = f"{p[:3]} {p[3]} {p[4:6]} {p[6:8]} {p[8:10]} {p[10:]}"
        else:
            phone = driver.phone
        rows.append(
            {
                "driver_name": driver.name,
                "phone": phone,
                "email": driver.email.upper() if rng.random() < 0.3 else driver.email,
                "trips": rng.randint(30, 120),
                "gross_total": gross,
                "gross_in_app": gross - cash,
                "commission": sign * commission,
                "tips": tips,
                "tolls": tolls,
                "cash": sign * cash,
                "net_earnings": net,
                "gross_per_hour": (gross / hours).quantize(CENT),
                "net_per_hour": (net / hours).quantize(CENT),
                "projected_payout": payout,
            }
        )
        by_phone = "phone" in present
        expected.append(
            {
                "platform_account_ref": driver.phone if by_phone else driver.email,
                "account_kind": "phone" if by_phone else "email",
                "platform_account_alt": driver.email if "email" in present else None,
                "account_name": driver.name,
                "fare_gross": gross,
                "commission": commission,
                "tip": tips,
                "tolls": tolls if "tolls" in present else None,
                "cash_collected": cash,
                "earnings": net,
                "payout": payout,
                "currency": currency,
                "occurred_at": None,
                "valid": True,
            }
        )
    return SampleReport("bolt", "bolt_weekly", currency, columns, rows, expected, start, end)


# --- Bolt orders -----------------------------------------------------------------------------

_BOLT_STATUSES = [("finished", "completed")] * 8 + [
    ("client_cancelled", "cancelled_by_rider"),
    ("client_did_not_show", "no_show"),
]
_BOLT_PAYMENTS = [("cash", "cash"), ("in_app", "card"), ("in_app", "card"), ("apple_pay", "wallet")]


def bolt_orders(
    drivers: Sequence[ReportDriver],
    week_start: date = DEFAULT_WEEK,
    *,
    orders_per_driver: int = 4,
    seed: int = 0,
    currency: str = "EUR",
) -> SampleReport:
    """Bolt's getFleetOrders orders. A cancelled order has no ride price, a cancellation fee,
    and no pick-up or drop-off time."""
    rng = random.Random(f"bolt_orders-{seed}")  # noqa: S311 - sample data
    start, end = _week(week_start, "Europe/Paris")
    events = []
    for driver in drivers:
        for moment in _instants(rng, start, end, orders_per_driver):
            raw_status, status = rng.choice(_BOLT_STATUSES)
            raw_payment, payment = rng.choice(_BOLT_PAYMENTS)
            created = moment.replace(microsecond=0)
            done = status == "completed"
            pickup = created + timedelta(seconds=rng.randint(120, 600)) if done else None
            dropoff = pickup + timedelta(seconds=rng.randint(400, 3000)) if pickup else None
            finished = (
                (dropoff + timedelta(seconds=30)) if dropoff else created + timedelta(seconds=240)
            )
            ride = _money(rng, "6.00", "45.00") if done else ZERO
            booking = Decimal("1.00") if done else ZERO
            cancellation = ZERO if done else Decimal("5.00")
            toll = _money(rng, "2.00", "8.00") if done and rng.random() < 0.15 else ZERO
            tip = _money(rng, "1.00", "4.00") if done and rng.random() < 0.2 else ZERO
            commission = _pct(ride + booking + cancellation, 20)
            net = ride + booking + cancellation + toll + tip - commission
            meters = rng.randint(900, 38000) if done else 0
            reference = str(rng.randint(10**9, 10**10 - 1))
            order = {
                "order_reference": reference,
                "driver_uuid": driver.bolt_uuid,
                "driver_name": driver.name,
                "vehicle_model": "Toyota Corolla",
                "vehicle_license_plate": driver.plate.replace("-", ""),
                "order_status": raw_status,
                "payment_method": raw_payment,
                "ride_distance": meters,
                "order_created_timestamp": int(created.timestamp()),
                "order_accepted_timestamp": int(created.timestamp()) + 20,
                "order_pickup_timestamp": int(pickup.timestamp()) if pickup else None,
                "order_dropoff_timestamp": int(dropoff.timestamp()) if dropoff else None,
                "order_finished_timestamp": int(finished.timestamp()),
                "order_price": {
                    "ride_price": ride,
                    "booking_fee": booking,
                    "toll_fee": toll,
                    "cancellation_fee": cancellation,
                    "tip": tip,
                    "net_earnings": net,
                    "cash_discount": ZERO,
                    "in_app_discount": ZERO,
                    "commission": commission,
                },
            }
            events.append(
                (
                    created,
                    order,
                    {
                        "external_trip_id": reference,
                        "platform_account_ref": driver.bolt_uuid,
                        "account_kind": "uuid",
                        "account_name": driver.name,
                        "vehicle_plate": driver.plate,
                        "trip_status": status,
                        "payment_method": payment,
                        "distance_km": Decimal(meters) / 1000,
                        "requested_at": created,
                        "started_at": pickup,
                        "ended_at": dropoff or finished,
                        "occurred_at": finished,
                        "duration_s": int((dropoff - pickup).total_seconds())
                        if dropoff and pickup
                        else None,
                        "fare_gross": ride + booking + cancellation,
                        "tolls": toll,
                        "tip": tip,
                        "commission": commission,
                        "earnings": net,
                        "currency": currency,
                        "valid": True,
                    },
                )
            )
    events.sort(key=lambda e: e[0])
    return SampleReport(
        "bolt",
        "bolt_orders",
        currency,
        [Column("order", "text")],
        [e[1] for e in events],
        [e[2] for e in events],
        start,
        end,
    )


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How a sample file is written."""

    language: str = "en"
    encoding: Literal["utf-8-sig", "utf-8", "cp1252", "cp850", "utf-16"] = "utf-8-sig"
    delimiter: str = ","
    decimal_comma: bool = False
    thousands: str = ""  # "", "\u00a0" (what French Excel writes), " ", ".", ","
    trailing_empty_column: bool = False
    extra_columns: tuple[tuple[str, str], ...] = ()  # unknown (header, value) pairs
    date_style: Literal["uber", "iso", "dmy"] = "uber"
    line_ending: str = "\n"
    title_rows: int = 0  # XLSX: title lines above the header


def excel_fr(**changes: Any) -> FileOptions:
    """A file re-saved by a French Excel: Windows-1252, ';', decimal comma, NBSP thousands."""
    return replace(
        FileOptions(
            language="fr",
            encoding="cp1252",
            delimiter=";",
            decimal_comma=True,
            thousands="\u00a0",
            line_ending="\r\n",
        ),
        **changes,
    )


def format_amount(value: Decimal, *, decimal_comma: bool = False, thousands: str = "") -> str:
    """``value`` with two decimals, in the given style (``-1 234,50``)."""
    quantized = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if quantized < 0 else ""
    units, cents = f"{abs(quantized):.2f}".split(".")
    if thousands:
        groups: list[str] = []
        while len(units) > 3:
            groups.insert(0, units[-3:])
            units = units[:-3]
        units = thousands.join([units, *groups])
    return f"{sign}{units}{',' if decimal_comma else '.'}{cents}"


def _format_time(value: datetime, style: str, timezone: str) -> str:
    local = value.astimezone(ZoneInfo(timezone))
    if style == "uber":
        return local.strftime("%Y-%m-%d %H:%M:%S %Z")
    if style == "iso":
        return local.isoformat()
    return local.strftime("%d/%m/%Y %H:%M:%S")


_CURRENCY_SUFFIX = {"EUR": "€", "GBP": "£"}


def _header(report: SampleReport, column: Column, language: str) -> str:
    if column.headers is not None:
        if language not in column.headers:
            raise ValueError(f"no {language} header for {column.id}")
        text = column.headers[language]
    else:
        spec = mapping_for(report.platform, report.report_type).columns[column.id]
        if language not in spec.headers:
            raise ValueError(f"{report.report_type} has no {language} header for {column.id}")
        text = spec.headers[language][0]
    if report.platform == "bolt" and column.kind in ("money", "rate"):
        symbol = _CURRENCY_SUFFIX.get(report.currency, report.currency)
        text += f"|{symbol}" + ("/h" if column.kind == "rate" else "")
    return text


def _cell(report: SampleReport, column: Column, value: Any, options: FileOptions) -> str:
    if value is None:
        return ""
    if isinstance(value, Raw):
        return value.text
    if column.kind in ("money", "rate"):
        return format_amount(
            value, decimal_comma=options.decimal_comma, thousands=options.thousands
        )
    if column.kind == "number":
        text = f"{value:.2f}" if value else "0"
        return text.replace(".", ",") if options.decimal_comma else text
    if column.kind == "datetime":
        return _format_time(value, options.date_style, report.timezone)
    return str(value)


def _table(report: SampleReport, options: FileOptions) -> list[list[str]]:
    if report.report_type == "bolt_orders":
        raise ValueError("Bolt orders are written with to_json")
    header = [_header(report, c, options.language) for c in report.columns]
    header += [h for h, _ in options.extra_columns]
    lines = [header]
    for row in report.rows:
        line = [_cell(report, c, row.get(c.id), options) for c in report.columns]
        line += [v for _, v in options.extra_columns]
        lines.append(line)
    if options.trailing_empty_column:
        lines = [[*line, ""] for line in lines]
    return lines


def to_csv(report: SampleReport, options: FileOptions = FileOptions()) -> bytes:
    """The report as a delimited text file, encoded as ``options`` say."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=options.delimiter, lineterminator=options.line_ending)
    writer.writerows(_table(report, options))
    return buffer.getvalue().encode(options.encoding)


def to_xlsx(report: SampleReport, options: FileOptions = FileOptions()) -> bytes:
    """The report as a spreadsheet: amounts as numbers, dates as the platform's text."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Report"
    for n in range(options.title_rows):
        sheet.append(
            [f"{report.platform.title()} report, week of {report.period_start:%Y-%m-%d}"]
            if n == 0
            else []
        )
    table = _table(report, replace(options, decimal_comma=False, thousands=""))
    sheet.append(table[0])
    for row, line in zip(report.rows, table[1:], strict=True):
        cells: list[Any] = []
        for column, text in zip(report.columns, line, strict=False):
            value = row.get(column.id)
            if column.kind in ("money", "rate") and isinstance(value, Decimal):
                cells.append(float(value))
            elif column.kind == "int" and isinstance(value, int):
                cells.append(value)
            else:
                cells.append(text or None)
        cells += line[len(report.columns) :]
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, Raw):
        return value.text
    return value


def to_json(report: SampleReport, *, wrapped: bool = True) -> bytes:
    """Bolt orders as the API returns them (``{code: 0, data: {orders: [...]}}``) or a bare
    list."""
    if report.report_type != "bolt_orders":
        raise ValueError("only Bolt orders are JSON")
    orders = [_json_value(order) for order in report.rows]
    if not wrapped:
        return json.dumps(orders).encode()
    document = {
        "code": 0,
        "message": "OK",
        "data": {
            "company_id": 4242,
            "company_name": "Lumière VTC",
            "total_orders": len(orders),
            "orders": orders,
        },
    }
    return json.dumps(document).encode()


def to_zip(files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """Several files in one zip, as portals hand them out."""
    items = files.items() if isinstance(files, Mapping) else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()


def write_samples(
    directory: str | Path,
    drivers: Sequence[ReportDriver] | None = None,
    week_start: date = DEFAULT_WEEK,
    *,
    seed: int = 0,
) -> dict[str, Path]:
    """One file of each kind in ``directory`` (for a browser test or a demo upload): Uber
    payments (CSV), the Uber weekly summary re-saved by a French Excel, Uber trips, Bolt
    weekly (English headers), Bolt orders (JSON), and a zip of the two Bolt files."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    people = list(drivers) if drivers is not None else sample_drivers(5, seed=seed)
    bolt_csv = to_csv(
        bolt_weekly(people, week_start, seed=seed), FileOptions(trailing_empty_column=True)
    )
    orders = to_json(bolt_orders(people, week_start, seed=seed))
    files = {
        "uber_payments_order.csv": to_csv(uber_payments_order(people, week_start, seed=seed)),
        "uber_weekly_fr.csv": to_csv(
            uber_payments_driver(people, week_start, seed=seed, language="fr"), excel_fr()
        ),
        "uber_trip_activity.csv": to_csv(uber_trip_activity(people, week_start, seed=seed)),
        "bolt_weekly.csv": bolt_csv,
        "bolt_orders.json": orders,
        "bolt_week.zip": to_zip({"bolt_weekly.csv": bolt_csv, "bolt_orders.json": orders}),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# --- malformed input -------------------------------------------------------------------------


def _copy(report: SampleReport) -> SampleReport:
    return copy.deepcopy(report)


def inject_bad_number(
    report: SampleReport, row: int, column: str, text: str = "12,3,4"
) -> SampleReport:
    """``column`` of ``row`` written as ``text`` (not a number): a row error."""
    out = _copy(report)
    out.rows[row][column] = Raw(text)
    out.expected[row]["valid"] = False
    out.injected.append(Injected(row, column, "bad_number"))
    return out


def inject_bad_date(
    report: SampleReport, row: int, column: str, text: str = "2026-13-45 25:61:00 CET"
) -> SampleReport:
    """``column`` of ``row`` written as ``text`` (not a date): a row error."""
    out = _copy(report)
    out.rows[row][column] = Raw(text)
    out.expected[row]["valid"] = False
    out.injected.append(Injected(row, column, "bad_date"))
    return out


def inject_duplicate(report: SampleReport, row: int) -> SampleReport:
    """A copy of ``row`` appended at the end: the copy is a row error ("duplicate of row")."""
    out = _copy(report)
    out.rows.append(copy.deepcopy(out.rows[row]))
    out.expected.append({**copy.deepcopy(out.expected[row]), "valid": False})
    out.injected.append(Injected(len(out.rows) - 1, None, f"duplicate:{row}"))
    return out


def inject_unknown_driver(report: SampleReport, row: int, *, seed: int = 99) -> SampleReport:
    """``row`` given a driver no fleet knows (a fresh UUID, phone and e-mail): valid for the
    reader, an unknown account for the import."""
    out = _copy(report)
    stranger = sample_drivers(1, seed=seed + 1000)[0]
    cells, expected = out.rows[row], out.expected[row]
    for key, value in (
        ("driver_uuid", stranger.uuid),
        ("phone", stranger.phone),
        ("email", stranger.email),
        ("driver_uuid", stranger.uuid),
    ):
        if key in cells:
            cells[key] = value
    if report.report_type == "bolt_orders":
        cells["driver_uuid"] = stranger.bolt_uuid
        expected["platform_account_ref"] = stranger.bolt_uuid
    elif expected.get("account_kind") == "phone":
        expected["platform_account_ref"] = stranger.phone
    elif expected.get("account_kind") == "email":
        expected["platform_account_ref"] = stranger.email
    else:
        expected["platform_account_ref"] = stranger.uuid
    out.injected.append(Injected(row, None, "unknown_driver"))
    return out


def drop_column(report: SampleReport, column: str) -> SampleReport:
    """The report without one of its columns (a required one makes the file unreadable)."""
    out = _copy(report)
    out.columns = [c for c in out.columns if c.id != column]
    return out


def empty_file() -> bytes:
    return b""


def header_only(report: SampleReport, options: FileOptions = FileOptions()) -> bytes:
    """Just the header line."""
    return to_csv(replace(report, rows=[], expected=[]), options)


def mis_decoded(data: bytes, via: str = "cp850") -> bytes:
    """UTF-8 ``data`` read as ``via`` and saved as UTF-8 again: ``Prénom`` becomes
    ``Pr├®nom`` (cp850), ``PrÃ©nom`` (cp1252)."""
    return data.decode("utf-8").encode("utf-8").decode(via, errors="replace").encode("utf-8")


def undecodable(data: bytes) -> bytes:
    """``data`` with bytes that are neither UTF-8 nor Windows-1252 in its second line."""
    first, _, rest = data.partition(b"\n")
    return first + b"\n" + b"\x81\x8d" + rest


# --- the benchmark file ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchReport:
    """What :func:`write_uber_payments_csv` wrote: sizes and exact totals to check."""

    path: Path
    rows: int
    bytes: int
    driver_uuids: list[str]
    totals: dict[str, Decimal]  # canonical field -> Σ over the file


_M64 = 2**64


def _mix(x: pl.Expr) -> pl.Expr:
    """splitmix64 of a UInt64 expression: a reproducible stream, whatever the polars version."""
    z = x + pl.lit(0x9E3779B97F4A7C15, dtype=pl.UInt64)
    z = (z ^ (z // 2**30)) * pl.lit(0xBF58476D1CE4E5B9, dtype=pl.UInt64)
    z = (z ^ (z // 2**27)) * pl.lit(0x94D049BB133111EB, dtype=pl.UInt64)
    return z ^ (z // 2**31)


_HEX4 = [f"{i:04x}" for i in range(65536)]


def _with_uuid(frame: pl.DataFrame, index: str, stream: int, name: str) -> pl.DataFrame:
    """Add a version-4 UUID string column per ``index`` value, from two splitmix64 draws
    (each drawn once, then cut into 16-bit chunks looked up in a hex table)."""
    key = pl.col(index).cast(pl.UInt64) * 4 + stream * 0x1000003
    words = frame.select(_mix(key + 1).alias("hi"), _mix(key + 2).alias("lo"))
    table = pl.Series(_HEX4)
    quads = words.select(
        [
            pl.lit(table)
            .gather(((pl.col(w) // (65536 ** (3 - k))) % 65536).cast(pl.Int64))
            .alias(f"{w}{k}")
            for w in ("hi", "lo")
            for k in range(4)
        ]
    )
    q = [pl.col(f"{w}{k}") for w in ("hi", "lo") for k in range(4)]
    text = quads.select(
        pl.concat_str(
            [
                q[0],
                q[1],
                pl.lit("-"),
                q[2],
                pl.lit("-4"),
                q[3].str.slice(1),
                pl.lit("-a"),
                q[4].str.slice(1),
                pl.lit("-"),
                q[5],
                q[6],
                q[7],
            ]
        ).alias(name)
    )
    return frame.with_columns(text)


def _amount(cents: pl.Expr) -> pl.Expr:
    """Integer cents as ``-12.34`` text (exact: Decimal arithmetic, never float)."""
    return (
        (cents.cast(pl.Decimal(18, 2)) * pl.lit(Decimal("0.01")))
        .cast(pl.Decimal(18, 2))
        .cast(pl.String)
    )


def write_uber_payments_csv(
    path: str | Path,
    rows: int = 1_000_000,
    drivers: int = 200,
    *,
    seed: int = 0,
    week_start: date = DEFAULT_WEEK,
    timezone: str = "Europe/Paris",
    with_names: bool = False,
) -> BenchReport:
    """The benchmark file: an Uber payments_order CSV of ``rows`` transactions by ``drivers``
    drivers over one week (UTF-8 with BOM, as Uber writes it), about 175 bytes a row.

    90 % are trips (fare, 25 % service fee, a tip on one in ten, cash on one in four), 10 %
    fare adjustments (±1.00 to 4.99) of an earlier trip of the file. Every amount is integer
    cents until formatted, so the returned totals are exact. Vectorised (polars, splitmix64):
    a few seconds for a million rows.
    """
    if rows < 1 or drivers < 1:
        raise ValueError("rows and drivers must be positive")
    path = Path(path)
    base = seed * 0x9E3779B9
    idx = pl.int_range(0, rows, dtype=pl.UInt64)

    def draw(stream: int) -> pl.Expr:
        return _mix(idx * 16 + stream + base)

    start, end = _week(week_start, timezone)
    span_us = int((end - start).total_seconds()) * 1_000_000
    driver_ids = _with_uuid(
        pl.select((pl.int_range(0, drivers, dtype=pl.UInt64) + base).alias("n")), "n", 7, "u"
    )["u"]
    names = [(f"Driver{n}", f"N{n}") for n in range(drivers)]
    frame = pl.select(
        idx.alias("i"),
        (draw(1) % drivers).cast(pl.Int64).alias("driver"),
        (draw(2) % 10 == 0).alias("adjust"),
        (500 + draw(3) % 3500).cast(pl.Int64).alias("fare"),
        (draw(4) % 10 == 0).alias("tipped"),
        (100 + draw(5) % 400).cast(pl.Int64).alias("tip_cents"),
        (draw(6) % 4 == 0).alias("cash_trip"),
        (draw(8) % 2 == 0).alias("negative"),
        (1 + draw(9) % 1000).alias("back"),
    )
    # A fare adjustment points at an earlier row; following the pointers a few steps lands on
    # a trip (or, rarely, still on an adjustment: that row then becomes a trip itself). The
    # adjustment takes the trip's driver.
    frame = frame.with_columns(
        pl.when(pl.col("adjust") & (pl.col("i") >= pl.col("back")))
        .then(pl.col("i") - pl.col("back"))
        .otherwise(pl.col("i"))
        .cast(pl.Int64)
        .alias("ref")
    )
    for _ in range(4):
        frame = frame.with_columns(pl.col("ref").gather(pl.col("ref")))
    frame = frame.with_columns(
        pl.when(pl.col("ref").gather(pl.col("ref")) == pl.col("ref"))
        .then(pl.col("ref"))
        .otherwise(pl.col("i").cast(pl.Int64))
        .alias("ref")
    )
    frame = frame.with_columns(pl.col("driver").gather(pl.col("ref")).alias("driver"))
    trip_index = pl.col("ref").cast(pl.UInt64)
    adjust = pl.col("ref") != pl.col("i").cast(pl.Int64)
    frame = frame.with_columns(
        adjust.alias("adjust"),
        pl.when(adjust)
        .then(
            pl.when(pl.col("negative"))
            .then(-(pl.col("fare") % 400 + 100))
            .otherwise(pl.col("fare") % 400 + 100)
        )
        .otherwise(pl.col("fare"))
        .alias("fare"),
        (pl.col("i") + base).alias("tx_key"),
        (trip_index + base).alias("trip_key"),
        (
            pl.lit(start).dt.replace_time_zone("UTC")
            + pl.duration(microseconds=(pl.col("i") * span_us // rows).cast(pl.Int64))
        )
        .dt.convert_time_zone(timezone)
        .dt.strftime("%Y-%m-%d %H:%M:%S %Z")
        .alias("reported"),
    )
    frame = _with_uuid(_with_uuid(frame, "tx_key", 1, "transaction"), "trip_key", 2, "trip")
    fee = (
        pl.when(pl.col("fare") < 0)
        .then(-((-pl.col("fare")) * 25 // 100))
        .otherwise(pl.col("fare") * 25 // 100)
    )
    tip = pl.when(pl.col("tipped") & ~pl.col("adjust")).then(pl.col("tip_cents")).otherwise(0)
    cash = pl.when(pl.col("cash_trip") & ~pl.col("adjust")).then(pl.col("fare")).otherwise(0)
    frame = (
        frame.with_columns(fee.alias("fee"), tip.alias("tip"), cash.alias("cash"))
        .with_columns((pl.col("fare") - pl.col("fee") + pl.col("tip")).alias("earnings"))
        .with_columns((pl.col("earnings") - pl.col("cash")).alias("paid"))
    )
    blank = pl.lit(None, dtype=pl.String)
    columns: dict[str, pl.Expr] = {
        "transaction UUID": pl.col("transaction"),
        "Driver UUID": pl.lit(driver_ids).gather(pl.col("driver")),
    }
    if with_names:
        columns["Driver first name"] = pl.col("driver").replace_strict(
            {n: f for n, (f, _) in enumerate(names)}, return_dtype=pl.String
        )
        columns["Driver surname"] = pl.col("driver").replace_strict(
            {n: s for n, (_, s) in enumerate(names)}, return_dtype=pl.String
        )
    columns |= {
        "Trip UUID": pl.col("trip"),
        "Description": pl.when(pl.col("adjust"))
        .then(pl.lit("trip fare adjust order"))
        .otherwise(pl.lit("trip completed order")),
        "vs reporting": pl.col("reported"),
        "Paid to you": _amount(pl.col("paid")),
        "Paid to you : Your earnings": _amount(pl.col("earnings")),
        "Paid to you:Your earnings:Fare:Fare": _amount(pl.col("fare")),
        "Paid to you:Your earnings:Service fee": pl.when(pl.col("fee") != 0)
        .then(_amount(-pl.col("fee")))
        .otherwise(blank),
        "Paid to you:Your earnings:Tip": pl.when(pl.col("tip") != 0)
        .then(_amount(pl.col("tip")))
        .otherwise(blank),
        "Paid to you : Trip balance : Payouts : Cash collected": pl.when(pl.col("cash") != 0)
        .then(_amount(-pl.col("cash")))
        .otherwise(blank),
    }
    out = frame.select([expr.alias(name) for name, expr in columns.items()])
    sums = frame.select(
        pl.col("earnings").sum(),
        pl.col("fare").sum(),
        pl.col("fee").sum(),
        pl.col("tip").sum(),
        pl.col("cash").sum(),
        pl.col("paid").sum(),
    ).row(0)
    out.write_csv(path, include_bom=True)
    totals = {
        name: Decimal(int(value)) / 100
        for name, value in zip(
            ("earnings", "fare_gross", "commission", "tip", "cash_collected", "payout"),
            sums,
            strict=True,
        )
    }
    return BenchReport(path, rows, path.stat().st_size, driver_ids.to_list(), totals)
