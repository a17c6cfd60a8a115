"""The balance a payout batch pays is the ledger's balance by economic date as of the batch's
last day (``finance.service.balances_sql``, the one definition), less what was already paid out
and what approved batches reserve."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from payout_fixtures import WEEK, WEEK_START, draft, fleet_on
from sqlalchemy.orm import Session

from fleetcore.core.versioning import etag
from fleetcore.finance import payout_service as service
from fleetcore.finance.models import PaymentBatchMethod
from fleetcore.finance.service import driver_balances

LAST_DAY = WEEK + timedelta(days=6)


def _paid(db: Session, fleet: Any, batch_id: uuid.UUID) -> dict[uuid.UUID, Decimal]:
    rows = db.execute(service.payments_query(db, fleet.actor, batch_id)).scalars()
    return {p.driver_id: p.net for p in rows}


def test_a_batch_pays_the_ledger_balance_as_of_its_last_day(db: Session) -> None:
    fleet = fleet_on(db)
    ana, bob = fleet.driver("Ana"), fleet.driver("Bob")
    fleet.owe(ana, "70.00", effective_on=WEEK)
    fleet.owe(ana, "30.00", effective_on=LAST_DAY)  # the last day counts
    fleet.owe(ana, "500.00", effective_on=LAST_DAY + timedelta(days=1))  # a later week's
    fleet.settlement(bob, "40.00")
    fleet.settlement(bob, "25.00", start=WEEK_START + timedelta(days=7))  # next week's
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    paid = _paid(db, fleet, batch.id)
    assert paid == {ana: Decimal("100.00"), bob: Decimal("40.00")}
    # The same figure the ledger's own reading gives (one definition of a balance).
    ledger = {b.driver_id: b.balance for b in driver_balances(db, fleet.actor, as_of=LAST_DAY)}
    assert paid == ledger
    approved = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    assert approved.status == "approved"


def test_money_paid_after_the_last_day_is_never_paid_again(db: Session) -> None:
    """Paying posts entries dated the day paid (after the period): drafting the same period
    again pays nothing, though the balance as of its last day does not see that payment."""
    fleet = fleet_on(db)
    ana = fleet.driver("Ana")
    fleet.owe(ana, "100.00")
    batch = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    service.mark_paid(db, fleet.actor, batch.id, etag(batch.version))
    (before,) = driver_balances(db, fleet.actor, as_of=LAST_DAY)
    assert before.balance == Decimal("100.00")  # the payment is dated later
    again = service.draft_batch(db, fleet.actor, data=draft(PaymentBatchMethod.MANUAL))
    assert (again.payment_count, again.net_total) == (0, Decimal(0))
    # A later period's batch reads the payment too: nothing to pay either.
    later = service.draft_batch(db, fleet.actor, data=draft(
        PaymentBatchMethod.MANUAL).model_copy(update={
            "period_first_day": WEEK + timedelta(days=21),
            "period_last_day": WEEK + timedelta(days=27)}))
    assert later.payment_count == 0
