"""``/v1/settlements``: compute a week's drafts, read settlements and their lines, add manual
adjustments to a draft, confirm it (``If-Match`` required: one confirms what one has seen)."""

from __future__ import annotations

import uuid
from datetime import date
from enum import Enum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from fleetcore.core.deps import DbSession
from fleetcore.core.export import Column, CsvColumn, MoneyColumns, csv_response, csv_responses
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.schemas import money_out
from fleetcore.core.versioning import RequiredIfMatch, etag, if_match_version
from fleetcore.trips import settlement_service as service
from fleetcore.trips.models import (
    Settlement,
    SettlementLine,
    SettlementLineType,
    SettlementStatus,
)
from fleetcore.trips.permissions import SettlementsConfirm, SettlementsRead, SettlementsWrite
from fleetcore.trips.settlement_schemas import (
    AdjustmentCreate,
    BulkRefusal,
    BulkSkipped,
    BulkTotal,
    SettlementBulkConfirm,
    SettlementBulkConfirmOut,
    SettlementCompute,
    SettlementComputeOut,
    SettlementConfirm,
    SettlementFilter,
    SettlementLineOut,
    SettlementOut,
    SettlementSort,
    Week,
)

router = APIRouter(prefix="/v1")

TAGS: list[str | Enum] = ["settlements"]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such settlement in this tenant."},
    409: {"description": "The settlement is not a draft, a source is already settled, or it "
                         "needs terms and no decision to confirm without them was given."},
    412: {"description": "The settlement changed since it was read."},
}


def _out(row: Settlement, zone: ZoneInfo) -> SettlementOut:
    return SettlementOut.of(row, row.period_start.astimezone(zone).date())


def _filter(
    driver_id: uuid.UUID | None, platform_id: uuid.UUID | None, driver_level: bool | None,
    settlement_status: SettlementStatus | None, period_from: date | None,
    period_to: date | None, sort: SettlementSort,
) -> SettlementFilter:
    return SettlementFilter(
        driver_id=driver_id, platform_id=platform_id, driver_level=driver_level,
        status=settlement_status.value if settlement_status else None,
        period_from=period_from, period_to=period_to, sort=sort)


DriverLevel = Annotated[bool | None, Query(
    description="true: only driver-level settlements (rent, recharges); false: only platform "
                "ones.")]
Status = Annotated[SettlementStatus | None, Query(alias="status")]
PeriodFrom = Annotated[Week | None, Query(
    description="Weeks from the one holding this local day on.")]
PeriodTo = Annotated[Week | None, Query(
    description="Weeks up to the one holding this local day.")]


@router.post("/settlements/compute", tags=TAGS,
             summary="(Re)compute the draft settlements of a week",
             responses={422: {"description": "An unknown driver, or a bad week."}})
def compute_settlements(
    actor: SettlementsWrite, session: DbSession, data: SettlementCompute,
) -> SettlementComputeOut:
    """Drafts of the week are replaced (their manual adjustments kept); confirmed and paid
    settlements are never touched; rows of the week already settled land in the next open
    week."""
    outcome = service.compute_week(session, actor, period=data.week, driver_ids=data.driver_ids)
    zone = service.tenant_zone(session, actor)
    return SettlementComputeOut(
        period_start=outcome.period.start, period_end=outcome.period.end,
        period_first_day=outcome.period.first_day,
        settlements=[_out(s, zone) for s in outcome.settlements],
        unlinked_rows=outcome.unlinked_rows, other_currency_rows=outcome.other_currency_rows,
        settlements_needing_terms=sum(s.needs_terms for s in outcome.settlements))


@router.get("/settlements", tags=TAGS, summary="List settlements")
def list_settlements(
    actor: SettlementsRead, session: DbSession, page: Pagination,
    driver_id: uuid.UUID | None = None, platform_id: uuid.UUID | None = None,
    driver_level: DriverLevel = None, settlement_status: Status = None,
    period_from: PeriodFrom = None, period_to: PeriodTo = None,
    sort: SettlementSort = SettlementSort.PERIOD_DESC,
) -> Page[SettlementOut]:
    spec = _filter(driver_id, platform_id, driver_level, settlement_status, period_from,
                   period_to, sort)
    rows, cursor = service.list_settlements(session, actor, page, spec)
    zone = service.tenant_zone(session, actor)
    return Page(items=[_out(r, zone) for r in rows], next_cursor=cursor)


def _money(name: str) -> MoneyColumns:
    def read(row: Settlement) -> Money:
        return Money(getattr(row, name), row.currency)

    return MoneyColumns(name, read)


_CSV: list[Column] = [
    CsvColumn("id", lambda s: s.id),
    CsvColumn("driver_id", lambda s: s.driver_id),
    CsvColumn("platform_id", lambda s: s.platform_id),
    CsvColumn("period_start", lambda s: s.period_start),
    CsvColumn("period_end", lambda s: s.period_end),
    CsvColumn("status", lambda s: s.status),
    CsvColumn("payout_receiver", lambda s: s.payout_receiver),
    CsvColumn("trip_count", lambda s: s.trip_count),
    *[_money(n) for n in ("gross", "commission", "tips", "promotions", "toll_refunds",
                          "cash_collected", "fleet_share", "charges", "adjustments", "net")],
    CsvColumn("confirmed_at", lambda s: s.confirmed_at),
    CsvColumn("needs_terms", lambda s: s.needs_terms),
    CsvColumn("days_without_terms",
              lambda s: " ".join(d.isoformat() for d in s.days_without_terms)),
]


@router.post("/settlements/confirm", tags=TAGS,
             summary="Confirm several draft settlements, each against the version seen",
             responses={422: {"description": "No settlement, more than 1000, one twice, or "
                                             "without_terms without a reason."}})
def confirm_settlements(
    actor: SettlementsConfirm, session: DbSession, data: SettlementBulkConfirm,
) -> SettlementBulkConfirmOut:
    """Each item's ``version`` is its If-Match: each settlement is confirmed as by
    ``POST /v1/settlements/{id}/confirm``, in its own savepoint, so one that is stale (412), no
    longer a draft or has a source settled elsewhere (409), or unknown (404) is reported in
    ``refused`` and the others are confirmed, all committed together. Those that need terms are
    left draft and listed in ``skipped_needs_terms`` unless ``without_terms`` and a reason are
    given. Always 200 with the summary: read it."""
    outcome = service.confirm_many(session, actor, [(i.id, i.version) for i in data.items],
                                   decision=data.decision())
    zone = service.tenant_zone(session, actor)
    return SettlementBulkConfirmOut(
        confirmed=[_out(r, zone) for r in outcome.confirmed],
        skipped_needs_terms=[BulkSkipped(id=r.id, days_without_terms=list(r.days_without_terms))
                             for r in outcome.skipped],
        refused=[BulkRefusal(id=i, status=p.status, title=p.title, detail=p.detail)
                 for i, p in outcome.refused],
        totals=[BulkTotal(currency=c, count=n, net=money_out(net, c))
                for c, n, net in outcome.totals()])


@router.get("/settlements/export.csv", tags=TAGS, summary="Export the filtered settlements as CSV",
            response_class=StreamingResponse, responses=csv_responses(_CSV))
def export_settlements(
    actor: SettlementsRead, session: DbSession,
    driver_id: uuid.UUID | None = None, platform_id: uuid.UUID | None = None,
    driver_level: DriverLevel = None, settlement_status: Status = None,
    period_from: PeriodFrom = None, period_to: PeriodTo = None,
    sort: SettlementSort = SettlementSort.PERIOD_DESC,
) -> StreamingResponse:
    spec = _filter(driver_id, platform_id, driver_level, settlement_status, period_from,
                   period_to, sort)
    statement = service.sorted_settlements_query(session, actor, spec)
    return csv_response(session, statement, _CSV, filename="settlements.csv")


@router.get("/settlements/{settlement_id}", tags=TAGS, summary="Get a settlement with its totals",
            responses={404: _PROBLEMS[404]})
def get_settlement(
    actor: SettlementsRead, session: DbSession, settlement_id: uuid.UUID, response: Response,
) -> SettlementOut:
    row = service.get_settlement(session, actor, settlement_id)
    response.headers["ETag"] = etag(row.version)
    return _out(row, service.tenant_zone(session, actor))


@router.get("/settlements/{settlement_id}/lines", tags=TAGS,
            summary="A settlement's lines, each with its source",
            responses={404: _PROBLEMS[404]})
def list_settlement_lines(
    actor: SettlementsRead, session: DbSession, page: Pagination, settlement_id: uuid.UUID,
    line_type: SettlementLineType | None = None,
) -> Page[SettlementLineOut]:
    rows, cursor = service.list_settlement_lines(
        session, actor, settlement_id, page, line_type=line_type.value if line_type else None)
    return Page(items=[SettlementLineOut.of(r) for r in rows], next_cursor=cursor)


_LINES_CSV: list[Column] = [
    CsvColumn("id", lambda r: r.id),
    CsvColumn("settlement_id", lambda r: r.settlement_id),
    CsvColumn("line_type", lambda r: r.line_type),
    CsvColumn("description", lambda r: r.description),
    MoneyColumns("amount", lambda r: Money(r.amount, r.currency)),
    CsvColumn("source_type", lambda r: r.source_type),
    CsvColumn("source_id", lambda r: r.source_id),
    CsvColumn("consumed_key", lambda r: r.consumed_key),
    CsvColumn("service_date", lambda r: r.service_date),
]


@router.get("/settlements/{settlement_id}/lines/export.csv", tags=TAGS,
            summary="Export a settlement's lines as CSV", response_class=StreamingResponse,
            responses={**csv_responses(_LINES_CSV), 404: _PROBLEMS[404]})
def export_settlement_lines(
    actor: SettlementsRead, session: DbSession, settlement_id: uuid.UUID,
    line_type: SettlementLineType | None = None,
) -> StreamingResponse:
    statement = service.settlement_lines_query(
        session, actor, settlement_id, line_type=line_type.value if line_type else None,
    ).order_by(SettlementLine.consumed_key, SettlementLine.line_type, SettlementLine.id)
    return csv_response(session, statement, _LINES_CSV,
                        filename=f"settlement-{settlement_id}-lines.csv")


@router.post("/settlements/{settlement_id}/adjustments", tags=TAGS,
             status_code=status.HTTP_201_CREATED,
             summary="Add a manual adjustment to a draft settlement", responses=_PROBLEMS)
def add_adjustment(
    actor: SettlementsWrite, session: DbSession, if_match: RequiredIfMatch,
    settlement_id: uuid.UUID,
    data: AdjustmentCreate, response: Response,
) -> SettlementLineOut:
    line = service.add_adjustment(session, actor, settlement_id, data=data,
                                  expected_version=if_match_version(if_match))
    settlement = service.get_settlement(session, actor, settlement_id)
    response.headers["ETag"] = etag(settlement.version)
    response.headers["Location"] = f"/v1/settlements/{settlement_id}/lines?line_type=adjustment"
    return SettlementLineOut.of(line)


@router.post("/settlements/{settlement_id}/confirm", tags=TAGS,
             summary="Confirm a draft settlement (immutable afterwards)",
             responses=_PROBLEMS)
def confirm_settlement(
    actor: SettlementsConfirm, session: DbSession, if_match: RequiredIfMatch,
    settlement_id: uuid.UUID, response: Response, data: SettlementConfirm | None = None,
) -> SettlementOut:
    """A settlement that ``needs_terms`` is confirmed only with ``without_terms`` and a
    reason (recorded in the audit trail); without them, 409 naming the days."""
    row = service.confirm_settlement(session, actor, settlement_id,
                                     if_match_version(if_match), decision=data)
    response.headers["ETag"] = etag(row.version)
    return _out(row, service.tenant_zone(session, actor))
