"""Reference data tables (``dir_``): platforms, vehicle classes, country regulations and the car
catalogue.

They are global (no tenant scope, ``PRIMARY KEY (id)``) and loaded from the reference data
files; the loader depends on the exact column names. Car makes and models also take a tenant's
private additions (``tenant_id`` set); a tenant table references them by ``id`` alone.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CountryCode,
    CurrencyCode,
    GlobalRow,
    JsonList,
    JsonObject,
    MoneyAmount,
    Timestamped,
    Versioned,
    WithMetadata,
    country_check,
    currency_check,
    no_overlap,
    non_negative,
)

_CODE_PATTERN = "'^[a-z0-9_]+$'"


class Platform(Base, GlobalRow, Timestamped, Versioned, WithMetadata):
    """A ride-hailing platform (Uber, Bolt, …) with its report format and API configuration."""

    __tablename__ = "dir_platforms"

    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    website: Mapped[str | None]
    report_config: Mapped[JsonObject]
    api_config: Mapped[JsonObject]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # ISO 3166-1 alpha-2 codes of the countries the platform operates in.
    countries: Mapped[JsonList]

    __table_args__ = (
        CheckConstraint(f"code ~ {_CODE_PATTERN}", name="code_format"),
        CheckConstraint("jsonb_typeof(countries) = 'array'", name="countries_is_array"),
    )


class VehicleClass(Base, GlobalRow, Timestamped, Versioned):
    """A country's vehicle class (economy, comfort, van…) with its age and seat requirements."""

    __tablename__ = "dir_vehicle_classes"

    country: Mapped[CountryCode]
    code: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None]
    max_age_years: Mapped[int | None]
    min_seats: Mapped[int | None]

    __table_args__ = (
        UniqueConstraint("country", "code"),
        country_check("country"),
        CheckConstraint(f"code ~ {_CODE_PATTERN}", name="code_format"),
        CheckConstraint("max_age_years > 0", name="max_age_years_positive"),
        CheckConstraint("min_seats > 0", name="min_seats_positive"),
    )


class CountryRegulation(Base, GlobalRow, Timestamped, Versioned):
    """The ride-hailing rules of one country for one period ``[effective_from, effective_to)``."""

    __tablename__ = "dir_country_regulations"

    country: Mapped[CountryCode]
    effective_from: Mapped[date]
    # Exclusive end date; NULL = still in force.
    effective_to: Mapped[date | None]
    max_vehicle_age_years: Mapped[int | None]
    min_fare: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode]
    vat_rate_pct: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    professional_card_required: Mapped[bool] = mapped_column(server_default=text("false"))
    professional_card_name: Mapped[str | None]
    vehicle_permit_required: Mapped[bool] = mapped_column(server_default=text("false"))
    vehicle_permit_name: Mapped[str | None]
    min_driver_age: Mapped[int | None]
    min_licence_years: Mapped[int | None]
    max_daily_driving_hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 2))
    # Citation or URL of the legal text the row was taken from.
    source: Mapped[str]
    notes: Mapped[str | None]

    __table_args__ = (
        country_check("country"),
        currency_check("currency"),
        CheckConstraint("effective_to > effective_from", name="effective_to_after_from"),
        CheckConstraint("vat_rate_pct BETWEEN 0 AND 100", name="vat_rate_pct_range"),
        CheckConstraint("max_vehicle_age_years > 0", name="max_vehicle_age_years_positive"),
        CheckConstraint("min_driver_age BETWEEN 16 AND 99", name="min_driver_age_range"),
        CheckConstraint("min_licence_years >= 0", name="min_licence_years_non_negative"),
        CheckConstraint(
            "max_daily_driving_hours > 0 AND max_daily_driving_hours <= 24",
            name="max_daily_driving_hours_range",
        ),
        *non_negative("min_fare"),
        no_overlap(
            "ex_dir_country_regulations_period",
            "country",
            start="effective_from",
            end="effective_to",
            range_type="daterange",
        ),
    )


class CarMake(Base, GlobalRow, Timestamped, Versioned):
    """A car manufacturer: global catalogue (``tenant_id`` NULL) or a tenant's private addition."""

    __tablename__ = "dir_car_makes"

    # NULL = global catalogue row. A trigger (migration) keeps tenants from using another
    # tenant's private rows, since a nullable tenant cannot be part of a composite key.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_tenants.id", ondelete="RESTRICT")
    )
    name: Mapped[str]

    __table_args__ = (
        UniqueConstraint("tenant_id", "name", postgresql_nulls_not_distinct=True),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    )


class CarModel(Base, GlobalRow, Timestamped, Versioned):
    """A model of a car make: global catalogue (``tenant_id`` NULL) or a tenant's addition."""

    __tablename__ = "dir_car_models"

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("adm_tenants.id", ondelete="RESTRICT")
    )
    make_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dir_car_makes.id", ondelete="CASCADE"))
    name: Mapped[str]
    # The class code this model usually qualifies for (e.g. "comfort"); classes are per
    # country, so the vehicle itself carries its actual class.
    default_class_code: Mapped[str | None]
    year_from: Mapped[int | None]
    year_to: Mapped[int | None]
    body_type: Mapped[str | None]
    seats: Mapped[int | None]
    # Energy types the model is sold with (the values of flt_vehicles.fuel_type).
    energy_types: Mapped[JsonList]

    __table_args__ = (
        UniqueConstraint("tenant_id", "make_id", "name", postgresql_nulls_not_distinct=True),
        Index("ix_dir_car_models_make_id", "make_id"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint(f"default_class_code ~ {_CODE_PATTERN}", name="default_class_code_format"),
        CheckConstraint("year_from BETWEEN 1900 AND 2100", name="year_from_plausible"),
        CheckConstraint("year_to >= year_from", name="year_to_after_from"),
        CheckConstraint("seats > 0", name="seats_positive"),
        CheckConstraint("jsonb_typeof(energy_types) = 'array'", name="energy_types_is_array"),
    )
