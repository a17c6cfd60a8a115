"""A driver's balance and statement of account (``ledger:read``): what the fleet owes the
driver, or the driver owes the fleet, as of a day, and every entry with its source."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi.responses import HTMLResponse

from fleetcore.core.errors import ValidationProblem
from fleetcore.core.money import Money
from fleetcore.drivers import service as drivers_service
from fleetcore.finance import service as ledger
from fleetcore.finance.permissions import LedgerRead
from fleetcore.finance.schemas import position_of
from fleetcore.web.deps import Ctx
from fleetcore.web.i18n import gettext
from fleetcore.web.routes.base import page, page_router

router = page_router()


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationProblem(gettext("%(name)s is not a date (YYYY-MM-DD).", name=name),
                                errors=[{"field": name, "message": gettext("not a date")}]) from exc


@router.get("/drivers/{driver_id}/ledger")
def driver_ledger(
    c: Ctx, _: LedgerRead, driver_id: uuid.UUID, as_of: str | None = None,
    since: str | None = None, until: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """The balance as of a day (today by default) and the statement of account."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id, include_deleted=True)
    day = _day(as_of, "as_of") or c.today
    balances = [(b, *position_of(Money(b.balance, b.currency)))
                for b in ledger.driver_balances(c.session, c.actor, driver_ids=[driver_id],
                                                as_of=day)]
    filters = ledger.LedgerFilter(since=_day(since, "since"), until=_day(until, "until"))
    entries, next_cursor = ledger.driver_statement(c.session, c.actor, driver_id, page(cursor),
                                                   filters)
    params = {"as_of": as_of, "since": since, "until": until}
    return c.render("drivers/ledger.html", driver=driver, as_of=day, balances=balances,
                    entries=entries, next_cursor=next_cursor, params=params)
