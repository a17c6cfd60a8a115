"""Tolls and traffic fines: entered or imported, each resolved to the driver who had the vehicle
at that minute (workflows.md Finance 3).

* **Who had the car.** A charge names a plate (or a vehicle); the plate is matched to the
  fleet's vehicles by its letters and digits (``AB-123-CD`` = ``ab 123 cd``), then the driver is
  the one whose assignment covers the instant: ``starts_at <= t < ends_at`` (custody is
  minute-level and half-open, so a charge at the handover minute is the incoming driver's).
  One statement resolves any number of charges: resolution is set-based, never a query per row.
* **Unassignable charges** (unknown plate, nobody had the car) stay ``unassigned`` and each
  gets a system task about it (``toll_unassigned:<id>``, ``fine_unassigned:<id>``): the manager
  fixes the cause (adds the vehicle, records the missing assignment) and asks for resolution
  again, which closes the tasks of the charges it assigns.
* **Statements** (``toll_statements``) are stored atomically: a file with any refused line
  writes nothing (422 naming each row and field); a statement imported again stores each charge
  once (``external_reference`` is unique per tenant).
* **Fines** follow ``received → driver_designated | paid | contested | cancelled``,
  ``contested → paid | cancelled``, ``paid → recharged``; every step takes If-Match. The legal
  designation deadline is reminded by the reminder job (``admin/reminders.py``, ``FINES``).
* **Recharges** become lines of the driver's driver-level settlement through
  ``trips/settlement_service.py`` (``toll:<id>``, ``fine:<id>``; ``docs/settlements.md``): a
  toll in the week of its passage, a fine in the week it is charged (``charged_at``, set when
  it is paid), both only when the driver's terms recharge them.

Services flush, never commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.orm import UUID7_SQL
from fleetcore.core.pagination import equal_filters, range_filter
from fleetcore.core.resource import Rows, pager
from fleetcore.core.versioning import check_if_match
from fleetcore.documents.models import Document
from fleetcore.drivers.models import Driver
from fleetcore.finance.charges_schemas import FineAction, FineCreate, TollCreate
from fleetcore.finance.models import (
    TollSource,
    TollStatus,
    TollTransaction,
    TrafficFine,
    TrafficFineStatus,
)
from fleetcore.finance.toll_statements import Statement, read_statement
from fleetcore.fleet.models import Vehicle
from fleetcore.revenue.reports.model import UnreadableReport
from fleetcore.trips.models import Trip

TOLL_TASK = "toll_unassigned"
FINE_TASK = "fine_unassigned"
_rows = Rows()
"""Reads of tolls and fines (404 naming what is missing)."""

_CONSTRAINTS: dict[str, ConstraintProblem] = {
    "uq_fin_toll_transactions_tenant_id_external_reference": ConstraintProblem(
        "external_reference", "Another toll charge already has this external_reference."),
    "uq_fin_traffic_fines_tenant_id_fine_reference_live": ConstraintProblem(
        "fine_reference", "Another fine already has this fine_reference."),
}


def _invalid(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _require(session: Session, tenant: uuid.UUID, model: type[Any], row_id: uuid.UUID | None,
             field: str, what: str) -> None:
    """A body's reference names a live row of the tenant; else 422 naming ``field``."""
    if row_id is None:
        return
    stmt = select(model.id).where(model.tenant_id == tenant, model.id == row_id)
    if hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))
    if session.scalar(stmt) is None:
        raise _invalid(field, f"no such {what}")


def _flush(session: Session, row: Any) -> None:
    flush_checked(session, _CONSTRAINTS)
    session.refresh(row)


# --- who had the vehicle at that minute -------------------------------------------------------

_PLATE_KEY_SQL = "regexp_replace(upper({col}), '[^0-9A-Z]', '', 'g')"

_PLATES = f"""
    plates AS (
      -- The fleet's plates by letters and digits: a live vehicle before a deleted one that
      -- once had the plate. Joined by hash with the charges, never looked up per charge.
      SELECT DISTINCT ON (k.key) k.key, k.id FROM (
        SELECT {_PLATE_KEY_SQL.format(col="v.licence_plate")} AS key, v.id, v.deleted_at
          FROM flt_vehicles v WHERE v.tenant_id = :t) k
       ORDER BY k.key, k.deleted_at NULLS FIRST, k.id)"""

_CUSTODY = """
        LEFT JOIN flt_vehicle_assignments a
          ON a.tenant_id = :t AND a.vehicle_id = {vehicle} AND a.deleted_at IS NULL
         AND a.status <> 'cancelled' AND a.starts_at <= {at}
         AND (a.ends_at IS NULL OR a.ends_at > {at})"""
"""Who had the vehicle at that instant: ``[starts_at, ends_at)``, so the handover minute is the
incoming driver's; at most one row (the exclusion constraint of assignments)."""

_RESOLVE = f"""
    WITH {_PLATES},
    src AS (
      SELECT o.id, o.{{at}} AS at, coalesce(o.vehicle_id, p.id) AS vehicle_id
        FROM {{table}} o
        LEFT JOIN plates p
          ON o.vehicle_id IS NULL AND p.key = {_PLATE_KEY_SQL.format(col="o.plate")}
       WHERE o.tenant_id = :t AND o.id = ANY(CAST(:ids AS uuid[])) AND {{pending}}),
    who AS (
      SELECT s.id, s.vehicle_id, a.driver_id
        FROM src s {_CUSTODY.format(vehicle="s.vehicle_id", at="s.at")})
    UPDATE {{table}} o
       SET vehicle_id = w.vehicle_id, driver_id = w.driver_id{{status}}
      FROM who w
     WHERE o.tenant_id = :t AND o.id = w.id
    RETURNING o.id, o.driver_id"""

_RESOLVE_TOLLS = text(_RESOLVE.format(
    table="fin_toll_transactions", at="occurred_at", pending="o.status = 'unassigned'",
    status=", status = CASE WHEN w.driver_id IS NULL THEN 'unassigned' ELSE 'assigned' END"))
_RESOLVE_FINES = text(_RESOLVE.format(
    table="fin_traffic_fines", at="offence_at",
    pending="o.status = 'received' AND o.deleted_at IS NULL", status=""))

_TASKS = """
    INSERT INTO sch_tasks (tenant_id, id, title, description, task_type, related_entity_type,
                           related_entity_id, priority, due_at, status, source, dedup_key)
    SELECT o.tenant_id, {uuid7}, {title},
           CASE WHEN o.vehicle_id IS NULL
                THEN 'No vehicle of the fleet has the plate ' || coalesce(o.plate, '?')
                     || ': add the vehicle (or correct the plate), then resolve again.'
                ELSE 'Nobody was assigned the vehicle at that time: record the assignment '
                     || 'it was driven under, then resolve again.' END,
           'other', '{entity}', o.id, {priority}, {due}, 'open', 'system',
           '{key}:' || o.id::text
      FROM {table} o
     WHERE o.tenant_id = :t AND o.id = ANY(CAST(:ids AS uuid[])) AND o.driver_id IS NULL
    ON CONFLICT (tenant_id, dedup_key) WHERE deleted_at IS NULL DO NOTHING
    RETURNING id"""

_TOLL_TASKS = text(_TASKS.format(
    uuid7=UUID7_SQL, entity="toll_transaction", key=TOLL_TASK, table="fin_toll_transactions",
    priority="'normal'", due="NULL::timestamptz",
    title="""'Find who had ' || coalesce(o.plate, 'the vehicle') || ' on '
             || to_char(o.occurred_at AT TIME ZONE :tz, 'YYYY-MM-DD HH24:MI')
             || ' (toll ' || o.amount::numeric(18, 2) || ' ' || o.currency
             || coalesce(', ' || o.operator, '') || ')'"""))
_FINE_TASKS = text(_TASKS.format(
    uuid7=UUID7_SQL, entity="traffic_fine", key=FINE_TASK, table="fin_traffic_fines",
    priority="'high'",
    due="(o.designation_deadline_on::timestamp AT TIME ZONE :tz)",
    title="""'Find who had ' || coalesce(o.plate, 'the vehicle') || ' on '
             || to_char(o.offence_at AT TIME ZONE :tz, 'YYYY-MM-DD HH24:MI')
             || ' (fine ' || o.fine_reference || ')'"""))

_CLOSE_TASKS = text("""
    UPDATE sch_tasks SET status = 'done', completed_at = now()
     WHERE tenant_id = :t AND deleted_at IS NULL AND dedup_key = ANY(CAST(:keys AS text[]))
       AND status IN ('open', 'in_progress', 'blocked')""")


def _zone(session: Session, tenant: uuid.UUID) -> tuple[str, str, str]:
    """The tenant's time zone, country and default currency."""
    row = session.execute(select(Tenant.timezone, Tenant.country, Tenant.default_currency)
                          .where(Tenant.id == tenant)).one()
    return row[0], row[1], row[2]


@dataclass(frozen=True, slots=True)
class Resolution:
    assigned: list[uuid.UUID]
    unassigned: list[uuid.UUID]
    task_ids: list[uuid.UUID]


def _resolved(session: Session, tenant: uuid.UUID, rows: Sequence[Any], *,
              fines: bool, close: bool = True) -> Resolution:
    """Open a task for each charge of ``rows`` (``id, driver_id``) nobody had the vehicle for,
    and (``close``) close the tasks of those now assigned."""
    assigned = [r.id for r in rows if r.driver_id is not None]
    unassigned = [r.id for r in rows if r.driver_id is None]
    tasks: list[uuid.UUID] = []
    if unassigned:
        tasks = list(session.execute(_FINE_TASKS if fines else _TOLL_TASKS, {
            "t": tenant, "ids": unassigned, "tz": _zone(session, tenant)[0]}).scalars())
    if assigned and close:
        key = FINE_TASK if fines else TOLL_TASK
        session.execute(_CLOSE_TASKS, {"t": tenant, "keys": [f"{key}:{i}" for i in assigned]})
    session.expire_all()
    return Resolution(assigned, unassigned, tasks)


def _resolve(session: Session, tenant: uuid.UUID, ids: Sequence[uuid.UUID], *,
             fines: bool) -> Resolution:
    """Resolve the stored charges ``ids`` to their drivers (one statement), with their tasks."""
    if not ids:
        return Resolution([], [], [])
    rows = session.execute(_RESOLVE_FINES if fines else _RESOLVE_TOLLS,
                           {"t": tenant, "ids": list(ids)}).all()
    return _resolved(session, tenant, rows, fines=fines)


def open_tasks(session: Session, tenant: uuid.UUID, ids: Iterable[uuid.UUID], *,
               fines: bool) -> dict[uuid.UUID, uuid.UUID]:
    """The open system task of each charge that has one (one query for a page of charges)."""
    key = FINE_TASK if fines else TOLL_TASK
    keys = [f"{key}:{i}" for i in ids]
    if not keys:
        return {}
    rows = session.execute(text(
        "SELECT related_entity_id, id FROM sch_tasks WHERE tenant_id = :t"
        " AND deleted_at IS NULL AND dedup_key = ANY(CAST(:keys AS text[]))"
        " AND status IN ('open', 'in_progress', 'blocked')"), {"t": tenant, "keys": keys})
    return {r[0]: r[1] for r in rows}


# --- tolls -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TollFilter:
    status: str | None = None
    vehicle_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    plate: str | None = None


def tolls_query(actor: Actor, filters: TollFilter) -> Select[Any]:
    """The filtered toll charges of the tenant (list and export)."""
    stmt = equal_filters(
        select(TollTransaction).where(TollTransaction.tenant_id == tenant_of(actor)),
        {TollTransaction.status: filters.status, TollTransaction.vehicle_id: filters.vehicle_id,
         TollTransaction.driver_id: filters.driver_id})
    stmt = range_filter(stmt, TollTransaction.occurred_at, since=filters.since,
                        until=filters.until)
    if filters.plate:
        key = "".join(ch for ch in filters.plate.upper() if ch.isalnum())
        stmt = stmt.where(text(_PLATE_KEY_SQL.format(col="fin_toll_transactions.plate")
                               + " LIKE :plate_key").bindparams(plate_key=f"%{key}%"))
    return stmt


list_tolls = pager(tolls_query, TollTransaction.occurred_at, TollTransaction.id,
                   descending=True, doc="Toll charges, latest first.")
get_toll = _rows.getter(TollTransaction, "toll charge")


def _plate(session: Session, tenant: uuid.UUID, vehicle_id: uuid.UUID | None,
           plate: str | None) -> str | None:
    """The plate a charge is for: as given, else the named vehicle's (422 naming
    ``vehicle_id`` when the tenant has no such vehicle)."""
    if vehicle_id is None:
        return plate
    vehicle = session.scalar(select(Vehicle).where(Vehicle.tenant_id == tenant,
                                                   Vehicle.id == vehicle_id))
    if vehicle is None:
        raise _invalid("vehicle_id", "no such vehicle")
    return plate or vehicle.licence_plate


def create_toll(session: Session, actor: Actor, *, data: TollCreate) -> TollTransaction:
    """A toll charge entered by hand, resolved to the driver who had the vehicle then."""
    tenant = tenant_of(actor)
    _require(session, tenant, Trip, data.trip_id, "trip_id", "trip")
    plate = _plate(session, tenant, data.vehicle_id, data.plate)
    toll = TollTransaction(
        tenant_id=tenant, vehicle_id=data.vehicle_id, plate=plate.upper() if plate else None,
        operator=data.operator, gate=data.gate, occurred_at=data.occurred_at,
        amount=data.amount.to_money().amount, currency=data.amount.currency,
        source=TollSource.MANUAL.value, trip_id=data.trip_id,
        status=TollStatus.UNASSIGNED.value, external_reference=data.external_reference,
        created_by=actor.id, updated_by=actor.id)
    session.add(toll)
    flush_checked(session, _CONSTRAINTS)
    _resolve(session, tenant, [toll.id], fines=False)
    return get_toll(session, actor, toll.id)


@dataclass(frozen=True, slots=True)
class ImportResult:
    format: str
    rows: int
    created: list[uuid.UUID]
    already_imported: int
    resolution: Resolution


_INSERT_CHARGES = text(f"""
    WITH {_PLATES},
    c AS (
      SELECT * FROM jsonb_to_recordset(CAST(:charges AS jsonb)) AS c(
             row int, plate text, operator text, gate text, occurred_at timestamptz,
             amount numeric, currency text, external_reference text)),
    who AS (
      -- Resolved as they are inserted: one write per charge (and one audit row), no update.
      SELECT c.*, p.id AS vehicle_id, a.driver_id
        FROM c
        LEFT JOIN plates p ON p.key = {_PLATE_KEY_SQL.format(col="c.plate")}
        {_CUSTODY.format(vehicle="p.id", at="c.occurred_at")})
    INSERT INTO fin_toll_transactions (tenant_id, id, vehicle_id, driver_id, plate, operator,
                                       gate, occurred_at, amount, currency, source, status,
                                       external_reference, created_by, updated_by, metadata)
    SELECT :t, {UUID7_SQL}, w.vehicle_id, w.driver_id, w.plate, w.operator, w.gate,
           w.occurred_at, w.amount, w.currency, 'import',
           CASE WHEN w.driver_id IS NULL THEN 'unassigned' ELSE 'assigned' END,
           w.external_reference, :actor, :actor,
           jsonb_build_object('statement_format', CAST(:format AS text),
                              'statement_file', CAST(:file AS text), 'row', w.row)
      FROM who w
     ORDER BY w.row
    ON CONFLICT (tenant_id, external_reference) DO NOTHING
    RETURNING id, driver_id""")


def _row_problem(statement: Statement) -> ValidationProblem:
    errors = [e.as_problem() for e in statement.errors[:200]]
    first = statement.errors[0]
    more = len(statement.errors) - 1
    return ValidationProblem(
        f"row {first.row}, {first.field} ({first.column}): {first.message}"
        + (f"; and {more} more refused value{'s' if more > 1 else ''}" if more else "")
        + ". Nothing was imported.", errors=errors, rows_refused=len(
            {e.row for e in statement.errors}))


def import_statement(session: Session, actor: Actor, *, data: bytes, file_name: str,
                     format_name: str | None, currency: str | None) -> ImportResult:
    """Store every charge of a toll-operator statement once, resolved to drivers.

    All or nothing: any refused line refuses the file (422 listing each row and field).
    """
    tenant = tenant_of(actor)
    timezone, country, default_currency = _zone(session, tenant)
    try:
        statement = read_statement(data, format_name=format_name,
                                   currency=currency or default_currency, timezone=timezone,
                                   region=country)
    except UnreadableReport as exc:
        raise ValidationProblem(f"The statement cannot be read: {exc.reason}.", errors=[
            {"field": "file", "message": exc.reason}]) from exc
    if statement.errors:
        raise _row_problem(statement)
    payload = [{"row": c.row, "plate": c.plate, "operator": c.operator, "gate": c.gate,
                "occurred_at": c.occurred_at.isoformat(), "amount": str(c.amount),
                "currency": c.currency, "external_reference": c.external_reference}
               for c in statement.charges]
    rows = session.execute(_INSERT_CHARGES, {
        "t": tenant, "actor": actor.id, "format": statement.format.name,
        "file": file_name[:200], "charges": json.dumps(payload)}).all()
    resolution = _resolved(session, tenant, rows, fines=False, close=False)  # new rows
    created = [r.id for r in rows]
    return ImportResult(statement.format.name, len(statement.charges), created,
                        len(statement.charges) - len(created), resolution)


def resolve_unassigned(session: Session, actor: Actor) -> Resolution:
    """Try every unassigned charge again (after adding a vehicle or a missing assignment)."""
    tenant = tenant_of(actor)
    ids = list(session.scalars(select(TollTransaction.id).where(
        TollTransaction.tenant_id == tenant,
        TollTransaction.status == TollStatus.UNASSIGNED.value)))
    return _resolve(session, tenant, ids, fines=False)


def dispute_toll(session: Session, actor: Actor, toll_id: uuid.UUID, *, reason: str,
                 if_match: str | None) -> TollTransaction:
    """Set a charge aside (a wrong plate read, a car in the garage): it is not recharged."""
    toll = get_toll(session, actor, toll_id, lock=True)
    check_if_match(if_match, toll.version)
    if toll.status not in (TollStatus.UNASSIGNED.value, TollStatus.ASSIGNED.value):
        raise Conflict(f"A {toll.status} toll charge cannot be disputed.", errors=[
            {"field": "status", "message": f"is {toll.status}"}])
    toll.status = TollStatus.DISPUTED.value
    toll.extra = {**(toll.extra or {}), "dispute_reason": reason}
    toll.updated_by = actor.id
    _flush(session, toll)
    return toll


# --- fines -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FineFilter:
    status: str | None = None
    vehicle_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    deadline_before: Any = None
    include_deleted: bool = False


def fines_query(actor: Actor, filters: FineFilter) -> Select[Any]:
    """The filtered fines of the tenant."""
    stmt = select(TrafficFine).where(TrafficFine.tenant_id == tenant_of(actor))
    if not filters.include_deleted:
        stmt = stmt.where(TrafficFine.deleted_at.is_(None))
    stmt = equal_filters(stmt, {TrafficFine.status: filters.status,
                                TrafficFine.vehicle_id: filters.vehicle_id,
                                TrafficFine.driver_id: filters.driver_id})
    if filters.deadline_before is not None:
        stmt = stmt.where(TrafficFine.designation_deadline_on < filters.deadline_before)
    return stmt


list_fines = pager(fines_query, TrafficFine.offence_at, TrafficFine.id, descending=True,
                   doc="Fines, latest offence first.")
get_fine = _rows.getter(TrafficFine, "fine")


def create_fine(session: Session, actor: Actor, *, data: FineCreate) -> TrafficFine:
    """A fine as its notice says, resolved to the driver who had the vehicle at the offence
    (``received``: designating that driver is a separate, deliberate step)."""
    tenant = tenant_of(actor)
    _require(session, tenant, Document, data.scan_document_id, "scan_document_id", "document")
    plate = _plate(session, tenant, data.vehicle_id, data.plate)
    fine = TrafficFine(
        tenant_id=tenant, vehicle_id=data.vehicle_id, fine_reference=data.fine_reference,
        issuing_authority=data.issuing_authority, offence_type=data.offence_type,
        offence_at=data.offence_at, offence_place=data.offence_place,
        plate=plate.upper() if plate else None, amount=data.amount.to_money().amount,
        currency=data.amount.currency, due_on=data.due_on,
        designation_deadline_on=data.designation_deadline_on,
        status=TrafficFineStatus.RECEIVED.value, scan_document_id=data.scan_document_id,
        created_by=actor.id, updated_by=actor.id)
    session.add(fine)
    flush_checked(session, _CONSTRAINTS)
    _resolve(session, tenant, [fine.id], fines=True)
    return get_fine(session, actor, fine.id)


_FINE_STEPS: dict[FineAction, tuple[tuple[str, ...], TrafficFineStatus]] = {
    FineAction.DESIGNATE: (("received",), TrafficFineStatus.DRIVER_DESIGNATED),
    FineAction.PAY: (("received", "contested"), TrafficFineStatus.PAID),
    FineAction.CONTEST: (("received", "driver_designated"), TrafficFineStatus.CONTESTED),
    FineAction.CANCEL: (("received", "contested", "driver_designated"),
                        TrafficFineStatus.CANCELLED),
    FineAction.RECHARGE: (("paid",), TrafficFineStatus.RECHARGED),
}
"""From which states each step goes, and where to."""


def transition_fine(session: Session, actor: Actor, fine_id: uuid.UUID, *, action: FineAction,
                    driver_id: uuid.UUID | None, if_match: str | None) -> TrafficFine:
    """One step of the fine's life (If-Match); 409 naming the state when it is not allowed."""
    tenant = tenant_of(actor)
    fine = get_fine(session, actor, fine_id, lock=True)
    check_if_match(if_match, fine.version)
    sources, target = _FINE_STEPS[action]
    if fine.status not in sources:
        raise Conflict(f"A {fine.status.replace('_', ' ')} fine cannot be {action.value}d "
                       f"(allowed from: {', '.join(sources)}).",
                       errors=[{"field": "action", "message": f"not allowed from {fine.status}"}])
    if driver_id is not None:
        _require(session, tenant, Driver, driver_id, "driver_id", "driver")
        fine.driver_id = driver_id
    if action in (FineAction.DESIGNATE, FineAction.RECHARGE) and fine.driver_id is None:
        raise _invalid("driver_id", "nobody had the vehicle at the offence as far as the "
                                    "assignments say: name the driver")
    fine.status = target.value
    if action is FineAction.DESIGNATE:
        fine.designated_at = datetime.now(UTC)
    if action in (FineAction.PAY, FineAction.RECHARGE) and fine.charged_at is None:
        # The week the recharge lands in (trips/settlement_service.py, fine_lines).
        fine.charged_at = datetime.now(UTC)
    fine.updated_by = actor.id
    _flush(session, fine)
    if fine.driver_id is not None or action is FineAction.CANCEL:
        session.execute(_CLOSE_TASKS, {"t": tenant, "keys": [f"{FINE_TASK}:{fine.id}"]})
    return fine


def attach_scan(session: Session, actor: Actor, fine_id: uuid.UUID,
                document_id: uuid.UUID) -> TrafficFine:
    """Link the scan of the notice, uploaded after the fine was recorded (the console uploads
    it as a document of the fine in the same transaction as the fine itself)."""
    fine = get_fine(session, actor, fine_id, lock=True)
    _require(session, tenant_of(actor), Document, document_id, "scan_document_id", "document")
    fine.scan_document_id = document_id
    fine.updated_by = actor.id
    _flush(session, fine)
    return fine
