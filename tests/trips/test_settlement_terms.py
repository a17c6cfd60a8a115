"""No silent 100 %: earnings on days without accepted cooperation terms flag the settlement
(``needs_terms``), and it is confirmed only with an explicit decision kept in the audit trail."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from settlement_fixtures import WEEK, Books, at, books_on, midnight
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict
from fleetcore.trips import settlement_service as service
from fleetcore.trips.settlement_schemas import SettlementConfirm

WEDNESDAY = WEEK + timedelta(days=2)


def _week(db: Session) -> tuple[Books, Any, Any]:
    """Ana's terms start on Wednesday; she earned on Monday, Tuesday and Thursday."""
    books = books_on(db)
    uber = books.platform()
    ana = books.driver()
    books.terms(ana, midnight(WEDNESDAY), pct="25", recharge_fuel=True)
    report = books.report(uber)
    for day in (WEEK, WEEK + timedelta(days=1), WEEK + timedelta(days=3)):
        books.row(report, uber, ana, at(day), fare_gross="100.00", commission="20.00")
    books.expense(ana, WEEK + timedelta(days=3), "10.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    return books, ana, uber


def _read(db: Session, books: Books, row: Any) -> Any:
    return service.get_settlement(db, books.actor, row.id)


def test_earnings_on_days_without_terms_flag_the_settlement(db: Session) -> None:
    books, ana, uber = _week(db)
    s = _read(db, books, books.settlement(ana, uber))
    # The share is taken on Thursday only: 25 % of 80.
    assert (s.fleet_share, s.needs_terms) == (Decimal("20.00"), True)
    assert s.days_without_terms == [WEEK, WEEK + timedelta(days=1)]
    # The driver-level settlement carries no earnings: nothing to flag.
    assert not _read(db, books, books.settlement(ana, None)).needs_terms

    # Terms accepted for the whole week and the week recomputed: the flag is gone.
    bob = books.driver("Bob")
    books.terms(bob, midnight(date(2026, 1, 1)), pct="25")
    books.row(books.report(uber), uber, bob, at(WEEK), fare_gross="50.00")
    service.compute_settlements(db, books.actor, period=WEEK)
    assert books.settlement(bob, uber).days_without_terms == []
    assert not _read(db, books, books.settlement(bob, uber)).needs_terms


def test_a_settlement_needing_terms_is_not_confirmed_silently(db: Session) -> None:
    books, ana, uber = _week(db)
    draft = books.settlement(ana, uber)
    with pytest.raises(Conflict, match="2026-11-16, 2026-11-17 \\(Uber\\)") as refused:
        service.confirm_settlement(db, books.actor, draft.id, draft.version)
    assert refused.value.extensions["days_without_terms"] == ["2026-11-16", "2026-11-17"]
    assert refused.value.extensions["platform_id"] == str(uber)
    no = SettlementConfirm(without_terms=False)
    with pytest.raises(Conflict, match="no accepted cooperation terms"):
        service.confirm_settlement(db, books.actor, draft.id, draft.version, decision=no)
    assert books.settlement(ana, uber).status == "draft"
    assert books.sql("SELECT count(*) FROM fin_transactions")[0][0] == 0

    decision = SettlementConfirm(without_terms=True, reason="Trial week, agreed with Ana")
    confirmed = service.confirm_settlement(db, books.actor, draft.id, draft.version,
                                           decision=decision)
    assert confirmed.status == "confirmed"
    (entry,) = books.sql(
        "SELECT actor_id, changes FROM adm_audit_logs WHERE action = 'confirm_without_terms'"
        " AND entity_type = 'trp_settlements' AND entity_id = :s", s=draft.id)
    assert entry[0] == books.actor.id
    assert entry[1]["reason"] == "Trial week, agreed with Ana"
    assert entry[1]["days_without_terms"] == ["2026-11-16", "2026-11-17"]
    assert entry[1]["without_terms"] is True


def test_settlements_with_terms_every_day_need_no_decision(db: Session) -> None:
    books, ana, _ = _week(db)
    driver_level = books.settlement(ana, None)
    confirmed = service.confirm_settlement(db, books.actor, driver_level.id,
                                           driver_level.version)
    assert confirmed.status == "confirmed"
    assert books.sql("SELECT count(*) FROM adm_audit_logs"
                     " WHERE action = 'confirm_without_terms'")[0][0] == 0


def test_confirming_without_terms_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        SettlementConfirm(without_terms=True)
    with pytest.raises(ValidationError):
        SettlementConfirm(without_terms=True, reason="   ")
