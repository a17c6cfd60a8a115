"""``/v1/client-invoices`` and ``/v1/self-billed-invoices``: a corporate client's trips of a
period invoiced (draft, then finalised with the next gapless number), credit notes that
correct an issued invoice, and the self-billed invoices of a confirmed week.

Finalising and crediting require ``If-Match`` (one issues what one has seen)."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any

from fastapi import APIRouter, Response, status

from fleetcore.core.deps import DbSession
from fleetcore.core.errors import ValidationProblem
from fleetcore.core.versioning import RequiredIfMatch, etag, if_match_version
from fleetcore.trips import invoice_service as service
from fleetcore.trips.invoice_render import invoice_filename, render_invoice_pdf
from fleetcore.trips.invoice_schemas import (
    ClientInvoiceCreate,
    ClientInvoiceOut,
    CreditNoteCreate,
    SelfBilledIssue,
    SelfBilledIssueOut,
)
from fleetcore.trips.permissions import InvoicesRead, InvoicesWrite

router = APIRouter(prefix="/v1")

TAGS: list[str | Enum] = ["invoices"]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such invoice in this tenant."},
    409: {"description": "The invoice is not in a state that allows it."},
    412: {"description": "The invoice changed since it was read."},
}


def _sent(row: Any, response: Response) -> ClientInvoiceOut:
    response.headers["ETag"] = etag(row.version)
    return ClientInvoiceOut.of(row)


@router.post("/client-invoices", tags=TAGS, status_code=status.HTTP_201_CREATED,
             summary="Group a client's trips of a period into a draft invoice",
             responses={409: {"description": "No trip of that client and period is left to "
                                             "invoice."}})
def create_client_invoice(
    actor: InvoicesWrite, session: DbSession, data: ClientInvoiceCreate, response: Response,
) -> ClientInvoiceOut:
    row = service.create_client_invoice(session, actor, data.to_draft())
    response.headers["Location"] = f"/v1/client-invoices/{row.id}"
    return _sent(row, response)


# Before "/client-invoices/{invoice_id}": that path would take "<id>.pdf" as the id.
@router.get("/client-invoices/{invoice_id}.pdf", tags=TAGS,
            summary="An invoice or credit note as PDF (with its country's mentions)",
            response_class=Response,
            responses={404: _PROBLEMS[404], 200: {
                "description": "The invoice (PDF).",
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"},
                                                "example": "%PDF-1.7 …"}}}})
def get_client_invoice_pdf(
    actor: InvoicesRead, session: DbSession, invoice_id: uuid.UUID,
) -> Response:
    row = service.get_invoice(session, actor, invoice_id)
    return Response(render_invoice_pdf(session, row), media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{invoice_filename(row)}"'})


@router.get("/client-invoices/{invoice_id}", tags=TAGS, summary="Get an invoice or credit note",
            responses={404: _PROBLEMS[404]})
def get_client_invoice(
    actor: InvoicesRead, session: DbSession, invoice_id: uuid.UUID, response: Response,
) -> ClientInvoiceOut:
    return _sent(service.get_invoice(session, actor, invoice_id), response)


@router.post("/client-invoices/{invoice_id}/finalise", tags=TAGS,
             summary="Issue a draft invoice or credit note with its number", responses=_PROBLEMS)
def finalise_client_invoice(
    actor: InvoicesWrite, session: DbSession, if_match: RequiredIfMatch,
    invoice_id: uuid.UUID, response: Response,
) -> ClientInvoiceOut:
    """The number is the next of the series for this year, taken in this transaction:
    gapless, never reused, concurrent finalisations wait for each other."""
    row = service.finalise_invoice(session, actor, invoice_id, if_match_version(if_match))
    return _sent(row, response)


@router.post("/client-invoices/{invoice_id}/credit-notes", tags=TAGS,
             status_code=status.HTTP_201_CREATED,
             summary="Correct an issued invoice with a (draft) credit note",
             responses={**_PROBLEMS, 422: {"description": "A bad amount or currency."}})
def create_credit_note(
    actor: InvoicesWrite, session: DbSession, if_match: RequiredIfMatch,
    invoice_id: uuid.UUID, data: CreditNoteCreate, response: Response,
) -> ClientInvoiceOut:
    """The credit note is a draft: finalise it to number it."""
    invoice = service.get_invoice(session, actor, invoice_id)
    try:
        amount = data.amount_for(invoice.currency)
    except ValueError as exc:
        raise ValidationProblem(str(exc), errors=[{"field": "amount.currency",
                                                   "message": str(exc)}]) from exc
    row = service.create_credit_note(session, actor, invoice_id, amount=amount,
                                     reason=data.reason,
                                     expected_version=if_match_version(if_match))
    response.headers["Location"] = f"/v1/client-invoices/{row.id}"
    return _sent(row, response)


@router.post("/self-billed-invoices/issue", tags=TAGS,
             summary="Issue the self-billed driver invoices of a confirmed week",
             responses={409: {"description": "Self-billing is off for this fleet."}})
def issue_self_billed_invoices(
    actor: InvoicesWrite, session: DbSession, data: SelfBilledIssue,
) -> SelfBilledIssueOut:
    """One per independent-contractor driver whose week is confirmed and positive; issuing
    the week again issues only what is missing."""
    rows = service.issue_self_billed_invoices(session, actor, data.week)
    return SelfBilledIssueOut(week=data.week, invoices=[ClientInvoiceOut.of(r) for r in rows])
