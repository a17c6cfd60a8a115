"""``/v1`` reconciliations: run one for a platform and period, read the runs, list and export
their itemised discrepancies."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from fleetcore.core.deps import DbSession
from fleetcore.core.export import (
    Column,
    CsvColumn,
    MoneyColumns,
    attribute_columns,
    csv_response,
    csv_responses,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.revenue import reconciliation_service as service
from fleetcore.revenue.models import (
    Reconciliation,
    ReconciliationItem,
    ReconciliationItemKind,
    ReconciliationStatus,
)
from fleetcore.revenue.permissions import ReconciliationsRead, ReconciliationsWrite
from fleetcore.revenue.reconciliation_schemas import (
    ReconciliationCreate,
    ReconciliationItemOut,
    ReconciliationOut,
    detail_decimal,
    detail_time,
    detail_uuid,
    item_out,
    reconciliation_out,
)

router = APIRouter(prefix="/v1")
TAGS: list[Any] = ["reconciliations"]

ExternalTripId = Annotated[str | None, Query(max_length=255,
                                             description="Only this platform trip id.")]
Kind = Annotated[ReconciliationItemKind | None, Query(description="Only this kind.")]


@router.post(
    "/reconciliations", tags=TAGS, status_code=status.HTTP_201_CREATED,
    summary="Reconcile a platform's report with the trips of a period",
    description="Runs now and answers with the stored run: `completed` with its counts, drift "
    "and items, or `failed` with the database's error. Rows or trips of the period in another "
    "currency than the tolerance's are refused (422, nothing stored). Every call is a new run; "
    "earlier runs stay.")
def create_reconciliation(actor: ReconciliationsWrite, session: DbSession,
                          data: ReconciliationCreate, response: Response) -> ReconciliationOut:
    run = service.reconcile_period(
        session, actor, platform_id=data.platform_id, period_start=data.period_start,
        period_end=data.period_end, import_id=data.import_id, tolerance=data.tolerance.to_money())
    response.headers["Location"] = f"/v1/reconciliations/{run.id}"
    return reconciliation_out(run)


def _run_filter(
    platform_id: uuid.UUID | None = None, import_id: uuid.UUID | None = None,
    run_status: Annotated[ReconciliationStatus | None, Query(alias="status")] = None,
    period_since: Annotated[AwareDatetime | None,
                            Query(description="Periods starting at or after.")] = None,
    period_until: Annotated[AwareDatetime | None,
                            Query(description="Periods starting before.")] = None,
) -> service.ReconciliationFilter:
    return service.ReconciliationFilter(
        platform_id=platform_id, import_id=import_id,
        status=run_status.value if run_status else None, period_since=period_since,
        period_until=period_until)


RunFilter = Annotated[service.ReconciliationFilter, Depends(_run_filter)]


@router.get("/reconciliations", tags=TAGS, summary="List reconciliation runs, newest first")
def list_reconciliations(actor: ReconciliationsRead, session: DbSession, page: Pagination,
                         spec: RunFilter) -> Page[ReconciliationOut]:
    rows, cursor = service.list_reconciliations(session, actor, page, spec)
    return Page(items=[reconciliation_out(r) for r in rows], next_cursor=cursor)


def _run_money(name: str, column: str) -> MoneyColumns:
    return MoneyColumns(name, lambda r: Money(getattr(r, column), r.currency))


_RUN_CSV: list[Column] = [
    *attribute_columns("id", "platform_id", "import_id", "period_start", "period_end",
                       "status"),
    _run_money("tolerance", "tolerance_amount"),
    *attribute_columns("matched_count", "missing_internal_count", "missing_platform_count",
                       "fare_mismatch_count", "commission_mismatch_count",
                       "cash_mismatch_count", "gps_mismatch_count", "outside_shift_count"),
    _run_money("amount_discrepancy", "amount_discrepancy"),
    *attribute_columns("run_by", "started_at", "finished_at", "error"),
]


@router.get("/reconciliations/export.csv", tags=TAGS,
            summary="Export the filtered reconciliation runs as CSV, newest first",
            response_class=StreamingResponse, responses=csv_responses(_RUN_CSV))
def export_reconciliations(actor: ReconciliationsRead, session: DbSession,
                           spec: RunFilter) -> StreamingResponse:
    stmt = service.reconciliations_query(actor, spec).order_by(Reconciliation.id.desc())
    return csv_response(session, stmt, _RUN_CSV, filename="reconciliations.csv")


@router.get("/reconciliations/{reconciliation_id}", tags=TAGS,
            summary="Get a reconciliation run and its totals")
def get_reconciliation(actor: ReconciliationsRead, session: DbSession,
                       reconciliation_id: uuid.UUID) -> ReconciliationOut:
    return reconciliation_out(service.get_reconciliation(session, actor, reconciliation_id))


@router.get("/reconciliations/{reconciliation_id}/items", tags=TAGS,
            summary="List a run's discrepancies, by kind")
def list_items(
    actor: ReconciliationsRead, session: DbSession, page: Pagination,
    reconciliation_id: uuid.UUID, kind: Kind = None, external_trip_id: ExternalTripId = None,
) -> Page[ReconciliationItemOut]:
    spec = service.ItemFilter(kind=kind.value if kind else None,
                              external_trip_id=external_trip_id)
    rows, cursor = service.list_items(session, actor, reconciliation_id, page, spec)
    return Page(items=[item_out(i) for i in rows], next_cursor=cursor)


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return Money(amount, currency) if amount is not None else None


def _detail_money(key: str) -> MoneyColumns:
    return MoneyColumns(key, lambda i: _money(detail_decimal(i.details, key), i.currency))


_ITEM_CSV: list[Column] = [
    *attribute_columns("id", "kind", "external_trip_id", "trip_id", "import_row_id"),
    MoneyColumns("report_amount", lambda i: _money(i.report_amount, i.currency)),
    MoneyColumns("internal_amount", lambda i: _money(i.internal_amount, i.currency)),
    MoneyColumns("difference", lambda i: _money(i.difference, i.currency)),
    CsvColumn("driver_id", lambda i: detail_uuid(i.details, "driver_id")),
    CsvColumn("report_rows", lambda i: i.details.get("report_rows")),
    CsvColumn("trip_at", lambda i: detail_time(i.details, "trip_at")),
    CsvColumn("trip_outside_period", lambda i: bool(i.details.get("trip_outside_period"))),
    *(_detail_money(k) for k in ("report_fare", "internal_fare", "report_commission",
                                 "internal_commission", "report_cash", "internal_cash")),
    CsvColumn("vehicle_id", lambda i: detail_uuid(i.details, "vehicle_id")),
    CsvColumn("reason", lambda i: i.details.get("reason")),
]


@router.get("/reconciliations/{reconciliation_id}/items/export.csv", tags=TAGS,
            summary="Export a run's discrepancies as CSV, by kind (same filters)",
            response_class=StreamingResponse, responses=csv_responses(_ITEM_CSV))
def export_items(
    actor: ReconciliationsRead, session: DbSession, reconciliation_id: uuid.UUID,
    kind: Kind = None, external_trip_id: ExternalTripId = None,
) -> StreamingResponse:
    run = service.get_reconciliation(session, actor, reconciliation_id)
    spec = service.ItemFilter(kind=kind.value if kind else None,
                              external_trip_id=external_trip_id)
    stmt = service.items_query(actor, run.id, spec).order_by(ReconciliationItem.kind,
                                                             ReconciliationItem.id)
    return csv_response(session, stmt, _ITEM_CSV,
                        filename=f"reconciliation-{run.id}-items.csv")
