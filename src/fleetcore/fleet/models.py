"""Fleet tables (``flt_``): vehicles, who has them when, what happens to them, what they cost,
their insurance policies, odometer readings and the GPS devices that report for them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    CountryCode,
    CurrencyCode,
    MoneyAmount,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    country_check,
    currency_check,
    enum_check,
    live_unique,
    no_overlap,
    non_negative,
    tenant_fk,
)

OdometerKm = Annotated[Decimal, mapped_column(Numeric(12, 1))]
"""An odometer value or distance in kilometres, to 100 m."""

_LIVE_NOT_CANCELLED = "status <> 'cancelled' AND deleted_at IS NULL"


class FuelType(StrEnum):
    PETROL = "petrol"
    DIESEL = "diesel"
    HYBRID = "hybrid"
    PLUG_IN_HYBRID = "plug_in_hybrid"
    ELECTRIC = "electric"
    LPG = "lpg"
    CNG = "cng"
    HYDROGEN = "hydrogen"


class OwnershipType(StrEnum):
    OWNED = "owned"
    LEASED = "leased"
    RENTED = "rented"
    FINANCED = "financed"
    DRIVER_OWNED = "driver_owned"


class VehicleStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    IN_MAINTENANCE = "in_maintenance"
    RETIRED = "retired"
    SOLD = "sold"


class AssignmentType(StrEnum):
    PERMANENT = "permanent"
    TEMPORARY = "temporary"
    SHIFT = "shift"


class AssignmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


class VehicleEventType(StrEnum):
    ACQUISITION = "acquisition"
    DISPOSAL = "disposal"
    MAINTENANCE = "maintenance"
    ACCIDENT = "accident"
    HANDOVER = "handover"
    INSPECTION = "inspection"
    INSURANCE_CHANGE = "insurance_change"
    OVERSPEED = "overspeed"
    GEOFENCE = "geofence"
    OTHER = "other"


class EventSeverity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class VehicleEventSource(StrEnum):
    MANUAL = "manual"
    TRACCAR = "traccar"
    SYSTEM = "system"


class MaintenanceType(StrEnum):
    OIL_CHANGE = "oil_change"
    INSPECTION = "inspection"
    TYRES = "tyres"
    BRAKES = "brakes"
    SERVICE = "service"
    REPAIR = "repair"
    OTHER = "other"


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ExpenseCategory(StrEnum):
    FUEL = "fuel"
    TOLL = "toll"
    PARKING = "parking"
    WASH = "wash"
    REPAIR = "repair"
    FINE = "fine"
    INSURANCE = "insurance"
    OTHER = "other"


class ExpensePaymentMethod(StrEnum):
    COMPANY_CARD = "company_card"
    FUEL_CARD = "fuel_card"
    CASH = "cash"
    TRANSFER = "transfer"
    DRIVER_PAID = "driver_paid"


class EnergyUnit(StrEnum):
    LITRE = "litre"
    KWH = "kwh"
    KG = "kg"


class PremiumFrequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    ONE_OFF = "one_off"


class OdometerSource(StrEnum):
    MANUAL = "manual"
    HANDOVER = "handover"
    MAINTENANCE = "maintenance"
    GPS = "gps"
    PLATFORM = "platform"


class Vehicle(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A vehicle of the tenant's fleet.

    It has no odometer column: the current odometer is derived from ``flt_odometer_readings``,
    so telemetry never rewrites this row and staff edits don't race GPS.
    """

    __tablename__ = "flt_vehicles"

    make_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dir_car_makes.id"))
    model_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dir_car_models.id"))
    # The class in the vehicle's country (classes are per country, not per model).
    vehicle_class_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dir_vehicle_classes.id"))
    # The ISO 3779 check digit is validated by the API (python-stdnum) where the country uses it.
    vin: Mapped[str | None]
    licence_plate: Mapped[str]
    country: Mapped[CountryCode]
    year: Mapped[int]
    first_registration_on: Mapped[date | None]
    colour: Mapped[str | None]
    seats: Mapped[int | None]
    fuel_type: Mapped[str]
    ownership_type: Mapped[str]
    acquired_on: Mapped[date | None]
    acquisition_cost: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode | None]
    status: Mapped[str] = mapped_column(server_default=VehicleStatus.ACTIVE.value)
    # The device's Traccar ``uniqueId`` (stable across Traccar servers, unlike its numeric id).
    traccar_device_id: Mapped[str | None]
    notes: Mapped[str | None]

    __table_args__ = (
        enum_check("fuel_type", FuelType),
        enum_check("ownership_type", OwnershipType),
        enum_check("status", VehicleStatus),
        country_check("country"),
        currency_check("currency"),
        CheckConstraint("vin ~ '^[A-HJ-NPR-Z0-9]{17}$'", name="vin_format"),
        CheckConstraint("length(btrim(licence_plate)) > 0", name="licence_plate_not_blank"),
        # A static bound: the API also refuses years after next year's models.
        CheckConstraint("year BETWEEN 1950 AND 2100", name="year_plausible"),
        CheckConstraint("seats BETWEEN 1 AND 99", name="seats_range"),
        CheckConstraint(
            "acquisition_cost IS NULL OR currency IS NOT NULL", name="cost_has_currency"
        ),
        *non_negative("acquisition_cost"),
        live_unique("flt_vehicles", "tenant_id", "vin"),
        live_unique("flt_vehicles", "tenant_id", "licence_plate"),
        live_unique("flt_vehicles", "tenant_id", "traccar_device_id"),
        Index("ix_flt_vehicles_tenant_id_status", "tenant_id", "status"),
    )


class VehicleAssignment(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """Custody of a vehicle by a driver over ``[starts_at, ends_at)``: who had the car at T."""

    __tablename__ = "flt_vehicle_assignments"

    vehicle_id: Mapped[uuid.UUID]
    driver_id: Mapped[uuid.UUID]
    starts_at: Mapped[datetime]
    # NULL = open (the driver still has the car).
    ends_at: Mapped[datetime | None]
    assignment_type: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=AssignmentStatus.SCHEDULED.value)
    odometer_out_km: Mapped[OdometerKm | None]
    odometer_in_km: Mapped[OdometerKm | None]
    notes: Mapped[str | None]
    # Set when an admin assigned despite a failed compliance check.
    override_reason: Mapped[str | None]
    overridden_by: Mapped[uuid.UUID | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("driver_id", "rid_drivers"),
        enum_check("assignment_type", AssignmentType),
        enum_check("status", AssignmentStatus),
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        # Ended assignments keep their real end, so custody history has no open holes.
        CheckConstraint("status <> 'ended' OR ends_at IS NOT NULL", name="ended_has_end"),
        CheckConstraint("odometer_in_km >= odometer_out_km", name="odometer_in_after_out"),
        CheckConstraint(
            "(override_reason IS NULL) = (overridden_by IS NULL)", name="override_complete"
        ),
        *non_negative("odometer_out_km", "odometer_in_km"),
        # Every assignment not cancelled and not deleted counts, so "who had vehicle X at T"
        # has exactly one answer (data-model.md, Overlaps).
        no_overlap(
            "ex_flt_vehicle_assignments_vehicle",
            "tenant_id",
            "vehicle_id",
            start="starts_at",
            end="ends_at",
            where=_LIVE_NOT_CANCELLED,
        ),
        no_overlap(
            "ex_flt_vehicle_assignments_driver",
            "tenant_id",
            "driver_id",
            start="starts_at",
            end="ends_at",
            where=_LIVE_NOT_CANCELLED,
        ),
        Index("ix_flt_vehicle_assignments_vehicle", "tenant_id", "vehicle_id", "starts_at"),
        Index("ix_flt_vehicle_assignments_driver", "tenant_id", "driver_id", "starts_at"),
        Index("ix_flt_vehicle_assignments_status", "tenant_id", "status"),
    )


class VehicleEvent(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """Something that happened to a vehicle (handover, accident, overspeed…), from staff or GPS."""

    __tablename__ = "flt_vehicle_events"

    vehicle_id: Mapped[uuid.UUID]
    driver_id: Mapped[uuid.UUID | None]
    # The assignment a handover event belongs to.
    assignment_id: Mapped[uuid.UUID | None]
    event_type: Mapped[str]
    severity: Mapped[str] = mapped_column(server_default=EventSeverity.INFO.value)
    occurred_at: Mapped[datetime]
    odometer_km: Mapped[OdometerKm | None]
    description: Mapped[str | None]
    cost: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode | None]
    source: Mapped[str] = mapped_column(server_default=VehicleEventSource.MANUAL.value)
    # The event's id in the source system (Traccar event id): a redelivery stores one row.
    external_event_id: Mapped[str | None]
    follow_up_due_on: Mapped[date | None]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("assignment_id", "flt_vehicle_assignments"),
        enum_check("event_type", VehicleEventType),
        enum_check("severity", EventSeverity),
        enum_check("source", VehicleEventSource),
        currency_check("currency"),
        CheckConstraint("cost IS NULL OR currency IS NOT NULL", name="cost_has_currency"),
        *non_negative("odometer_km", "cost"),
        UniqueConstraint("tenant_id", "source", "external_event_id"),
        Index("ix_flt_vehicle_events_vehicle", "tenant_id", "vehicle_id", "occurred_at"),
        Index("ix_flt_vehicle_events_driver", "tenant_id", "driver_id", "occurred_at"),
        Index(
            "ix_flt_vehicle_events_follow_up",
            "tenant_id",
            "follow_up_due_on",
            postgresql_where=text("resolved_at IS NULL AND deleted_at IS NULL"),
        ),
    )


class VehicleMaintenance(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A maintenance job on a vehicle, planned or done, possibly fulfilling a schedule."""

    __tablename__ = "flt_vehicle_maintenance"

    vehicle_id: Mapped[uuid.UUID]
    # The schedule this job fulfils; completing the job advances that schedule.
    schedule_id: Mapped[uuid.UUID | None]
    maintenance_type: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=MaintenanceStatus.SCHEDULED.value)
    scheduled_on: Mapped[date | None]
    completed_on: Mapped[date | None]
    odometer_km: Mapped[OdometerKm | None]
    next_due_km: Mapped[OdometerKm | None]
    next_due_on: Mapped[date | None]
    # The garage or workshop.
    provider: Mapped[str | None]
    description: Mapped[str | None]
    cost: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode | None]
    # When the car is off the road for the job: rent is abated over this period unless the
    # driver caused the job (workflows.md, Finance 6).
    off_road_starts_at: Mapped[datetime | None]
    off_road_ends_at: Mapped[datetime | None]
    driver_at_fault: Mapped[bool] = mapped_column(server_default=text("false"))
    notes: Mapped[str | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("schedule_id", "sch_maintenance_schedules"),
        enum_check("maintenance_type", MaintenanceType),
        enum_check("status", MaintenanceStatus),
        currency_check("currency"),
        CheckConstraint("cost IS NULL OR currency IS NOT NULL", name="cost_has_currency"),
        CheckConstraint(
            "status <> 'completed' OR completed_on IS NOT NULL", name="completed_has_date"
        ),
        CheckConstraint("scheduled_on IS NOT NULL OR completed_on IS NOT NULL", name="has_a_date"),
        CheckConstraint("off_road_ends_at > off_road_starts_at", name="off_road_ends_after_starts"),
        CheckConstraint(
            "off_road_ends_at IS NULL OR off_road_starts_at IS NOT NULL",
            name="off_road_end_has_start",
        ),
        *non_negative("odometer_km", "next_due_km", "cost"),
        Index("ix_flt_vehicle_maintenance_vehicle", "tenant_id", "vehicle_id", "scheduled_on"),
        Index("ix_flt_vehicle_maintenance_schedule", "tenant_id", "schedule_id"),
        Index("ix_flt_vehicle_maintenance_status", "tenant_id", "status", "scheduled_on"),
    )


class VehicleExpense(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A cost incurred for a vehicle (fuel, parking, wash, repair…), possibly recharged.

    Tolls and fines live in ``fin_toll_transactions`` / ``fin_traffic_fines``; the service
    refuses expenses that would duplicate them.
    """

    __tablename__ = "flt_vehicle_expenses"

    vehicle_id: Mapped[uuid.UUID]
    driver_id: Mapped[uuid.UUID | None]
    category: Mapped[str]
    payment_method: Mapped[str]
    amount: Mapped[MoneyAmount]
    # VAT included in ``amount``, when the receipt shows it (reclaimable by the tenant).
    tax_amount: Mapped[MoneyAmount | None]
    currency: Mapped[CurrencyCode]
    # The business date (in the tenant's time zone) and, when known (fuel cards, receipts),
    # the instant, which attributes the cost to the driver who had the car then.
    incurred_on: Mapped[date]
    incurred_at: Mapped[datetime | None]
    odometer_km: Mapped[OdometerKm | None]
    vendor: Mapped[str | None]
    description: Mapped[str | None]
    # Fuel or energy bought: litres, kWh or kg, at a unit price in ``currency``.
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    quantity_unit: Mapped[str | None]
    unit_price: Mapped[MoneyAmount | None]
    trip_id: Mapped[uuid.UUID | None]
    transaction_id: Mapped[uuid.UUID | None]
    receipt_document_id: Mapped[uuid.UUID | None]
    # Paid by the driver, to be paid back / to be charged to the driver.
    is_reimbursable: Mapped[bool] = mapped_column(server_default=text("false"))
    is_rechargeable: Mapped[bool] = mapped_column(server_default=text("false"))

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("driver_id", "rid_drivers"),
        tenant_fk("trip_id", "trp_trips"),
        # The ledger also points at expenses: create this one after both tables exist.
        tenant_fk("transaction_id", "fin_transactions", use_alter=True),
        tenant_fk("receipt_document_id", "doc_documents"),
        enum_check("category", ExpenseCategory),
        enum_check("payment_method", ExpensePaymentMethod),
        enum_check("quantity_unit", EnergyUnit),
        currency_check("currency"),
        *non_negative("amount", "tax_amount", "odometer_km", "quantity", "unit_price"),
        CheckConstraint("tax_amount <= amount", name="tax_within_amount"),
        CheckConstraint("(quantity IS NULL) = (quantity_unit IS NULL)", name="quantity_has_unit"),
        CheckConstraint(
            "NOT (is_reimbursable OR is_rechargeable) OR driver_id IS NOT NULL",
            name="driver_side_has_driver",
        ),
        Index("ix_flt_vehicle_expenses_vehicle", "tenant_id", "vehicle_id", "incurred_on"),
        Index("ix_flt_vehicle_expenses_driver", "tenant_id", "driver_id", "incurred_on"),
        Index("ix_flt_vehicle_expenses_category", "tenant_id", "category", "incurred_on"),
        Index("ix_flt_vehicle_expenses_trip", "tenant_id", "trip_id"),
        Index("ix_flt_vehicle_expenses_transaction", "tenant_id", "transaction_id"),
    )


class VehicleInsurance(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """An insurance policy covering a vehicle over ``[starts_on, ends_on]`` (both days included)."""

    __tablename__ = "flt_vehicle_insurances"

    vehicle_id: Mapped[uuid.UUID]
    # The insurer.
    provider: Mapped[str]
    policy_number: Mapped[str]
    coverage_type: Mapped[str]
    currency: Mapped[CurrencyCode]
    deductible: Mapped[MoneyAmount | None]
    premium: Mapped[MoneyAmount | None]
    premium_frequency: Mapped[str | None]
    starts_on: Mapped[date]
    # Last day covered (inclusive), as printed on the certificate.
    ends_on: Mapped[date]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    notes: Mapped[str | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        enum_check("premium_frequency", PremiumFrequency),
        currency_check("currency"),
        *non_negative("deductible", "premium"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_starts"),
        CheckConstraint(
            "premium IS NULL OR premium_frequency IS NOT NULL", name="premium_has_frequency"
        ),
        no_overlap(
            "ex_flt_vehicle_insurances_active",
            "tenant_id",
            "vehicle_id",
            start="starts_on",
            end="ends_on",
            where="active AND deleted_at IS NULL",
            bounds="[]",
            range_type="daterange",
        ),
        Index("ix_flt_vehicle_insurances_vehicle", "tenant_id", "vehicle_id", "starts_on"),
        # Renewal reminders.
        Index(
            "ix_flt_vehicle_insurances_ends_on",
            "tenant_id",
            "ends_on",
            postgresql_where=text("active AND deleted_at IS NULL"),
        ),
    )


class OdometerReading(Base, TenantOwned, Timestamped, Versioned):
    """One odometer reading of a vehicle, with its source; the latest trusted one is current.

    Readings are never edited into going backwards: a wrong reading gets a correcting reading
    (``corrects_reading_id``). Implausible readings are flagged (``is_anomaly``) and kept out of
    due-date forecasts until confirmed.
    """

    __tablename__ = "flt_odometer_readings"

    vehicle_id: Mapped[uuid.UUID]
    read_at: Mapped[datetime]
    odometer_km: Mapped[OdometerKm]
    source: Mapped[str]
    is_anomaly: Mapped[bool] = mapped_column(server_default=text("false"))
    anomaly_reason: Mapped[str | None]
    corrects_reading_id: Mapped[uuid.UUID | None]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[uuid.UUID | None]
    # Who took the reading (driver at handover, mechanic, staff); NULL for GPS/platform.
    recorded_by: Mapped[uuid.UUID | None]

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        tenant_fk("corrects_reading_id", "flt_odometer_readings"),
        enum_check("source", OdometerSource),
        *non_negative("odometer_km"),
        CheckConstraint("corrects_reading_id <> id", name="not_self_correction"),
        CheckConstraint("NOT is_anomaly OR anomaly_reason IS NOT NULL", name="anomaly_has_reason"),
        CheckConstraint(
            "confirmed_by IS NULL OR confirmed_at IS NOT NULL", name="confirmed_by_has_time"
        ),
        # A reading is corrected at most once (correct the correction to amend it again), so
        # the effective value of every reading is unambiguous.
        UniqueConstraint("tenant_id", "corrects_reading_id"),
    )


class GpsDevice(Base, TenantOwned, Timestamped):
    """A Traccar device that forwarded to this tenant: linked to the vehicle whose
    ``traccar_device_id`` names its ``uniqueId`` (or numeric id), else listed for linking.

    Written by the forwarding receivers only (``fleet/gps_service.py``); ``last_seen_at`` moves
    at most every few minutes, so telemetry does not rewrite (and audit) the row per position.
    """

    __tablename__ = "flt_gps_devices"

    # Traccar's ``uniqueId`` (usually the IMEI): stable across Traccar servers.
    unique_id: Mapped[str]
    # Traccar's numeric ``deviceId`` on the tenant's server (changes if re-created there).
    traccar_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None]
    # The last status event (``online``, ``offline``, ``unknown``, ``inactive``) and its time.
    status: Mapped[str | None]
    status_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Calibration of Traccar's ``totalDistance`` (GPS distance since the device was added) to
    # the vehicle's odometer: ``km = calibration_km + (totalDistance - calibration_total_km)``,
    # taken from the vehicle's trusted odometer when the device first reported for it.
    calibrated_vehicle_id: Mapped[uuid.UUID | None]
    calibration_km: Mapped[OdometerKm | None]
    calibration_total_km: Mapped[OdometerKm | None]

    __table_args__ = (
        tenant_fk("calibrated_vehicle_id", "flt_vehicles"),
        UniqueConstraint("tenant_id", "unique_id"),
        CheckConstraint("length(btrim(unique_id)) > 0", name="unique_id_not_blank"),
        CheckConstraint(
            "(calibrated_vehicle_id IS NULL) = (calibration_km IS NULL)"
            " AND (calibration_km IS NULL) = (calibration_total_km IS NULL)",
            name="calibration_complete",
        ),
        *non_negative("calibration_km", "calibration_total_km"),
        Index("ix_flt_gps_devices_traccar_id", "tenant_id", "traccar_id"),
    )


class GpsTrackPoint(Base, TenantOwned):
    """The vehicle's position once per minute (the first fix of the minute), from Traccar.

    Written by ``fc_traccar_position`` only (migration 0018); read to validate trips against
    GPS movement and to draw the live map. Bounded: deleted after
    ``FLEETCORE_GPS_TRACK_DAYS`` (``fleet/gps_jobs.py``); the full history stays in Traccar.
    """

    __tablename__ = "flt_gps_track"

    # No key of its own to adm_tenants: the vehicle's stands for it (migration 0018).
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-100)
    vehicle_id: Mapped[uuid.UUID]
    # ``date_trunc('minute', fix_time)``: one point per vehicle and minute.
    minute: Mapped[datetime]
    fix_time: Mapped[datetime]
    latitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    speed_kmh: Mapped[Decimal | None] = mapped_column(Numeric(6, 1))

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "vehicle_id", "minute"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        *non_negative("speed_kmh"),
        CheckConstraint("minute = date_trunc('minute', fix_time)", name="minute_truncated"),
    )


# Declared after the class: a DESC key needs the mapped column.
Index(
    "ix_flt_odometer_readings_vehicle_read_at",
    OdometerReading.tenant_id,
    OdometerReading.vehicle_id,
    OdometerReading.read_at.desc(),
)


# A schedule plans the jobs recorded in flt_vehicle_maintenance: one list of types for both. The
# table keeps its sch_ name (decision 0023: the fleet owns it, scheduling no longer does).
class MaintenanceSchedule(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """A recurring maintenance plan for a vehicle: every N km and/or N days."""

    __tablename__ = "sch_maintenance_schedules"

    vehicle_id: Mapped[uuid.UUID]
    maintenance_type: Mapped[str]
    description: Mapped[str | None]
    interval_km: Mapped[int | None]
    interval_days: Mapped[int | None]
    last_done_km: Mapped[OdometerKm | None]
    last_done_on: Mapped[date | None]
    next_due_km: Mapped[OdometerKm | None]
    next_due_on: Mapped[date | None]
    # How early the reminder goes out before the due km / date.
    reminder_lead_km: Mapped[int | None]
    reminder_lead_days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(server_default=text("true"))

    __table_args__ = (
        tenant_fk("vehicle_id", "flt_vehicles"),
        enum_check("maintenance_type", MaintenanceType),
        CheckConstraint(
            "interval_km IS NOT NULL OR interval_days IS NOT NULL", name="has_an_interval"
        ),
        CheckConstraint("interval_km > 0", name="interval_km_positive"),
        CheckConstraint("interval_days > 0", name="interval_days_positive"),
        *non_negative("last_done_km", "next_due_km", "reminder_lead_km", "reminder_lead_days"),
        Index("ix_sch_maintenance_schedules_vehicle", "tenant_id", "vehicle_id"),
        # Due-date reminders.
        Index(
            "ix_sch_maintenance_schedules_next_due_on",
            "tenant_id",
            "next_due_on",
            postgresql_where=text("active AND deleted_at IS NULL"),
        ),
    )
