"""Read-only, set-based queries the console needs and the services do not offer (yet).

Each runs under the request's row-level security and names the tenant as well; each answers
for a whole page at once (one statement for any number of rows), so no page runs a query per
row. None of them decides a business rule: they label ids for display and aggregate for the
dashboard. Candidates to become service functions are named in each docstring.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from fleetcore.admin.models import Member, MemberRole, Role, Tenant
from fleetcore.documents.models import Document
from fleetcore.drivers.models import Driver, DriverStatus
from fleetcore.fleet.models import (
    AssignmentStatus,
    Vehicle,
    VehicleAssignment,
    VehicleStatus,
)
from fleetcore.reference.models import CarMake, CarModel, Platform
from fleetcore.revenue.models import ImportRow, RevenueImport
from fleetcore.trips.models import PlatformAccount, Settlement, SettlementStatus

# --- labels ------------------------------------------------------------------------------------


def vehicle_labels(session: Session, tenant_id: uuid.UUID,
                   ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``plate · make model`` of each vehicle id (deleted ones included: history shows them)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Vehicle.id, Vehicle.licence_plate, CarMake.name, CarModel.name)
        .outerjoin(CarMake, CarMake.id == Vehicle.make_id)
        .outerjoin(CarModel, CarModel.id == Vehicle.model_id)
        .where(Vehicle.tenant_id == tenant_id, Vehicle.id.in_(list(ids)))
    )
    return {vid: " · ".join(p for p in (plate, " ".join(n for n in (make, model) if n)) if p)
            for vid, plate, make, model in rows}


def catalogue_names(session: Session, make_ids: Collection[uuid.UUID],
                    model_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of car makes and models (global or the tenant's own, as RLS shows them)."""
    names: dict[uuid.UUID, str] = {}
    if make_ids:
        names.update(session.execute(
            select(CarMake.id, CarMake.name).where(CarMake.id.in_(list(make_ids)))).all())
    if model_ids:
        names.update(session.execute(
            select(CarModel.id, CarModel.name).where(CarModel.id.in_(list(model_ids)))
        ).all())
    return names


def driver_names(session: Session, tenant_id: uuid.UUID,
                 ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``First Last`` of each driver id (deleted ones included)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Driver.id, Driver.first_name, Driver.last_name)
        .where(Driver.tenant_id == tenant_id, Driver.id.in_(list(ids))))
    return {did: f"{first} {last}" for did, first, last in rows}


def member_names(session: Session, tenant_id: uuid.UUID,
                 ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """A display name (or e-mail) of each member id."""
    if not ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.first_name, Member.last_name, Member.email)
        .where(Member.tenant_id == tenant_id, Member.id.in_(list(ids))))
    return {mid: " ".join(n for n in (first, last) if n) or email
            for mid, first, last, email in rows}


def document_subjects(session: Session, tenant_id: uuid.UUID,
                      documents: Collection[Document]) -> dict[uuid.UUID, str]:
    """What each document is about (a vehicle's plate, a driver's name): two queries."""
    labels = vehicle_labels(session, tenant_id,
                            {d.entity_id for d in documents if d.entity_type == "vehicle"})
    labels.update(driver_names(session, tenant_id,
                               {d.entity_id for d in documents if d.entity_type == "driver"}))
    return labels


@dataclass(frozen=True, slots=True)
class Custody:
    """Who has a vehicle now (or who has which vehicle)."""

    assignment_id: uuid.UUID
    vehicle_id: uuid.UUID
    driver_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime | None


def current_custody(session: Session, tenant_id: uuid.UUID, at: datetime, *,
                    vehicle_ids: Collection[uuid.UUID] | None = None,
                    driver_ids: Collection[uuid.UUID] | None = None) -> list[Custody]:
    """The live assignments covering ``at`` for the given vehicles or drivers, in one query.

    The set-based sibling of ``fleet.service.custodian`` (one vehicle): it should become
    ``fleet.service.custodians(session, actor, vehicle_ids, at)``.
    """
    stmt = select(VehicleAssignment.id, VehicleAssignment.vehicle_id,
                  VehicleAssignment.driver_id, VehicleAssignment.starts_at,
                  VehicleAssignment.ends_at).where(
        VehicleAssignment.tenant_id == tenant_id, VehicleAssignment.deleted_at.is_(None),
        VehicleAssignment.status != AssignmentStatus.CANCELLED.value,
        VehicleAssignment.starts_at <= at,
        or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > at))
    if vehicle_ids is not None:
        if not vehicle_ids:
            return []
        stmt = stmt.where(VehicleAssignment.vehicle_id.in_(list(vehicle_ids)))
    if driver_ids is not None:
        if not driver_ids:
            return []
        stmt = stmt.where(VehicleAssignment.driver_id.in_(list(driver_ids)))
    return [Custody(*row) for row in session.execute(stmt)]


@dataclass(frozen=True, slots=True)
class Choice:
    """An option of a select: a value and its label."""

    value: uuid.UUID
    label: str


def vehicle_choices(session: Session, tenant_id: uuid.UUID, *,
                    status: str | None = VehicleStatus.ACTIVE.value) -> list[Choice]:
    """The live vehicles (active ones by default) to pick from, by plate."""
    stmt = (select(Vehicle.id, Vehicle.licence_plate, CarMake.name, CarModel.name)
            .outerjoin(CarMake, CarMake.id == Vehicle.make_id)
            .outerjoin(CarModel, CarModel.id == Vehicle.model_id)
            .where(Vehicle.tenant_id == tenant_id, Vehicle.deleted_at.is_(None))
            .order_by(Vehicle.licence_plate))
    if status is not None:
        stmt = stmt.where(Vehicle.status == status)
    return [Choice(vid, f"{plate} · {' '.join(n for n in (make, model) if n)}")
            for vid, plate, make, model in session.execute(stmt)]


def driver_choices(session: Session, tenant_id: uuid.UUID, *,
                   status: str | None = DriverStatus.ACTIVE.value) -> list[Choice]:
    """The live drivers (active ones by default) to pick from, by name."""
    stmt = (select(Driver.id, Driver.first_name, Driver.last_name)
            .where(Driver.tenant_id == tenant_id, Driver.deleted_at.is_(None))
            .order_by(Driver.last_name, Driver.first_name, Driver.id))
    if status is not None:
        stmt = stmt.where(Driver.status == status)
    return [Choice(did, f"{last}, {first}") for did, first, last in session.execute(stmt)]


def member_choices(session: Session, tenant_id: uuid.UUID) -> list[Choice]:
    """The fleet's active members (task assignees), by name."""
    rows = session.execute(
        select(Member.id, Member.first_name, Member.last_name, Member.email)
        .where(Member.tenant_id == tenant_id, Member.deleted_at.is_(None),
               Member.status == "active")
        .order_by(Member.last_name, Member.first_name, Member.email))
    return [Choice(mid, " ".join(n for n in (first, last) if n) or email)
            for mid, first, last, email in rows]


# --- dashboard ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetCounts:
    """Headline numbers of the dashboard."""

    vehicles: int
    active_vehicles: int
    drivers: int
    active_drivers: int
    assigned_vehicles: int


def fleet_counts(session: Session, tenant_id: uuid.UUID, at: datetime) -> FleetCounts:
    """Vehicles and drivers (all live, and active) and vehicles in custody now: one query."""
    live_vehicle = (Vehicle.tenant_id == tenant_id, Vehicle.deleted_at.is_(None))
    live_driver = (Driver.tenant_id == tenant_id, Driver.deleted_at.is_(None))
    assigned = select(func.count(func.distinct(VehicleAssignment.vehicle_id))).where(
        VehicleAssignment.tenant_id == tenant_id, VehicleAssignment.deleted_at.is_(None),
        VehicleAssignment.status != AssignmentStatus.CANCELLED.value,
        VehicleAssignment.starts_at <= at,
        or_(VehicleAssignment.ends_at.is_(None), VehicleAssignment.ends_at > at),
    )
    row = session.execute(select(
        select(func.count()).where(*live_vehicle).scalar_subquery(),
        select(func.count()).where(*live_vehicle, Vehicle.status == VehicleStatus.ACTIVE.value)
        .scalar_subquery(),
        select(func.count()).where(*live_driver).scalar_subquery(),
        select(func.count()).where(*live_driver, Driver.status == DriverStatus.ACTIVE.value)
        .scalar_subquery(),
        assigned.scalar_subquery(),
    )).one()
    return FleetCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))


@dataclass(frozen=True, slots=True)
class WeeklyRevenue:
    """What the drivers earned on one platform in one week (the tenant's weeks)."""

    platform: str
    week: date
    currency: str
    gross: Decimal
    net: Decimal
    trips: int


_WEEKLY_REVENUE = text(
    """
    SELECT p.name AS platform,
           (d.period_start AT TIME ZONE :tz)::date AS week,
           d.currency,
           COALESCE(sum(d.gross), 0) AS gross,
           COALESCE(sum(d.net), 0) AS net,
           COALESCE(sum(d.trip_count), 0) AS trips
      FROM rev_driver_revenues d
      JOIN dir_platforms p ON p.id = d.platform_id
     WHERE d.tenant_id = :tenant_id
       AND d.period_start >= :since AND d.period_start < :until
     GROUP BY 1, 2, 3
     ORDER BY 2, 1
    """
)


def weekly_revenue(session: Session, tenant_id: uuid.UUID, timezone: str, since: datetime,
                   until: datetime) -> list[WeeklyRevenue]:
    """Gross fares, driver net and trips per platform and week, summed over the drivers'
    revenues (``rev_driver_revenues``: one row per driver, platform and tenant week, computed
    from the committed platform reports — the figures settlements start from): one aggregate
    query. A week is keyed by its local Monday, as ``period_start`` is that Monday's local
    midnight.

    Should become a revenue service read (``revenue_by_platform``).
    """
    rows = session.execute(_WEEKLY_REVENUE, {"tenant_id": tenant_id, "tz": timezone,
                                             "since": since, "until": until})
    return [WeeklyRevenue(r.platform, r.week, r.currency, Decimal(r.gross), Decimal(r.net),
                          int(r.trips)) for r in rows]


@dataclass(frozen=True, slots=True)
class DayUtilisation:
    """How much of the fleet was in drivers' hands on one day."""

    day: date
    assigned: int
    fleet: int

    @property
    def percent(self) -> float:
        """Assigned vehicles as a share of the fleet that day (0 to 100)."""
        return 100.0 * self.assigned / self.fleet if self.fleet else 0.0


_UTILISATION = text(
    """
    WITH days AS (
        SELECT d::date AS day,
               (d::date)::timestamp AT TIME ZONE :tz AS day_start,
               (d::date + 1)::timestamp AT TIME ZONE :tz AS day_end
          FROM generate_series(CAST(:first AS date), CAST(:last AS date),
                               interval '1 day') AS d
    )
    SELECT days.day,
           (SELECT count(DISTINCT a.vehicle_id)
              FROM flt_vehicle_assignments a
             WHERE a.tenant_id = :tenant_id AND a.deleted_at IS NULL
               AND a.status <> 'cancelled'
               AND a.starts_at < days.day_end
               AND (a.ends_at IS NULL OR a.ends_at > days.day_start)) AS assigned,
           (SELECT count(*)
              FROM flt_vehicles v
             WHERE v.tenant_id = :tenant_id AND v.deleted_at IS NULL
               AND v.status NOT IN ('retired', 'sold')
               AND (v.acquired_on IS NULL OR v.acquired_on <= days.day)) AS fleet
      FROM days
     ORDER BY days.day
    """
)


def daily_utilisation(session: Session, tenant_id: uuid.UUID, timezone: str, first: date,
                      last: date) -> list[DayUtilisation]:
    """Per day: vehicles with a live assignment during the day / vehicles in the fleet then
    (live, not retired or sold, acquired by that day), in one statement."""
    rows = session.execute(_UTILISATION, {"tenant_id": tenant_id, "tz": timezone,
                                          "first": first, "last": last})
    return [DayUtilisation(r.day, int(r.assigned), int(r.fleet)) for r in rows]


def week_starts(today: date, weeks: int) -> list[date]:
    """The Mondays of the last ``weeks`` weeks, oldest first, this week included."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=i) for i in reversed(range(weeks))]


# --- demo sign-in ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoMember:
    """A member the demo sign-in offers."""

    tenant_slug: str
    tenant_name: str
    email: str
    name: str
    roles: str


def demo_tenants(session: Session) -> list[tuple[str, str]]:
    """``(slug, name)`` of the tenants people can sign in to (a Clerk organisation), by name.

    Runs in the provider (system) context, development only.
    """
    rows = session.execute(
        select(Tenant.slug, Tenant.name)
        .where(Tenant.deleted_at.is_(None), Tenant.clerk_organization_id.is_not(None),
               Tenant.status != "cancelled")
        .order_by(Tenant.name, Tenant.slug))
    return [(slug, name) for slug, name in rows]


def demo_members(session: Session, tenant_slug: str) -> list[DemoMember]:
    """The members of one tenant who can sign in (a Clerk user, not suspended), with their
    roles, in one query; provider (system) context, development only."""
    roles = (
        select(func.string_agg(Role.name, aggregate_order_by(literal(", "), Role.name)))
        .select_from(MemberRole)
        .join(Role, and_(Role.tenant_id == MemberRole.tenant_id, Role.id == MemberRole.role_id))
        .where(MemberRole.tenant_id == Member.tenant_id, MemberRole.member_id == Member.id,
               Role.deleted_at.is_(None))
        .scalar_subquery()
    )
    rows = session.execute(
        select(Tenant.slug, Tenant.name, Member.email, Member.first_name, Member.last_name,
               roles)
        .join(Tenant, Tenant.id == Member.tenant_id)
        .where(Tenant.slug == tenant_slug, Tenant.deleted_at.is_(None),
               Member.deleted_at.is_(None), Member.clerk_user_id.is_not(None),
               Member.status != "suspended")
        .order_by(Member.email))
    members = [DemoMember(slug, name, email, " ".join(n for n in (first, last) if n) or email,
                          role_names or "no role")
               for slug, name, email, first, last, role_names in rows]
    # The people who run the fleet first, drivers (portal users) last.
    return sorted(members, key=lambda m: min(
        (_ROLE_ORDER.index(r) if r in _ROLE_ORDER else len(_ROLE_ORDER))
        for r in m.roles.split(", ")))


_ROLE_ORDER = ("owner", "admin", "fleet_manager", "finance", "dispatcher", "viewer", "driver")


# --- revenue -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlatformLabel:
    """A ride-hailing platform as the revenue pages name and pick it."""

    id: uuid.UUID
    code: str
    name: str


def platform_labels(session: Session, *, ids: Collection[uuid.UUID] | None = None,
                    codes: Collection[str] | None = None) -> list[PlatformLabel]:
    """The platforms of ``ids`` (labels of a page's rows) or of ``codes`` (the platforms the
    report reader knows, for the selects), by name: one query on the global catalogue.

    Should become ``reference.service.platforms_by(ids=…, codes=…)``.
    """
    stmt = select(Platform.id, Platform.code, Platform.name).order_by(Platform.name,
                                                                      Platform.code)
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(Platform.id.in_(list(ids)))
    if codes is not None:
        if not codes:
            return []
        stmt = stmt.where(Platform.code.in_(list(codes)))
    return [PlatformLabel(*row) for row in session.execute(stmt)]


def account_drivers(session: Session, tenant_id: uuid.UUID, platform_id: uuid.UUID,
                    refs: Collection[str]) -> dict[str, uuid.UUID]:
    """The driver each live platform account of ``refs`` (external ids as normalised in
    report rows) is linked to now, in one query.

    An import's preview records the links it saw when it was validated (and the service
    refreshes the previews still waiting); a committed import's page shows today's links, so
    an account linked after the commit no longer offers to be linked. Should become
    ``trips.service.account_drivers(session, actor, platform_id, refs)``.
    """
    if not refs:
        return {}
    rows = session.execute(
        select(PlatformAccount.external_account_id, PlatformAccount.driver_id).where(
            PlatformAccount.tenant_id == tenant_id, PlatformAccount.platform_id == platform_id,
            PlatformAccount.deleted_at.is_(None), PlatformAccount.driver_id.is_not(None),
            PlatformAccount.external_account_id.in_(list(refs))))
    return {ref: driver for ref, driver in rows if driver is not None}


@dataclass(frozen=True, slots=True)
class ImportRowSource:
    """Where a settlement line's report row comes from: the import, its file and line."""

    row_id: uuid.UUID
    import_id: uuid.UUID
    file_name: str
    row_number: int
    external_trip_id: str | None
    description: str | None


def import_row_sources(session: Session, tenant_id: uuid.UUID,
                       row_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, ImportRowSource]:
    """The import, file and line number of each committed report row, in one query (a
    settlement line consumed as ``import_row:<id>`` links back to what the platform said).

    Should become ``revenue.service.row_sources(session, actor, row_ids)``.
    """
    if not row_ids:
        return {}
    rows = session.execute(
        select(ImportRow.id, ImportRow.import_id, RevenueImport.file_name, ImportRow.row_number,
               ImportRow.external_trip_id, ImportRow.description)
        .join(RevenueImport, and_(RevenueImport.tenant_id == ImportRow.tenant_id,
                                  RevenueImport.id == ImportRow.import_id))
        .where(ImportRow.tenant_id == tenant_id, ImportRow.id.in_(list(row_ids))))
    return {row[0]: ImportRowSource(*row) for row in rows}


@dataclass(frozen=True, slots=True)
class SettlementWeek:
    """The settlements of one tenant week in one currency, totalled."""

    period_start: datetime
    week: date
    currency: str
    settlements: int
    drafts: int
    confirmed: int
    drivers: int
    gross: Decimal
    commission: Decimal
    fleet_share: Decimal
    charges: Decimal
    adjustments: Decimal
    net: Decimal
    to_drivers: Decimal
    from_drivers: Decimal


def settlement_weeks(session: Session, tenant_id: uuid.UUID, timezone: str, *,
                     period_start: datetime | None = None,
                     weeks: int = 26) -> list[SettlementWeek]:
    """The last ``weeks`` weeks that have settlements (or only the week starting at
    ``period_start``), newest first, totalled per currency in one aggregate query: counts by
    status and the sums of the header totals, with ``net`` split into what the fleet pays its
    drivers and what drivers owe the fleet.

    Should become ``trips.settlement_service.week_totals(session, actor, …)``.
    """
    chosen = select(Settlement.period_start).where(Settlement.tenant_id == tenant_id)
    if period_start is not None:
        chosen = chosen.where(Settlement.period_start == period_start)
    recent = (chosen.distinct().order_by(Settlement.period_start.desc()).limit(weeks)
              .subquery())
    s = Settlement
    confirmed = s.status != SettlementStatus.DRAFT.value
    rows = session.execute(
        select(s.period_start,
               func.date(func.timezone(timezone, s.period_start)),
               s.currency, func.count(),
               func.count().filter(s.status == SettlementStatus.DRAFT.value),
               func.count().filter(confirmed),
               func.count(func.distinct(s.driver_id)),
               func.sum(s.gross), func.sum(s.commission), func.sum(s.fleet_share),
               func.sum(s.charges), func.sum(s.adjustments), func.sum(s.net),
               func.coalesce(func.sum(s.net).filter(s.net > 0), 0),
               func.coalesce(-func.sum(s.net).filter(s.net < 0), 0))
        .join(recent, recent.c.period_start == s.period_start)
        .where(s.tenant_id == tenant_id)
        .group_by(s.period_start, s.currency)
        .order_by(s.period_start.desc(), s.currency))
    return [SettlementWeek(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5]),
                           int(row[6]), *(Decimal(v) for v in row[7:]))
            for row in rows]
