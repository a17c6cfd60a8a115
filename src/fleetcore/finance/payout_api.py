"""``/v1/driver-payment-batches``, ``/v1/driver-payments``, drivers' payout accounts and
``/v1/payout-settings``: draft a period's payouts, approve (reserves), pay by SEPA file or
Stripe Connect transfers, record failures, returns, reissues and cancellations.

Every state transition takes ``If-Match`` (428 without, 412 when stale).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.deps import DbSession
from fleetcore.core.errors import Conflict
from fleetcore.core.export import (
    Column,
    DerivedColumns,
    MoneyColumns,
    attribute_columns,
    csv_response,
    csv_responses,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.resource import ResourceRoutes
from fleetcore.core.versioning import RequiredIfMatch, check_if_match, etag
from fleetcore.finance import payout_account_service as accounts
from fleetcore.finance import payout_service as service
from fleetcore.finance.models import (
    DriverPayment,
    DriverPaymentBatch,
    DriverPaymentStatus,
    PaymentBatchStatus,
)
from fleetcore.finance.payout_schemas import (
    BankAccountIn,
    BatchDraft,
    BatchOut,
    PaymentFailure,
    PaymentOut,
    PaymentsPaid,
    PayoutAccountOut,
    PayoutSettingsIn,
    PayoutSettingsOut,
    StripeAccountIn,
)
from fleetcore.finance.permissions import PayoutsApprove, PayoutsRead, PayoutsWrite
from fleetcore.finance.sepa_service import export_sepa

router = APIRouter(prefix="/v1")


class StripeNotConfigured(Conflict):
    slug, title = "stripe-not-configured", "Stripe Connect is not configured"

TAGS: list[str | Enum] = ["payouts"]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such batch or payment in this tenant."},
    409: {"description": "Not in a state that allows it, or the money is reserved by another "
                         "batch."},
    412: {"description": "It changed since it was read."},
}


def _batch(row: Any, response: Response) -> BatchOut:
    response.headers["ETag"] = etag(row.version)
    return BatchOut.of(row)


_batches = ResourceRoutes(router, "driver-payment-batches", "batch_id", "batch", TAGS, BatchOut,
                          BatchOut.of, PayoutsRead, PayoutsWrite)
_batches_approved = replace(_batches, write=PayoutsApprove)
_payments = ResourceRoutes(router, "driver-payments", "payment_id", "payment", TAGS, PaymentOut,
                           PaymentOut.of, PayoutsRead, PayoutsWrite)


@router.post("/driver-payment-batches", tags=TAGS, status_code=status.HTTP_201_CREATED,
             summary="Draft a payout batch for a period",
             responses={422: {"description": "A bad period or currency."}})
def draft_batch(
    actor: PayoutsWrite, session: DbSession, data: BatchDraft, response: Response,
) -> BatchOut:
    """One payment per driver whose available balance is positive, itemised; negative
    balances are carried (counted in ``carried_negative``), never paid. Nothing is reserved
    or posted until approval."""
    row = service.draft_batch(session, actor, data=data)
    response.headers["Location"] = f"/v1/driver-payment-batches/{row.id}"
    return _batch(row, response)


@router.get("/driver-payment-batches", tags=TAGS, summary="List payout batches")
def list_batches(
    actor: PayoutsRead, session: DbSession, page: Pagination,
    batch_status: PaymentBatchStatus | None = None,
) -> Page[BatchOut]:
    rows, cursor = service.list_batches(
        session, actor, page, status=batch_status.value if batch_status else None)
    return Page(items=[BatchOut.of(r) for r in rows], next_cursor=cursor)


_BATCH_CSV: list[Column] = [
    *attribute_columns("id", "period_start", "period_end", "status", "method"),
    MoneyColumns("gross_total", lambda r: Money(r.gross_total, r.currency)),
    MoneyColumns("deductions_total", lambda r: Money(r.deductions_total, r.currency)),
    MoneyColumns("net_total", lambda r: Money(r.net_total, r.currency)),
    *attribute_columns("payment_count", "approved_by", "approved_at", "exported_at",
                       "external_reference"),
]


@router.get("/driver-payment-batches/export.csv", tags=TAGS, response_class=StreamingResponse,
            responses=csv_responses(_BATCH_CSV),
            summary="Export the payout batches as CSV (same filters)")
def export_batches(
    actor: PayoutsRead, session: DbSession, batch_status: PaymentBatchStatus | None = None,
) -> StreamingResponse:
    stmt = service.batches_query(actor, status=batch_status.value if batch_status else None)
    return csv_response(session, stmt.order_by(DriverPaymentBatch.period_start.desc(),
                                               DriverPaymentBatch.id.desc()),
                        _BATCH_CSV, filename="payout-batches.csv")


_batches.get("Get a payout batch", service.get_batch, include_deleted=False,
             responses={404: _PROBLEMS[404]})


@router.get("/driver-payment-batches/{batch_id}/payments", tags=TAGS,
            summary="A batch's payments, itemised", responses={404: _PROBLEMS[404]})
def list_payments(
    actor: PayoutsRead, session: DbSession, page: Pagination, batch_id: uuid.UUID,
    payment_status: DriverPaymentStatus | None = None,
) -> Page[PaymentOut]:
    rows, cursor = service.list_payments(
        session, actor, batch_id, page,
        status=payment_status.value if payment_status else None)
    return Page(items=[PaymentOut.of(r) for r in rows], next_cursor=cursor)


_PAYMENT_CSV: list[Column] = [
    *attribute_columns("id", "batch_id", "driver_id", "destination_account_id"),
    MoneyColumns("gross", lambda r: Money(r.gross, r.currency)),
    MoneyColumns("deductions", lambda r: Money(r.deductions, r.currency)),
    MoneyColumns("net", lambda r: Money(r.net, r.currency)),
    *attribute_columns("status", "attempt", "end_to_end_id", "stripe_transfer_id", "paid_at",
                       "failure_reason"),
]


@router.get("/driver-payment-batches/{batch_id}/payments/export.csv", tags=TAGS,
            response_class=StreamingResponse, responses=csv_responses(_PAYMENT_CSV),
            summary="Export a batch's payments as CSV (same filters)")
def export_payments(
    actor: PayoutsRead, session: DbSession, batch_id: uuid.UUID,
    payment_status: DriverPaymentStatus | None = None,
) -> StreamingResponse:
    stmt = service.payments_query(session, actor, batch_id,
                                  status=payment_status.value if payment_status else None)
    return csv_response(session, stmt.order_by(DriverPayment.id), _PAYMENT_CSV,
                        filename="payments.csv")


_batches_approved.action(
    "approve", "Approve a draft batch (reserves its amounts)", None,
    lambda session, actor, batch_id, if_match: service.approve_batch(
        session, actor, batch_id, if_match),
    responses={**_PROBLEMS, 403: {"description": "No payouts:approve, or four-eyes: "
                                                 "the drafter cannot approve."}})
_batches.action(
    "cancel", "Cancel a batch nothing of which was sent (releases its reservations)", None,
    lambda session, actor, batch_id, if_match: service.cancel_batch(
        session, actor, batch_id, if_match),
    responses=_PROBLEMS)


@router.get("/driver-payment-batches/{batch_id}/sepa", tags=TAGS,
            summary="The batch's SEPA credit-transfer file (pain.001.001.03)",
            response_class=Response, responses={
                **_PROBLEMS, 200: {"description": "The pain.001 file, validated.", "content": {
                    "application/xml": {"schema": {"type": "string"}, "example": (
                        '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Document xmlns='
                        '"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">…</Document>')}}}})
def download_sepa(actor: PayoutsWrite, session: DbSession, batch_id: uuid.UUID) -> Response:
    """The first download exports the approved batch (its payments become ``processing``);
    later downloads return the same bytes. Then mark it sent."""
    document = export_sepa(session, actor, batch_id)
    return Response(document, media_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="payouts-{batch_id}.xml"'})


_batches.action(
    "sent", "Record that the batch's payments were sent (posts them)", PaymentsPaid,
    lambda session, actor, batch_id, data, if_match: service.mark_paid(
        session, actor, batch_id, if_match, payment_ids=data.payment_ids if data else None),
    optional=True, name="mark_sent", responses=_PROBLEMS,
    description="The SEPA file was submitted to the bank (or a manual batch was paid): each "
                "open payment\n(or the listed ones) is paid and posts its ledger entry.")


@router.post("/driver-payment-batches/{batch_id}/transfers", tags=TAGS,
             summary="Send the batch's Stripe Connect transfers",
             responses=_PROBLEMS)
def send_transfers(
    actor: PayoutsApprove, session: DbSession, if_match: RequiredIfMatch, batch_id: uuid.UUID,
    request: Request, response: Response,
) -> BatchOut:
    """One transfer per pending payment, keyed by the payment id and attempt: a retry never
    pays twice. Their outcome also arrives by ``transfer.*`` webhooks."""
    sender = getattr(request.app.state, "transfer_sender", None)
    service.get_batch(session, actor, batch_id)  # another fleet's batch: 404 before anything
    if sender is None:
        raise StripeNotConfigured("Stripe Connect is not configured on this server "
                                  "(STRIPE_API_KEY): pay this batch by SEPA file or by hand.")
    return _batch(service.send_transfers(session, actor, batch_id, if_match, sender), response)


_payments.get("Get a driver payment", service.get_payment, include_deleted=False,
              responses={404: _PROBLEMS[404]})
_payments.action(
    "fail", "Record a failed or returned payment (reverses its posting)", PaymentFailure,
    lambda session, actor, payment_id, data, if_match: service.fail_payment(
        session, actor, payment_id, if_match, reason=data.reason),
    responses=_PROBLEMS)
replace(_payments, write=PayoutsApprove).action(
    "reissue", "Pay a failed payment again (next attempt)", None,
    lambda session, actor, payment_id, if_match: service.reissue_payment(
        session, actor, payment_id, if_match),
    responses=_PROBLEMS)


def _pay_by_hand(session: Session, actor: Actor, payment_id: uuid.UUID, *,
                 if_match: str) -> Any:
    payment = service.get_payment(session, actor, payment_id)
    check_if_match(if_match, payment.version)
    service.mark_paid(session, actor, payment.batch_id, None, payment_ids=[payment.id])
    return service.get_payment(session, actor, payment_id)


_payments.action("paid", "Record a payment paid by hand (posts it)", None, _pay_by_hand,
                 name="pay_payment", responses=_PROBLEMS)
_payments.action(
    "cancel", "Cancel a pending or failed payment (releases it)", None,
    lambda session, actor, payment_id, if_match: service.cancel_payment(
        session, actor, payment_id, if_match),
    responses=_PROBLEMS)


# --- payout accounts and settings ------------------------------------------------------------


@router.post("/drivers/{driver_id}/bank-accounts", tags=TAGS,
             status_code=status.HTTP_201_CREATED,
             summary="Save a driver's bank account (IBAN/BIC validated) for SEPA payouts",
             responses={404: {"description": "No such driver."},
                        422: {"description": "The IBAN or BIC is not valid."}})
def add_bank_account(
    actor: PayoutsWrite, session: DbSession, driver_id: uuid.UUID, data: BankAccountIn,
    response: Response,
) -> PayoutAccountOut:
    """Replaces the driver's previous bank account in that currency (closed, kept)."""
    row = accounts.add_bank_account(session, actor, driver_id, data=data)
    response.headers["ETag"] = etag(row.version)
    return PayoutAccountOut.of(row)


@router.post("/drivers/{driver_id}/stripe-accounts", tags=TAGS,
             status_code=status.HTTP_201_CREATED,
             summary="Save a driver's Stripe Connect account for transfers",
             responses={404: {"description": "No such driver."},
                        409: {"description": "Another driver has this Stripe account."}})
def add_stripe_account(
    actor: PayoutsWrite, session: DbSession, driver_id: uuid.UUID, data: StripeAccountIn,
    response: Response,
) -> PayoutAccountOut:
    row = accounts.add_stripe_account(session, actor, driver_id, data=data)
    response.headers["ETag"] = etag(row.version)
    return PayoutAccountOut.of(row)


@router.get("/drivers/{driver_id}/payout-accounts", tags=TAGS,
            summary="A driver's bank and Stripe accounts (IBAN masked)",
            responses={404: {"description": "No such driver."}})
def list_payout_accounts(
    actor: PayoutsRead, session: DbSession, driver_id: uuid.UUID,
) -> list[PayoutAccountOut]:
    return [PayoutAccountOut.of(a)
            for a in accounts.list_payout_accounts(session, actor, driver_id)]


_ACCOUNT_CSV: list[Column] = [DerivedColumns(
    ("id", "driver_id", "kind", "name", "currency", "iban_masked", "bic", "stripe_account_id",
     "status"), PayoutAccountOut.of)]


@router.get("/drivers/{driver_id}/payout-accounts/export.csv", tags=TAGS,
            response_class=StreamingResponse, responses=csv_responses(_ACCOUNT_CSV),
            summary="Export a driver's payout accounts as CSV (IBAN masked)")
def export_payout_accounts(
    actor: PayoutsRead, session: DbSession, driver_id: uuid.UUID,
) -> StreamingResponse:
    return csv_response(session, accounts.payout_accounts_query(session, actor, driver_id),
                        _ACCOUNT_CSV, filename="payout-accounts.csv")


@router.get("/payout-settings", tags=TAGS, summary="The tenant's payout settings")
def get_payout_settings(
    actor: PayoutsRead, session: DbSession, response: Response,
) -> PayoutSettingsOut:
    tenant = accounts.get_tenant_row(session, actor)
    response.headers["ETag"] = etag(tenant.version)
    return PayoutSettingsOut.of(service.payout_settings(session, actor))


@router.put("/payout-settings", tags=TAGS,
            summary="Set four-eyes approval and the fleet's bank account for SEPA files",
            responses={412: _PROBLEMS[412], 422: {"description": "A bad IBAN or BIC."}})
def put_payout_settings(
    actor: PayoutsApprove, session: DbSession, if_match: RequiredIfMatch,
    data: PayoutSettingsIn, response: Response,
) -> PayoutSettingsOut:
    """The ETag is the tenant's (``GET /v1/payout-settings``)."""
    tenant = accounts.update_payout_settings(session, actor, data=data, if_match=if_match)
    response.headers["ETag"] = etag(tenant.version)
    return PayoutSettingsOut.of(service.payout_settings(session, actor))
