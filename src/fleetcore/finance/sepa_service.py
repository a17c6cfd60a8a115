"""SEPA credit-transfer files (pain.001.001.03) for payout batches (money.md M8).

The file is built with ``sepaxml`` from the batch's payments, then made reproducible (the
message id is the batch's, the creation time its export time) and validated against the
vendored ISO 20022 schema before it is served. The first download exports the batch: its
pending payments get their ``EndToEndId`` and become ``processing``, the file's SHA-256 is
kept. Later downloads rebuild the very same bytes (or refuse, 409, if they would differ): a
batch is exported once. ``CtrlSum`` = batch total, ``NbOfTxs`` = its payment count.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from lxml import etree
from sepaxml import SepaTransfer
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.errors import Conflict
from fleetcore.finance.models import DriverPaymentBatch, PaymentBatchMethod, PaymentBatchStatus
from fleetcore.finance.payout_service import get_batch, payout_settings

__all__ = ["PAIN_001", "export_sepa", "sepa_schema"]

PAIN_001 = "pain.001.001.03"
_NS = {"p": f"urn:iso:std:iso:20022:tech:xsd:{PAIN_001}"}


@lru_cache(maxsize=1)
def sepa_schema() -> etree.XMLSchema:
    """The vendored pain.001.001.03 XSD (``finance/schemas``), parsed once."""
    source = resources.files("fleetcore.finance").joinpath(f"schemas/{PAIN_001}.xsd")
    return etree.XMLSchema(etree.fromstring(source.read_bytes()))


def end_to_end_id(payment_id: uuid.UUID) -> str:
    """The payment's SEPA ``EndToEndId``: 34 characters, unique (the payment id's)."""
    return "FC" + payment_id.hex


def _message_id(batch: DriverPaymentBatch) -> str:
    return "FCB" + batch.id.hex  # 35 characters at most (MsgId, PmtInfId)


def export_sepa(session: Session, actor: Actor, batch_id: uuid.UUID) -> bytes:
    """The batch's pain.001 file; the first call exports the batch (see module docstring)."""
    batch = get_batch(session, actor, batch_id, lock=True)
    if batch.method != PaymentBatchMethod.SEPA_TRANSFER:
        raise Conflict("This batch is not paid by SEPA credit transfer.")
    if batch.currency != "EUR":
        raise Conflict("SEPA credit transfers are in euro; this batch is in "
                       f"{batch.currency}.")
    if batch.status == PaymentBatchStatus.DRAFT or batch.status == PaymentBatchStatus.CANCELLED:
        raise Conflict(f"The batch is {batch.status}: only an approved batch is exported.",
                       batch_status=batch.status)
    debtor = payout_settings(session, actor).get("debtor")
    if not isinstance(debtor, dict) or not debtor.get("iban"):
        raise Conflict("The fleet's own bank account (the debtor) is not configured: set it "
                       "with PUT /v1/payout-settings.")
    first = batch.exported_at is None
    if first:
        if batch.status != PaymentBatchStatus.APPROVED:
            raise Conflict(f"The batch is {batch.status}.", batch_status=batch.status)
        exported_at = datetime.now(UTC).replace(microsecond=0)
        session.execute(text("""
            UPDATE fin_driver_payments
               SET end_to_end_id = 'FC' || replace(CAST(id AS text), '-', ''),
                   status = 'processing', updated_by = :actor
             WHERE tenant_id = :t AND batch_id = :b AND status = 'pending'"""),
            {"t": batch.tenant_id, "b": batch.id, "actor": actor.id})
    else:
        assert batch.exported_at is not None
        exported_at = batch.exported_at
    rows = session.execute(text("""
        SELECT p.id, p.net, p.end_to_end_id, a.iban, a.bic, a.name
          FROM fin_driver_payments p
          JOIN fin_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.destination_account_id
         WHERE p.tenant_id = :t AND p.batch_id = :b AND p.end_to_end_id IS NOT NULL
         ORDER BY p.end_to_end_id"""), {"t": batch.tenant_id, "b": batch.id}).all()
    if not rows:
        raise Conflict("The batch has no payment to send.")
    document = _build(batch, debtor, rows, exported_at)
    digest = hashlib.sha256(document).hexdigest()
    if first:
        batch.exported_at = exported_at
        batch.export_sha256 = digest
        batch.external_reference = _message_id(batch)
        batch.status = PaymentBatchStatus.PROCESSING.value
        batch.updated_by = actor.id
        session.flush()
    elif digest != batch.export_sha256:
        raise Conflict("The batch was exported once and its file can no longer be rebuilt "
                       "identically (a payout account changed since): use the file "
                       "downloaded then.", export_sha256=batch.export_sha256)
    return document


def _build(batch: DriverPaymentBatch, debtor: dict[str, Any], rows: Sequence[Any],
           exported_at: datetime) -> bytes:
    config: dict[str, Any] = {"name": str(debtor.get("name") or "Fleet"),
                              "IBAN": str(debtor["iban"]), "batch": True, "currency": "EUR"}
    if debtor.get("bic"):
        config["BIC"] = str(debtor["bic"])
    sepa = SepaTransfer(config, schema=PAIN_001, clean=True)
    day = exported_at.date()
    period = batch.period_start.date().isoformat()
    for row in rows:
        payment: dict[str, Any] = {
            "name": row.name, "IBAN": row.iban,
            "amount": int((Decimal(row.net) * 100).to_integral_exact()),
            "execution_date": day, "description": f"Driver payout {period}",
            "endtoend_id": row.end_to_end_id,
        }
        if row.bic:
            payment["BIC"] = row.bic
        sepa.add_payment(payment)
    raw = sepa.export(validate=False)
    tree = etree.fromstring(raw)
    header = tree.find("p:CstmrCdtTrfInitn/p:GrpHdr", _NS)
    header.find("p:MsgId", _NS).text = _message_id(batch)
    header.find("p:CreDtTm", _NS).text = exported_at.strftime("%Y-%m-%dT%H:%M:%S")
    for info in tree.iterfind("p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId", _NS):
        info.text = _message_id(batch)
    schema = sepa_schema()
    if not schema.validate(tree):
        error = schema.error_log.last_error
        raise Conflict(f"The SEPA file does not validate against {PAIN_001}: "
                       f"{error.message if error else 'unknown error'}.")
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
