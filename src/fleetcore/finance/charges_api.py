"""``/v1`` endpoints of toll transactions (entered or imported from operator statements) and
traffic fines (``docs/settlements.md``, "Tolls and fines")."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.deps import DbSession
from fleetcore.core.export import (
    Column,
    MoneyColumns,
    attribute_columns,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import PageParams
from fleetcore.core.resource import ResourceRoutes
from fleetcore.core.schemas import money_out
from fleetcore.core.versioning import RequiredIfMatch, etag
from fleetcore.finance import charges_service as service
from fleetcore.finance.charges_schemas import (
    FineAction,
    FineCreate,
    FineOut,
    ResolveOut,
    StatementFormatOut,
    StatementFormatsOut,
    TollCreate,
    TollDispute,
    TollImportOut,
    TollOut,
)
from fleetcore.finance.models import TollStatus, TollTransaction, TrafficFine, TrafficFineStatus
from fleetcore.finance.permissions import FinesRead, FinesWrite, TollsRead, TollsWrite
from fleetcore.finance.toll_statements import formats
from fleetcore.revenue.service import read_upload

router = APIRouter(prefix="/v1")
TOLLS: list[str | Enum] = ["toll-transactions"]
FINES: list[str | Enum] = ["traffic-fines"]


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def toll_out(row: TollTransaction, task_id: uuid.UUID | None = None) -> TollOut:
    """The API form of a toll charge."""
    amount = money_out(row.amount, row.currency)
    assert amount is not None
    return TollOut(
        id=row.id, vehicle_id=row.vehicle_id, driver_id=row.driver_id, operator=row.operator,
        gate=row.gate, plate=row.plate, occurred_at=row.occurred_at, amount=amount,
        source=row.source, trip_id=row.trip_id, status=row.status,
        external_reference=row.external_reference, task_id=task_id,
        created_at=row.created_at, updated_at=row.updated_at, version=row.version)


def fine_out(row: TrafficFine, task_id: uuid.UUID | None = None) -> FineOut:
    """The API form of a fine."""
    amount = money_out(row.amount, row.currency)
    assert amount is not None
    return FineOut(
        id=row.id, vehicle_id=row.vehicle_id, driver_id=row.driver_id,
        fine_reference=row.fine_reference, issuing_authority=row.issuing_authority,
        offence_type=row.offence_type, offence_at=row.offence_at,
        offence_place=row.offence_place, plate=row.plate, amount=amount, due_on=row.due_on,
        designation_deadline_on=row.designation_deadline_on, designated_at=row.designated_at,
        charged_at=row.charged_at, status=row.status, scan_document_id=row.scan_document_id,
        task_id=task_id,
        created_at=row.created_at, updated_at=row.updated_at, deleted_at=row.deleted_at,
        version=row.version)


# --- tolls -------------------------------------------------------------------------------------

PlateQuery = Annotated[str | None, Query(max_length=20, pattern=r"^[0-9A-Za-z -]*$",
                                         description="Part of the plate, as written anywhere.")]
TollStatusQuery = Annotated[TollStatus | None, Query(alias="status")]

_TOLL_COLUMNS: list[Column] = [
    *attribute_columns("id", "occurred_at", "plate", "vehicle_id", "driver_id", "operator",
                       "gate"),
    MoneyColumns("amount", lambda r: Money(r.amount, r.currency)),
    *attribute_columns("status", "source", "external_reference", "trip_id"),
]


def _toll_filter(toll_status: TollStatusQuery = None, vehicle_id: uuid.UUID | None = None,
                 driver_id: uuid.UUID | None = None, since: datetime | None = None,
                 until: datetime | None = None, plate: PlateQuery = None) -> service.TollFilter:
    return service.TollFilter(status=toll_status.value if toll_status else None,
                              vehicle_id=vehicle_id, driver_id=driver_id, since=since,
                              until=until, plate=plate)


TollFilterQuery = Annotated[service.TollFilter, Depends(_toll_filter)]


def _with_tasks(page_of: Callable[..., tuple[list[Any], str | None]], *, fines: bool
                ) -> Callable[..., tuple[list[tuple[Any, Any]], str | None]]:
    """A list page whose rows come with their open task (what :func:`toll_out` and
    :func:`fine_out` show): ``(row, task)`` pairs."""
    def page(session: Session, actor: Actor, params: PageParams,
             filters: Any) -> tuple[list[tuple[Any, Any]], str | None]:
        rows, cursor = page_of(session, actor, params, filters)
        tasks = service.open_tasks(session, actor.tenant_id, [r.id for r in rows],
                                   fines=fines) if actor.tenant_id else {}
        return [(r, tasks.get(r.id)) for r in rows], cursor

    return page


def _with_task(find: Callable[..., Any], *, fines: bool) -> Callable[..., tuple[Any, Any]]:
    """A service call that returns one toll or fine, returning it with its open task."""
    def call(session: Session, actor: Actor, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        row = find(session, actor, *args, **kwargs)
        return row, service.open_tasks(session, row.tenant_id, [row.id], fines=fines).get(row.id)

    return call


def _row(pair: tuple[Any, Any]) -> Any:
    return pair[0]


_tolls = ResourceRoutes(router, "toll-transactions", "toll_id", "toll", TOLLS, TollOut,
                        lambda pair: toll_out(*pair), TollsRead, TollsWrite, row_of=_row)
_tolls.listing("List toll charges, latest first", TollFilterQuery,
               _with_tasks(service.list_tolls, fines=False))
_tolls.export("Export the filtered toll charges as CSV (streamed)", TollFilterQuery,
              service.tolls_query, _TOLL_COLUMNS, "toll-transactions.csv",
              order_by=(TollTransaction.occurred_at.desc(), TollTransaction.id.desc()))


_tolls.create("Record a toll charge (resolved to the driver who had the vehicle)", TollCreate,
              _with_task(service.create_toll, fines=False))


@router.post(
    "/toll-transactions/imports", tags=TOLLS, status_code=status.HTTP_201_CREATED,
    summary="Import a toll-operator statement (CSV)",
    description=(
        "Reads the statement with the mapping of its format (detected from the header, or "
        "`format`; `GET /v1/toll-statement-formats`), stores each charge once (a statement "
        "imported again stores nothing new) and resolves each to the driver who had the vehicle "
        "at that minute. A charge nobody can be found for stays `unassigned` with a task. All or "
        "nothing: any refused line refuses the file (422, `errors[]` naming row, field, column "
        "and reason)."),
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
        "file": "bipandgo-2026-11.csv", "format": "bipandgo"}}}}},
)
def import_statement(
    actor: TollsWrite, session: DbSession,
    file: Annotated[UploadFile, File(description="The statement as the operator sent it.")],
    statement_format: Annotated[str | None, Form(
        alias="format", max_length=40, description="Detected from the header when absent.")]
    = None,
    currency: Annotated[str | None, Form(min_length=3, max_length=3, description=(
        "ISO 4217 currency of statements that carry none (default: the fleet's)."))] = None,
) -> TollImportOut:
    result = service.import_statement(
        session, actor, data=read_upload(file.file), file_name=file.filename or "statement",
        format_name=statement_format.strip().lower() if statement_format else None,
        currency=currency.upper() if currency else None)
    return TollImportOut(
        format=result.format, rows=result.rows, created=len(result.created),
        already_imported=result.already_imported, assigned=len(result.resolution.assigned),
        unassigned=len(result.resolution.unassigned), task_ids=result.resolution.task_ids,
        toll_ids=result.created)


@router.post("/toll-transactions/resolve", tags=TOLLS,
             summary="Resolve the unassigned charges again against the assignment history")
def resolve_tolls(actor: TollsWrite, session: DbSession) -> ResolveOut:
    result = service.resolve_unassigned(session, actor)
    return ResolveOut(assigned=len(result.assigned), still_unassigned=len(result.unassigned))


@router.get("/toll-statement-formats", tags=TOLLS,
            summary="The toll-operator statement formats the import reads")
def statement_formats(_: TollsRead) -> StatementFormatsOut:
    return StatementFormatsOut(formats=[StatementFormatOut(
        name=f.name, label=f.label, currency=f.currency, decimal_mark=f.decimal_mark,
        columns={c: list(h) for c, h in f.headers.items()}) for f in formats().values()])


_tolls.get("Get a toll charge", _with_task(service.get_toll, fines=False),
           include_deleted=False)


@router.post("/toll-transactions/{toll_id}/dispute", tags=TOLLS,
             summary="Dispute a toll charge (it is then never recharged)")
def dispute_toll(actor: TollsWrite, session: DbSession, if_match: RequiredIfMatch,
                 toll_id: uuid.UUID, data: TollDispute, response: Response) -> TollOut:
    toll = service.dispute_toll(session, actor, toll_id, reason=data.reason, if_match=if_match)
    _with_etag(response, toll.version)
    return toll_out(toll)


# --- fines -------------------------------------------------------------------------------------


class FineStep(BaseModel):
    """The driver a step names (designate, recharge); by default the one resolved."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002"}]})

    driver_id: uuid.UUID | None = None


FineStatusQuery = Annotated[TrafficFineStatus | None, Query(alias="status")]
DeadlineQuery = Annotated[date | None, Query(description="Designation deadline before this day.")]

_FINE_COLUMNS: list[Column] = [
    *attribute_columns("id", "fine_reference", "issuing_authority", "offence_type",
                       "offence_at", "offence_place", "plate", "vehicle_id", "driver_id"),
    MoneyColumns("amount", lambda r: Money(r.amount, r.currency)),
    *attribute_columns("due_on", "designation_deadline_on", "designated_at", "charged_at",
                       "status", "scan_document_id"),
]


def _fine_filter(fine_status: FineStatusQuery = None, vehicle_id: uuid.UUID | None = None,
                 driver_id: uuid.UUID | None = None, deadline_before: DeadlineQuery = None
                 ) -> service.FineFilter:
    return service.FineFilter(status=fine_status.value if fine_status else None,
                              vehicle_id=vehicle_id, driver_id=driver_id,
                              deadline_before=deadline_before)


FineFilterQuery = Annotated[service.FineFilter, Depends(_fine_filter)]
_fines = ResourceRoutes(router, "traffic-fines", "fine_id", "fine", FINES, FineOut,
                        lambda pair: fine_out(*pair), FinesRead, FinesWrite, row_of=_row)
_fines.listing("List traffic fines, latest offence first", FineFilterQuery,
               _with_tasks(service.list_fines, fines=True))
_fines.export("Export the filtered traffic fines as CSV (streamed)", FineFilterQuery,
              service.fines_query, _FINE_COLUMNS, "traffic-fines.csv",
              order_by=(TrafficFine.offence_at.desc(), TrafficFine.id.desc()))


_fines.create("Record a traffic fine from its notice (resolved to the driver who had the "
              "vehicle)", FineCreate, _with_task(service.create_fine, fines=True))
_fines.get("Get a traffic fine", _with_task(service.get_fine, fines=True), include_deleted=False)


_STEPS: dict[FineAction, str] = {
    FineAction.DESIGNATE: "Designate the driver (received → driver_designated): the driver who "
                          "had the vehicle at the offence, or `driver_id`. The driver then pays "
                          "the authority; nothing is recharged.",
    FineAction.PAY: "The fleet paid the authority (received/contested → paid); sets "
                    "`charged_at`, the week the recharge lands in when the terms recharge fines.",
    FineAction.CONTEST: "Contest the fine (received/driver_designated → contested).",
    FineAction.CANCEL: "Cancel the fine (received/contested/driver_designated → cancelled).",
    FineAction.RECHARGE: "Recharge a paid fine to the driver (paid → recharged); `driver_id` "
                         "names the driver when nobody was resolved.",
}


def _step_route(action: FineAction) -> None:
    """``POST /v1/traffic-fines/{fine_id}/<action>`` (If-Match), one route per step."""

    def step(actor: FinesWrite, session: DbSession, if_match: RequiredIfMatch,
             fine_id: uuid.UUID, response: Response, data: FineStep | None = None) -> FineOut:
        fine = service.transition_fine(session, actor, fine_id, action=action,
                                       driver_id=data.driver_id if data else None,
                                       if_match=if_match)
        _with_etag(response, fine.version)
        return fine_out(fine)

    step.__name__ = f"{action.value}_fine"
    router.add_api_route(
        f"/traffic-fines/{{fine_id}}/{action.value}", step, methods=["POST"], tags=FINES,
        summary=f"{action.value.capitalize()} a traffic fine", description=_STEPS[action],
        response_model=FineOut)


for _action in FineAction:
    _step_route(_action)
