"""SEPA credit-transfer files and bank accounts (money.md M8): the pain.001 validates against
the XSD, its CtrlSum and NbOfTxs match the batch, each EndToEndId is unique and at most 35
characters; a batch is exported once (a re-download is the same bytes); IBAN/BIC are checked
when saved."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from payout_fixtures import draft, fleet_on
from sqlalchemy.orm import Session

from fleetcore.core.errors import Conflict, ValidationProblem
from fleetcore.core.pagination import PageParams
from fleetcore.core.versioning import etag
from fleetcore.finance import payout_account_service as accounts
from fleetcore.finance import payout_service as service
from fleetcore.finance.payout_schemas import BankAccountIn
from fleetcore.finance.sepa_service import export_sepa, sepa_schema

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


def _parse(document: bytes) -> Any:
    tree = etree.fromstring(document)
    assert sepa_schema().validate(tree), sepa_schema().error_log
    return tree


def _check_m8(db: Session, fleet: Any, batch: Any, document: bytes) -> None:
    tree = _parse(document)
    header = tree.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert Decimal(header.findtext("p:CtrlSum", namespaces=NS)) == batch.net_total
    assert int(header.findtext("p:NbOfTxs", namespaces=NS)) == batch.payment_count
    amounts = [Decimal(a.text) for a in tree.iterfind(".//p:InstdAmt", NS)]
    assert sum(amounts) == batch.net_total
    ids = [e.text for e in tree.iterfind(".//p:EndToEndId", NS)]
    assert len(ids) == len(set(ids)) == batch.payment_count
    assert all(len(i) <= 35 for i in ids)
    stored = {r[0] for r in fleet.sql("SELECT end_to_end_id FROM fin_driver_payments"
                                      " WHERE batch_id = :b", b=batch.id)}
    assert stored == set(ids)


def test_bank_account_is_validated_when_saved(db: Session) -> None:
    fleet = fleet_on(db)
    ana = fleet.driver()
    with pytest.raises(ValidationProblem) as bad:
        accounts.add_bank_account(db, fleet.actor, ana, data=BankAccountIn(
            iban="DE89 3704 0044 0532 0130 01"))
    assert bad.value.errors[0]["field"] == "iban"
    with pytest.raises(ValidationProblem) as bad_bic:
        accounts.add_bank_account(db, fleet.actor, ana, data=BankAccountIn(
            iban="DE89 3704 0044 0532 0130 00", bic="COBA-EFF"))
    assert bad_bic.value.errors[0]["field"] == "bic"
    first = accounts.add_bank_account(db, fleet.actor, ana, data=BankAccountIn(
        iban="de89 3704 0044 0532 0130 00"))
    assert (first.iban, first.bic) == ("DE89370400440532013000", "COBADEFFXXX")
    second = accounts.add_bank_account(db, fleet.actor, ana, data=BankAccountIn(
        iban="FR14 2004 1010 0505 0001 3M02 606", bic="PSSTFRPPXXX", holder_name="Ana B."))
    listed = accounts.list_payout_accounts(db, fleet.actor, ana)
    assert [(a.id, a.status) for a in listed] == [(second.id, "active"), (first.id, "closed")]


def test_sepa_file_validates_and_matches_the_batch(db: Session) -> None:
    fleet = fleet_on(db)
    fleet.debtor()
    drivers = [fleet.driver(f"D{i}") for i in range(5)]
    for n, (driver, amount) in enumerate(zip(drivers, ["10.00", "0.01", "999.99", "42.50",
                                                       "-5.00"], strict=True)):
        fleet.owe(driver, amount)
        fleet.bank(driver, n)
    batch = service.draft_batch(db, fleet.actor, data=draft())
    with pytest.raises(Conflict):
        export_sepa(db, fleet.actor, batch.id)  # a draft is not exported
    batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    document = export_sepa(db, fleet.actor, batch.id)
    batch = service.get_batch(db, fleet.actor, batch.id)
    assert batch.status == "processing"
    assert batch.payment_count == 4
    _check_m8(db, fleet, batch, document)
    # Downloaded again: the same file, byte for byte.
    assert export_sepa(db, fleet.actor, batch.id) == document
    assert batch.export_sha256 is not None
    # Sent: every payment posts; one comes back and is reversed.
    batch = service.mark_paid(db, fleet.actor, batch.id, etag(batch.version))
    assert batch.status == "paid"
    assert all(fleet.balance(d) == 0 for d in drivers[:4])
    returned = service.list_payments(db, fleet.actor, batch.id,
                                     PageParams(limit=10))[0][0]
    service.fail_payment(db, fleet.actor, returned.id, etag(returned.version),
                         reason="AC04 closed account")
    assert fleet.balance(returned.driver_id) == returned.net
    assert fleet.ledger_sums_to_zero()


def test_sepa_needs_the_fleets_bank_account_and_driver_accounts(db: Session) -> None:
    fleet = fleet_on(db)
    ana = fleet.driver()
    fleet.owe(ana, "10.00")
    batch = service.draft_batch(db, fleet.actor, data=draft())
    with pytest.raises(Conflict) as missing:
        service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    assert "payout account" in missing.value.detail
    fleet.bank(ana)
    batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    with pytest.raises(Conflict) as no_debtor:
        export_sepa(db, fleet.actor, batch.id)
    assert "debtor" in no_debtor.value.detail


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-50_000, max_value=5_000_000), min_size=1, max_size=12))
def test_m8_holds_for_any_balances(db: Session, cents: list[int]) -> None:
    with db.begin_nested() as savepoint:
        fleet = fleet_on(db)
        fleet.debtor()
        for n, value in enumerate(cents):
            driver = fleet.driver(f"D{n}")
            if value:
                fleet.owe(driver, str(Decimal(value).scaleb(-2)))
            fleet.bank(driver, n)
        batch = service.draft_batch(db, fleet.actor, data=draft())
        assert batch.payment_count == sum(1 for c in cents if c > 0)
        if batch.payment_count:
            batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
            document = export_sepa(db, fleet.actor, batch.id)
            _check_m8(db, fleet, service.get_batch(db, fleet.actor, batch.id), document)
        assert batch.net_total == Decimal(sum(c for c in cents if c > 0)).scaleb(-2)
        savepoint.rollback()


def test_end_to_end_ids_are_given_at_the_draft_and_the_file_holds_the_pending(
        db: Session) -> None:
    """A SEPA draft's payments carry their EndToEndId from the start (the export only flips
    statuses); a payment cancelled before the export is not in the file and gives its id
    back."""
    fleet = fleet_on(db)
    fleet.debtor()
    drivers = [fleet.driver(f"D{i}") for i in range(3)]
    for n, driver in enumerate(drivers):
        fleet.owe(driver, "25.00")
        fleet.bank(driver, n)
    batch = service.draft_batch(db, fleet.actor, data=draft())
    payments = service.list_payments(db, fleet.actor, batch.id, PageParams(limit=10))[0]
    assert {p.end_to_end_id for p in payments} == {"FC" + p.id.hex for p in payments}
    batch = service.approve_batch(db, fleet.actor, batch.id, etag(batch.version))
    dropped = payments[0]
    service.cancel_payment(db, fleet.actor, dropped.id, etag(dropped.version))
    document = export_sepa(db, fleet.actor, batch.id)
    ids = [e.text for e in _parse(document).iterfind(".//p:EndToEndId", NS)]
    assert sorted(ids) == sorted("FC" + p.id.hex for p in payments[1:])
    stored = dict(fleet.sql("SELECT id, end_to_end_id FROM fin_driver_payments"
                            " WHERE batch_id = :b", b=batch.id))
    assert stored[dropped.id] is None
    assert export_sepa(db, fleet.actor, batch.id) == document
