"""Driver payouts: the batches (draft a period, review its payments, approve, export the SEPA
file, record it sent, record a returned payment), through ``finance.payout_service`` under the
same rules as ``/v1/driver-payment-batches`` (four-eyes, reservations, versions)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from fastapi.responses import HTMLResponse, Response

from fleetcore.core.errors import Problem
from fleetcore.drivers import queries as drivers_queries
from fleetcore.drivers import service as drivers_service
from fleetcore.drivers.models import Driver
from fleetcore.finance import payout_account_service, payout_service
from fleetcore.finance.models import PaymentBatchMethod, PaymentBatchStatus
from fleetcore.finance.payout_schemas import BankAccountIn, BatchDraft
from fleetcore.finance.permissions import PayoutsApprove, PayoutsRead, PayoutsWrite
from fleetcore.finance.sepa_service import export_sepa
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    attempt,
    submit,
    text_values,
)
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()

DRAFT_FIELDS = ("period_first_day", "period_last_day", "method")
PAYMENT_ROWS = 200


def _list(c: Console, *, status: str | None, cursor: str | None, state: FormState,
          status_code: int = 200) -> HTMLResponse:
    batches, next_cursor = payout_service.list_batches(c.session, c.actor, page(cursor),
                                                       status=status)
    return c.render("payouts/list.html", status_code=status_code, batches=batches,
                    next_cursor=next_cursor, params={"status": status}, state=state,
                    statuses=options(PaymentBatchStatus), methods=options(PaymentBatchMethod))


@router.get("/payouts")
def batch_list(c: Ctx, _: PayoutsRead, status: str | None = None,
               cursor: str | None = None) -> HTMLResponse:
    """The payout batches, newest period first; draft one for last week by default."""
    monday = c.today - timedelta(days=c.today.weekday() + 7)
    return _list(c, status=enum_value(PaymentBatchStatus, status, "status"), cursor=cursor,
                 state=FormState(values={
                     "period_first_day": monday.isoformat(),
                     "period_last_day": (monday + timedelta(days=6)).isoformat(),
                     "method": PaymentBatchMethod.SEPA_TRANSFER.value}))


@router.post("/payouts")
def draft_batch(c: Ctx, _: PayoutsWrite, form: Form) -> Response:
    """Draft a batch: one payment per driver with a positive balance; negatives are carried."""
    state = FormState(values=text_values(form, DRAFT_FIELDS))
    batch = submit(c.session, state, BatchDraft, {k: v for k, v in state.values.items() if v},
                   lambda data: payout_service.draft_batch(c.session, c.actor, data=data),
                   lambda s, code: _list(c, status=None, cursor=None, state=s,
                                         status_code=code))
    if isinstance(batch, Response):
        return batch
    return redirect(c.request, f"/app/payouts/{batch.id}",
                    flash=gettext("Draft with %(payment_count)s payments: review, then approve.",
                                  payment_count=batch.payment_count))


@router.get("/payouts/{batch_id}")
def batch_detail(c: Ctx, _: PayoutsRead, batch_id: uuid.UUID,
                 cursor: str | None = None) -> HTMLResponse:
    """A batch: totals, its payments with their drivers, and the next step."""
    batch = payout_service.get_batch(c.session, c.actor, batch_id)
    payments, next_cursor = payout_service.list_payments(
        c.session, c.actor, batch_id, page(cursor, limit=PAYMENT_ROWS))
    names = drivers_queries.driver_names(c.session, c.tenant.id, {p.driver_id for p in payments})
    return c.render("payouts/detail.html", batch=batch, payments=payments, names=names,
                    next_cursor=next_cursor)


def _step(c: Console, batch_id: uuid.UUID, form: Form, call: Callable[[str], object],
          done: str) -> Response:
    if_match = form_if_match(form.get("version"), "batch")
    try:
        attempt(c.session, lambda: call(if_match))
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext("The batch changed meanwhile: reload the page and try again.")
        return redirect(c.request, f"/app/payouts/{batch_id}", flash=problem.detail)
    return redirect(c.request, f"/app/payouts/{batch_id}", flash=done)


@router.post("/payouts/{batch_id}/approve")
def approve_batch(c: Ctx, _: PayoutsApprove, batch_id: uuid.UUID, form: Form) -> Response:
    """Approve: the amounts are reserved, so no other batch can pay them again."""
    return _step(c, batch_id, form, lambda m: payout_service.approve_batch(
        c.session, c.actor, batch_id, m), gettext("Batch approved: its amounts are reserved."))


@router.post("/payouts/{batch_id}/cancel")
def cancel_batch(c: Ctx, _: PayoutsWrite, batch_id: uuid.UUID, form: Form) -> Response:
    """Cancel a batch not yet sent; its reservations are released."""
    return _step(c, batch_id, form, lambda m: payout_service.cancel_batch(
        c.session, c.actor, batch_id, m), gettext("Batch cancelled."))


@router.post("/payouts/{batch_id}/sent")
def mark_sent(c: Ctx, _: PayoutsWrite, batch_id: uuid.UUID, form: Form) -> Response:
    """The bank has the file: each open payment is paid and posted to the ledger."""
    return _step(c, batch_id, form, lambda m: payout_service.mark_paid(
        c.session, c.actor, batch_id, m), gettext("Payments recorded as sent and posted."))


@router.post("/payouts/{batch_id}/sepa")
def sepa_file(c: Ctx, _: PayoutsWrite, batch_id: uuid.UUID) -> Response:
    """The SEPA credit-transfer file (pain.001, validated against its XSD); the first export
    moves the payments to processing, later ones return the same file."""
    try:
        document = attempt(c.session, lambda: export_sepa(c.session, c.actor, batch_id))
    except Problem as problem:
        return redirect(c.request, f"/app/payouts/{batch_id}", flash=problem.detail)
    return Response(document, media_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="payouts-{batch_id}.xml"'})


@router.post("/payouts/{batch_id}/payments/{payment_id}/fail")
def fail_payment(c: Ctx, _: PayoutsWrite, batch_id: uuid.UUID, payment_id: uuid.UUID,
                 form: Form) -> Response:
    """A payment came back (or failed): its posting is reversed, the money is owed again."""
    reason = str(form.get("reason") or "").strip() or gettext("Returned by the bank")
    if_match = form_if_match(form.get("version"), "payment")
    try:
        attempt(c.session, lambda: payout_service.fail_payment(
            c.session, c.actor, payment_id, if_match, reason=reason))
    except Problem as problem:
        return redirect(c.request, f"/app/payouts/{batch_id}", flash=problem.detail)
    return redirect(c.request, f"/app/payouts/{batch_id}",
                    flash=gettext("Payment recorded as returned; the driver is owed it again."))


# --- a driver's bank account ---------------------------------------------------------------

BANK_FIELDS = ("iban", "bic", "holder_name")


def _bank_form(c: Console, driver: Driver, state: FormState,
               status_code: int = 200) -> HTMLResponse:
    return c.render("payouts/bank_account_form.html", status_code=status_code, state=state,
                    driver=driver)


@router.get("/drivers/{driver_id}/bank-accounts/new")
def new_bank_account(c: Ctx, _: PayoutsWrite, driver_id: uuid.UUID) -> HTMLResponse:
    """The bank account SEPA payouts pay a driver to (IBAN and BIC checked when saved)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    return _bank_form(c, driver, FormState(values={
        "holder_name": f"{driver.first_name} {driver.last_name}"}))


@router.post("/drivers/{driver_id}/bank-accounts")
def create_bank_account(c: Ctx, _: PayoutsWrite, driver_id: uuid.UUID,
                        form: Form) -> Response:
    """Save it; it replaces the driver's previous bank account (closed, kept)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    state = FormState(values=text_values(form, BANK_FIELDS))
    refused = submit(c.session, state, BankAccountIn,
                     {k: v for k, v in state.values.items() if v},
                     lambda data: payout_account_service.add_bank_account(
                         c.session, c.actor, driver_id, data=data),
                     lambda s, code: _bank_form(c, driver, s, code))
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/drivers/{driver_id}#payout-accounts",
                    flash=gettext("Bank account of %(first_name)s %(last_name)s saved: SEPA "
                                  "payouts go to it.",
                                  first_name=driver.first_name, last_name=driver.last_name))


__all__ = ["router"]
