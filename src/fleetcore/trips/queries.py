"""Read-only, set-based queries of trips and settlements the console shows: the drivers
linked to platform accounts and the settlement weeks, totalled.

Reads only (no writes, no business rule), like ``filters.py``: each runs under the request's
row-level security and names the tenant as well, and answers for a whole page at once (one
statement for any number of rows), so no page runs a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.drivers.models import Driver
from fleetcore.reference.models import Platform
from fleetcore.trips.filters import PlatformAccountFilter
from fleetcore.trips.models import PlatformAccount, Settlement, SettlementStatus
from fleetcore.trips.service import platform_accounts_query


def account_drivers(session: Session, tenant_id: uuid.UUID, platform_id: uuid.UUID,
                    refs: Collection[str]) -> dict[str, uuid.UUID]:
    """The driver each live platform account of ``refs`` (external ids as normalised in
    report rows) is linked to now, in one query.

    An import's preview records the links it saw when it was validated (and the service
    refreshes the previews still waiting); a committed import's page shows today's links, so
    an account linked after the commit no longer offers to be linked.
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


@dataclass(frozen=True, slots=True)
class AccountHit:
    """A platform account found, with its platform's and its driver's names."""

    account: PlatformAccount
    platform: str
    driver: str | None


def account_hits(session: Session, actor: Actor, external_account_id: str, *,
                 limit: int) -> list[AccountHit]:
    """The live accounts with this (normalised) identifier, by platform name, with the two
    names joined: one statement, the service's account query."""
    stmt = (platform_accounts_query(
        actor, PlatformAccountFilter(external_account_id=external_account_id))
        .add_columns(Platform.name, Driver.first_name, Driver.last_name)
        .join(Platform, Platform.id == PlatformAccount.platform_id)
        .outerjoin(Driver, Driver.id == PlatformAccount.driver_id)
        .order_by(Platform.name, PlatformAccount.id).limit(limit))
    return [AccountHit(account, platform, f"{first} {last}" if first is not None else None)
            for account, platform, first, last in session.execute(stmt)]
