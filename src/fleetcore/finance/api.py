"""``/v1/drivers/{id}/balance`` and ``/v1/drivers/{id}/ledger``: what the fleet owes a driver
(or is owed) as of a day, and the driver's statement of account, each entry with its source
(``ledger:read``). Another tenant's driver, or an unknown one, is a 404."""

from __future__ import annotations

import uuid
from datetime import date
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from fleetcore.core.deps import DbSession
from fleetcore.core.export import Column, CsvColumn, MoneyColumns, csv_list_response, csv_responses
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.schemas import Currency
from fleetcore.finance import service
from fleetcore.finance.permissions import LedgerRead
from fleetcore.finance.schemas import CurrencyBalanceOut, DriverBalanceOut, LedgerEntryOut

router = APIRouter(prefix="/v1")

TAGS: list[str | Enum] = ["ledger"]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such driver in this tenant."}}

AsOf = Annotated[date | None, Query(
    description="Local day (YYYY-MM-DD): entries whose economic date is on or before it count. "
                "Default: every entry.")]
Since = Annotated[date | None, Query(alias="from", description="Entries with an economic date "
                                                               "on or after this local day.")]
Until = Annotated[date | None, Query(alias="to", description="Entries with an economic date "
                                                             "on or before this local day.")]
InCurrency = Annotated[Currency | None, Query(description="Only this currency.")]


@router.get("/drivers/{driver_id}/balance", tags=TAGS,
            summary="What the fleet owes a driver, or the driver owes, as of a day",
            responses=_NOT_FOUND)
def get_driver_balance(
    actor: LedgerRead, session: DbSession, driver_id: uuid.UUID, as_of: AsOf = None,
) -> DriverBalanceOut:
    """Per currency: the sum of the driver's balance account by economic date — a settled
    week counts on its last day, even when it was confirmed later."""
    service.require_driver(session, actor, driver_id)
    rows = service.driver_balances(session, actor, driver_ids=[driver_id], as_of=as_of)
    return DriverBalanceOut(driver_id=driver_id, as_of=as_of,
                            balances=[CurrencyBalanceOut.of(r) for r in rows])


def _filters(since: date | None, until: date | None,
             currency: str | None) -> service.LedgerFilter:
    return service.LedgerFilter(since=since, until=until, currency=currency)


@router.get("/drivers/{driver_id}/ledger", tags=TAGS,
            summary="A driver's statement of account", responses=_NOT_FOUND)
def list_driver_ledger(
    actor: LedgerRead, session: DbSession, page: Pagination, driver_id: uuid.UUID,
    since: Since = None, until: Until = None, currency: InCurrency = None,
) -> Page[LedgerEntryOut]:
    """Entries by economic date then posting time, each with the balance after it and its
    source (settlement week and platform, line, report row, trip, expense, toll, fine,
    payment, reversed entry)."""
    rows, cursor = service.driver_statement(session, actor, driver_id, page,
                                            _filters(since, until, currency))
    return Page(items=[LedgerEntryOut.of(r) for r in rows], next_cursor=cursor)


_CSV: list[Column] = [
    CsvColumn("id", lambda e: e.id),
    CsvColumn("event_id", lambda e: e.event_id),
    CsvColumn("effective_on", lambda e: e.effective_on),
    CsvColumn("posted_at", lambda e: e.posted_at),
    CsvColumn("transaction_type", lambda e: e.transaction_type),
    CsvColumn("description", lambda e: e.description),
    MoneyColumns("amount", lambda e: Money(e.amount, e.currency)),
    MoneyColumns("balance", lambda e: Money(e.balance, e.currency)),
    CsvColumn("counterpart", lambda e: e.counterpart_name),
    CsvColumn("source_type", lambda e: e.source_type),
    CsvColumn("source", lambda e: e.source_label),
    CsvColumn("settlement_id", lambda e: e.settlement_id),
    CsvColumn("settlement_line_id", lambda e: e.settlement_line_id),
    CsvColumn("import_row_id", lambda e: e.import_row_id),
    CsvColumn("trip_id", lambda e: e.trip_id),
    CsvColumn("expense_id", lambda e: e.expense_id),
    CsvColumn("toll_id", lambda e: e.toll_id),
    CsvColumn("fine_id", lambda e: e.fine_id),
    CsvColumn("payment_id", lambda e: e.payment_id),
    CsvColumn("reversal_of_id", lambda e: e.reversal_of_id),
]


@router.get("/drivers/{driver_id}/ledger/export.csv", tags=TAGS,
            summary="Export a driver's statement of account as CSV",
            response_class=StreamingResponse,
            responses={**csv_responses(_CSV), **_NOT_FOUND})
def export_driver_ledger(
    actor: LedgerRead, session: DbSession, driver_id: uuid.UUID,
    since: Since = None, until: Until = None, currency: InCurrency = None,
) -> StreamingResponse:
    rows = service.statement_entries(session, actor, driver_id,
                                     _filters(since, until, currency))
    return csv_list_response(rows, _CSV, filename=f"driver-{driver_id}-ledger.csv")
