"""Invoices: client invoices and the drivers' self-billed invoices — the list (by kind, status,
client or self-billed), one invoice with its lines, finalise a draft (its number), correct an
issued invoice with a credit note, download the PDF.

Everything goes through ``fleetcore.trips.invoice_service`` under the same rules as
``/v1/client-invoices`` (gapless numbers, an issued invoice never changes, the version the page
showed is sent with every change)."""

from __future__ import annotations

import uuid

from fastapi.responses import HTMLResponse, Response

from fleetcore.core.errors import Problem
from fleetcore.core.versioning import if_match_version
from fleetcore.trips import invoice_service as service
from fleetcore.trips.invoice_render import invoice_filename, invoice_lines, render_invoice_pdf
from fleetcore.trips.invoice_schemas import CreditNoteCreate
from fleetcore.trips.models import ClientInvoice, ClientInvoiceKind, ClientInvoiceStatus
from fleetcore.trips.permissions import InvoicesRead, InvoicesWrite
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    money_input,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import (
    BadLink,
    enum_value,
    form_if_match,
    options,
    page,
    page_router,
)

router = page_router()

CREDIT_FIELDS = ("amount", "reason")
BILLINGS = [("client", N_("Client invoices")), ("self_billed", N_("Self-billed (drivers)"))]


@router.get("/invoices")
def invoice_list(c: Ctx, _: InvoicesRead, billing: str | None = None, kind: str | None = None,
                 status: str | None = None, cursor: str | None = None) -> HTMLResponse:
    """Invoices and credit notes, newest first, by billing, kind and status."""
    if billing not in (None, "", "client", "self_billed"):
        raise BadLink(f"{billing!r} is not a kind of billing the console knows.")
    rows, next_cursor = service.list_invoices(
        c.session, c.actor, page(cursor),
        self_billed={"client": False, "self_billed": True}.get(billing or ""),
        kind=enum_value(ClientInvoiceKind, kind, "kind"),
        status=enum_value(ClientInvoiceStatus, status, "status"))
    return c.render("invoices/list.html", rows=rows, next_cursor=next_cursor,
                    params={"billing": billing or None, "kind": kind or None,
                            "status": status or None},
                    billings=BILLINGS, kinds=options(ClientInvoiceKind),
                    statuses=options(ClientInvoiceStatus))


def _detail(c: Console, invoice: ClientInvoice, *, status_code: int = 200,
            credit: FormState | None = None) -> HTMLResponse:
    corrected = (service.get_invoice(c.session, c.actor, invoice.corrects_invoice_id)
                 if invoice.corrects_invoice_id else None)
    return c.render("invoices/detail.html", status_code=status_code, inv=invoice,
                    lines=invoice_lines(c.session, invoice), corrected=corrected,
                    credit=credit or FormState(values={}))


# Before "/invoices/{invoice_id}": that path would take "<id>.pdf" as the id.
@router.get("/invoices/{invoice_id}.pdf")
def invoice_pdf(c: Ctx, _: InvoicesRead, invoice_id: uuid.UUID) -> Response:
    """The invoice or credit note as PDF, as the API serves it."""
    invoice = service.get_invoice(c.session, c.actor, invoice_id)
    return Response(render_invoice_pdf(c.session, invoice), media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{invoice_filename(invoice)}"'})


@router.get("/invoices/{invoice_id}")
def invoice_detail(c: Ctx, _: InvoicesRead, invoice_id: uuid.UUID) -> HTMLResponse:
    """One invoice: parties, totals, lines; finalise (draft) or credit (issued)."""
    return _detail(c, service.get_invoice(c.session, c.actor, invoice_id))


_STALE = "The invoice changed since you opened the page: look at it again, then retry."


@router.post("/invoices/{invoice_id}/finalise")
def finalise(c: Ctx, _: InvoicesWrite, invoice_id: uuid.UUID, form: Form) -> Response:
    """Issue the draft as the page showed it: it takes the next number of its series."""
    expected = if_match_version(form_if_match(form.get("version"), "invoice"))
    try:
        issued = attempt(c.session, lambda: service.finalise_invoice(
            c.session, c.actor, invoice_id, expected))
    except Problem as problem:
        if problem.status == 404:
            raise
        return redirect(c.request, f"/app/invoices/{invoice_id}",
                        flash=_STALE if problem.status == 412 else problem.detail)
    return redirect(c.request, f"/app/invoices/{invoice_id}",
                    flash=gettext("Issued as %(invoice_number)s: it can no longer change.",
                                  invoice_number=issued.invoice_number))


@router.post("/invoices/{invoice_id}/credit-notes")
def credit_note(c: Ctx, _: InvoicesWrite, invoice_id: uuid.UUID, form: Form) -> Response:
    """A draft credit note of what is left of the invoice, or of the amount given."""
    invoice = service.get_invoice(c.session, c.actor, invoice_id)
    expected = if_match_version(form_if_match(form.get("version"), "invoice"))
    state = FormState(values=text_values(form, CREDIT_FIELDS))
    amount = money_input(state.value("amount"), invoice.currency)
    try:
        data = build(CreditNoteCreate, {"reason": state.value("reason"),
                                        **({"amount": amount} if amount else {})}, state)
        note = attempt(c.session, lambda: service.create_credit_note(
            c.session, c.actor, invoice_id, amount=data.amount_for(invoice.currency),
            reason=data.reason, expected_version=expected))
    except FormInvalid:
        if "reason" in state.errors:
            state.errors["reason"] = gettext("say why the invoice is corrected")
        return _detail(c, invoice, status_code=422, credit=state)
    except Problem as problem:
        if problem.status == 404:
            raise
        if problem.status == 412:
            problem.detail = _STALE
        c.session.refresh(invoice)
        return _detail(c, invoice, status_code=problem.status,
                       credit=apply_problem(state, problem))
    return redirect(c.request, f"/app/invoices/{note.id}",
                    flash=gettext("Draft credit note created: finalise it to number it."))


__all__ = ["router"]
