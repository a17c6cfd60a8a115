"""Payout batches (money.md "Settlements and payouts"): a draft pays positive balances only,
itemised; approval reserves (a second batch cannot pay the same money); paying posts, a
failure or return reverses, a reissue pays again, a cancellation releases."""

from __future__ import annotations

import dataclasses
import threading
from decimal import Decimal
from typing import Any

import pytest
from payout_fixtures import WEEK_START, committed_fleet, draft, fleet_on, member
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetcore.core.db import DbContext, context_session
from fleetcore.core.errors import Conflict, PreconditionFailed, Problem
from fleetcore.core.pagination import PageParams
from fleetcore.core.versioning import etag
from fleetcore.finance import payout_service as service
from fleetcore.finance.models import DriverPayment, PaymentBatchMethod


def _payments(db: Session, fleet: Any, batch_id: Any) -> dict[Any, Any]:
    rows, _ = service.list_payments(db, fleet.actor, batch_id, PageParams(limit=200))
    return {p.driver_id: p for p in rows}


def test_draft_pays_positive_balances_and_carries_negative_ones(db: Session) -> None:
    fleet = fleet_on(db)
    ana, bob, cleo = fleet.driver("Ana"), fleet.driver("Bob"), fleet.driver("Cleo")
    fleet.owe(ana, "100.00")
    fleet.owe(bob, "20.00")
    fleet.owe(bob, "-50.00")
    fleet.owe(cleo, "10.00")
    fleet.owe(cleo, "-10.00")
    batch = service.draft_batch(db, fleet.actor, data=draft())
    payments = _payments(db, fleet, batch.id)
    assert set(payments) == {ana}
    assert payments[ana].net == Decimal("100.00")
    assert batch.status == "draft"
    assert batch.payment_count == 1
    assert batch.net_total == sum(p.net for p in payments.values())
    assert batch.extra["carried_negative"] == {
        "drivers": 1, "amount": "-30.0000"}
    # A draft posts and reserves nothing.
    assert fleet.balance(ana) == Decimal("100.00")
    again = service.draft_batch(db, fleet.actor, data=draft())
    assert again.net_total == Decimal("100.00")


def test_payment_is_itemised_by_settlement_deduction_and_carry(db: Session) -> None:
    fleet = fleet_on(db)
    ana = fleet.driver()
    fleet.owe(ana, "-10.00")  # owed from an earlier period
    platform = fleet.settlement(ana, "120.00")
    rent = fleet.settlement(ana, "-20.00", platform=False)
    # A settlement of a later period is not this batch's.
    fleet.settlement(ana, "55.00", start=WEEK_START.replace(day=23))
    batch = service.draft_batch(db, fleet.actor, data=draft())
    payment = _payments(db, fleet, batch.id)[ana]
    assert (payment.gross, payment.deductions, payment.net) == (
        Decimal("120.00"), Decimal("30.00"), Decimal("90.00"))
    assert {s["settlement_id"] for s in payment.extra["settlements"]} == {str(platform),
                                                                           str(rent)}
    kinds = {(d["type"], Decimal(d["amount"])) for d in payment.deductions_detail}
    assert kinds == {("settlement", Decimal("20.00")), ("carried_over", Decimal("10.00"))}
    assert Decimal(payment.extra["carried_over"]) == Decimal("-10.00")


def test_approval_reserves_so_a_second_batch_cannot_pay_again(db: Session) -> None:
    fleet = fleet_on(db)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    fleet.owe(ana, "100.00")
    fleet.owe(bob, "40.00")
    sid = fleet.settlement(ana, "25.00")
    first = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    second = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    approved = service.approve_batch(db, fleet.actor, first.id, etag(first.version))
    assert approved.status == "approved"
    assert approved.approved_by == fleet.actor.id
    assert fleet.sql("SELECT payment_batch_id FROM trp_settlements WHERE id = :s",
                     s=sid)[0][0] == first.id
    with pytest.raises(Conflict) as refused:
        service.approve_batch(db, fleet.actor, second.id, etag(second.version))
    assert refused.value.errors
    assert "available" in refused.value.errors[0]["message"]
    # A new draft sees nothing left to pay.
    third = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    assert third.payment_count == 0
    assert third.net_total == 0


def test_approval_needs_a_draft_the_current_version_and_four_eyes(db: Session) -> None:
    fleet = fleet_on(db)
    ana = fleet.driver()
    fleet.owe(ana, "50.00")
    fleet.four_eyes()
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    with pytest.raises(PreconditionFailed):
        service.approve_batch(db, fleet.actor, batch.id, etag(batch.version + 1))
    with pytest.raises(service.FourEyes):
        service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    other = member(fleet.tenant_id)
    approved = service.approve_batch(db, other, batch.id, etag(batch.version))
    assert approved.approved_by == other.id
    with pytest.raises(Conflict):
        service.approve_batch(db, other, batch.id, etag(approved.version))


def test_paying_posts_failing_reverses_reissue_pays_again(db: Session) -> None:
    fleet = fleet_on(db)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    fleet.owe(ana, "100.00")
    sid = fleet.settlement(bob, "60.00")
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    batch = service.mark_paid(db, fleet.actor, batch.id, etag(batch.version))
    assert batch.status == "paid"
    assert fleet.balance(ana) == 0
    assert fleet.balance(bob) == 0
    assert fleet.sql("SELECT status FROM trp_settlements WHERE id = :s", s=sid)[0][0] == "paid"
    assert fleet.ledger_sums_to_zero()
    # Marking paid again posts nothing more.
    service.mark_paid(db, fleet.actor, batch.id, etag(batch.version))
    payouts = fleet.sql("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t"
                        " AND transaction_type = 'payout'", t=fleet.tenant_id)[0][0]
    assert payouts == 2
    payment = _payments(db, fleet, batch.id)[ana]
    failed = service.fail_payment(db, fleet.actor, payment.id, etag(payment.version),
                                  reason="AC04 account closed")
    assert failed.status == "failed"
    assert fleet.balance(ana) == Decimal("100.00")
    # Failing twice reverses once (rule 2).
    service.fail_payments(db, fleet.actor, [payment.id], reason="again")
    assert fleet.balance(ana) == Decimal("100.00")
    assert service.get_batch(db, fleet.actor, batch.id).status == "partially_failed"
    reissued = service.reissue_payment(db, fleet.actor, payment.id, etag(failed.version))
    assert (reissued.status, reissued.attempt) == ("pending", 2)
    batch = service.get_batch(db, fleet.actor, batch.id)
    batch = service.mark_paid(db, fleet.actor, batch.id, etag(batch.version))
    assert batch.status == "paid"
    assert fleet.balance(ana) == 0
    assert fleet.ledger_sums_to_zero()


def test_reissue_refused_when_the_balance_was_paid_elsewhere(db: Session) -> None:
    fleet = fleet_on(db)
    ana = fleet.driver()
    fleet.owe(ana, "100.00")
    first = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    first = service.approve_batch(db, fleet.actor, first.id, etag(first.version))
    payment = _payments(db, fleet, first.id)[ana]
    failed = service.fail_payment(db, fleet.actor, payment.id, etag(payment.version),
                                  reason="bounced")
    # The released money is paid by a later batch...
    later = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    service.approve_batch(db, fleet.actor, later.id, etag(later.version))
    # ...so the failed payment cannot be reissued on top of it.
    with pytest.raises(Conflict):
        service.reissue_payment(db, fleet.actor, payment.id, etag(failed.version))


def test_cancellation_releases_reservations(db: Session) -> None:
    fleet = fleet_on(db)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    sid = fleet.settlement(ana, "70.00")
    fleet.owe(bob, "30.00")
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    bob_payment = _payments(db, fleet, batch.id)[bob]
    service.cancel_payment(db, fleet.actor, bob_payment.id, etag(bob_payment.version))
    batch = service.get_batch(db, fleet.actor, batch.id)
    assert (batch.payment_count, batch.net_total) == (1, Decimal("70.00"))
    batch = service.cancel_batch(db, fleet.actor, batch.id, etag(batch.version))
    assert batch.status == "cancelled"
    assert fleet.sql("SELECT payment_batch_id FROM trp_settlements WHERE id = :s",
                     s=sid)[0][0] is None
    again = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    assert again.net_total == Decimal("100.00")
    assert fleet.sql("SELECT count(*) FROM fin_transactions WHERE tenant_id = :t"
                     " AND payment_id IS NOT NULL", t=fleet.tenant_id)[0][0] == 0


def test_other_tenants_batches_are_not_found(db: Session) -> None:
    fleet = fleet_on(db)
    ana = fleet.driver()
    fleet.owe(ana, "10.00")
    batch = service.draft_batch(db, fleet.actor, data=draft())
    other = fleet_on(db)
    with pytest.raises(Problem) as missing:
        service.approve_batch(db, other.actor, batch.id, etag(batch.version))
    assert missing.value.status == 404


def _approve_in_thread(sessions: Any, tenant_id: Any, batch: Any, tag: str,
                       barrier: threading.Barrier, outcomes: dict[str, str]) -> None:
    actor = member(tenant_id)
    try:
        with context_session(sessions, DbContext.for_tenant(tenant_id)) as session:
            barrier.wait(timeout=10)
            service.approve_batch(session, actor, batch.id, etag(batch.version))
        outcomes[tag] = "approved"
    except Problem as problem:
        outcomes[tag] = str(problem.status)


def _race(sessions: Any, tenant_id: Any, batches: dict[str, Any]) -> dict[str, str]:
    barrier = threading.Barrier(len(batches))
    outcomes: dict[str, str] = {}
    threads = [threading.Thread(target=_approve_in_thread,
                                args=(sessions, tenant_id, batch, tag, barrier, outcomes))
               for tag, batch in batches.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_concurrent_double_approval_pays_once(sessions: Any) -> None:
    fleet = committed_fleet(sessions)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    fleet.owe(ana, "100.00")
    fleet.owe(bob, "70.00")
    manual = PaymentBatchMethod.MANUAL
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session:
        one = service.draft_batch(session, fleet.actor, data=draft(manual, driver_ids=[ana]))
        two = service.draft_batch(session, fleet.actor, data=draft(manual, driver_ids=[bob]))
        three = service.draft_batch(session, fleet.actor, data=draft(manual, driver_ids=[bob]))
    # The same batch approved twice at once (same If-Match): one wins, the other is refused.
    outcomes = _race(sessions, fleet.tenant_id, {"a": one, "b": one})
    assert sorted(outcomes.values()) in (["409", "approved"], ["412", "approved"])
    # Two batches over the same money approved at once: only one reserves it.
    outcomes = _race(sessions, fleet.tenant_id, {"two": two, "three": three})
    assert sorted(outcomes.values()) == ["409", "approved"]
    reserved = fleet.sql("""
        SELECT p.driver_id, sum(p.net) FROM fin_driver_payments p
          JOIN fin_driver_payment_batches b ON b.tenant_id = p.tenant_id AND b.id = p.batch_id
         WHERE p.tenant_id = :t AND b.status = 'approved' GROUP BY p.driver_id""",
                         t=fleet.tenant_id)
    assert dict(reserved) == {ana: Decimal("100.00"), bob: Decimal("70.00")}


def test_a_ledger_change_between_draft_and_approval_is_caught(db: Session) -> None:
    """The approval re-checks what the draft paid: a debit posted after the draft (here in the
    same transaction, which the draft's snapshot counts as seen) leaves too little."""
    fleet = fleet_on(db)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    fleet.owe(ana, "100.00")
    fleet.owe(bob, "40.00")
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    assert batch.balances_snapshot is not None
    fleet.owe(ana, "-30.00")
    with pytest.raises(Conflict) as refused:
        service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    assert [e["field"] for e in refused.value.errors] == [f"payments[driver_id={ana}]"]
    assert refused.value.errors[0]["message"] == "pays 100.0000 but only 70.0000 is available"


def _recheck(sessions: Any, fleet: Any, batch: Any) -> list[str]:
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session:
        return service._drivers_to_recheck(
            session, service.get_batch(session, fleet.actor, batch.id))


def test_approval_rechecks_only_drivers_whose_ledger_changed(sessions: Any) -> None:
    """Committed separately, as requests are: the approval recomputes the balances of the
    drivers with entries the draft did not see — including an entry written by a transaction
    that was still running when the draft read the balances — and pays nobody twice."""
    fleet = committed_fleet(sessions)
    ana, bob, cleo = fleet.driver("Ana"), fleet.driver("Bob"), fleet.driver("Cleo")
    for driver in (ana, bob, cleo):
        fleet.owe(driver, "100.00")
    manual = PaymentBatchMethod.MANUAL
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session:
        quiet = service.draft_batch(session, fleet.actor, data=draft(manual))
    assert _recheck(sessions, fleet, quiet) == []
    # A posting under way while the next draft reads the balances, committed after it.
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as posting:
        def run_in_posting(statement: str, params: dict[str, Any], system: bool) -> list[Any]:
            posting.execute(text(statement), params)
            return []
        dataclasses.replace(fleet, run=run_in_posting).owe(bob, "-60.00")
        with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session:
            batch = service.draft_batch(session, fleet.actor, data=draft(manual))
            paid = {p.driver_id: p.net for p in session.scalars(
                select(DriverPayment).where(DriverPayment.batch_id == batch.id))}
        assert paid == {ana: Decimal("100.0000"), bob: Decimal("100.0000"),
                        cleo: Decimal("100.0000")}
    fleet.owe(cleo, "-90.00")  # committed after the draft
    assert sorted(_recheck(sessions, fleet, batch)) == sorted([str(bob), str(cleo)])
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session, \
            pytest.raises(Conflict) as refused:
        service.approve_batch(session, fleet.actor, batch.id, etag(batch.version))
    assert {e["field"] for e in refused.value.errors} == {
        f"payments[driver_id={bob}]", f"payments[driver_id={cleo}]"}
    # The first draft did not see them either: approved, it reserves what is left for ana
    # only (bob and cleo were re-checked and fall short)...
    assert sorted(_recheck(sessions, fleet, quiet)) == sorted([str(bob), str(cleo)])
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session, \
            pytest.raises(Conflict):
        service.approve_batch(session, fleet.actor, quiet.id, etag(quiet.version))
    # ...and a fresh draft pays what the ledger now says, then approves without a re-check
    # failing; once approved, its money is reserved: the other drafts are re-checked.
    with context_session(sessions, DbContext.for_tenant(fleet.tenant_id)) as session:
        fresh = service.draft_batch(session, fleet.actor, data=draft(manual))
        assert fresh.net_total == Decimal("150.00")
        service.approve_batch(session, fleet.actor, fresh.id, etag(fresh.version))
    assert sorted(_recheck(sessions, fleet, quiet)) == sorted([str(ana), str(bob), str(cleo)])


def test_payments_are_audited_once_per_statement(db: Session) -> None:
    fleet = fleet_on(db)
    for name in ("Ana", "Bob", "Cleo"):
        fleet.owe(fleet.driver(name), "12.00")
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    service.cancel_batch(db, fleet.actor, batch.id, etag(batch.version))
    rows = fleet.sql("SELECT action, changes, actor_id FROM adm_audit_logs"
                     " WHERE entity_type = 'fin_driver_payments' AND tenant_id = :t"
                     " ORDER BY occurred_at", t=fleet.tenant_id)
    assert [(r.action, r.changes) for r in rows] == [
        ("bulk_insert", {"rows": 3}), ("bulk_update", {"rows": 3})]
