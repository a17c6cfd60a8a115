"""Documents: the list (pending, verified, rejected, expiring), upload, verify and reject.

A driver's document is also attached to the driver (``rid_driver_documents``) when uploaded
here, and verifying or rejecting it records the decision on both the document and that link:
driver compliance reads the link, the verification task and vehicle compliance the document.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from fleetcore.core.errors import Problem, ValidationProblem
from fleetcore.documents import api as documents_api
from fleetcore.documents import service as documents_service
from fleetcore.documents.api import document_storage, link_signer
from fleetcore.documents.filters import DocumentFilter, DocumentSort
from fleetcore.documents.models import Document, DocumentEntityType, DocumentType
from fleetcore.documents.permissions import DocumentsRead, DocumentsWrite
from fleetcore.documents.schemas import DocumentUpload
from fleetcore.drivers import queries as drivers_queries
from fleetcore.drivers import service as drivers_service
from fleetcore.drivers import verification_service
from fleetcore.drivers.models import DocumentRequirement
from fleetcore.drivers.schemas import DriverDocumentAttach
from fleetcore.fleet import queries as fleet_queries
from fleetcore.settings import Settings
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    optional,
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
    uuid_value,
)

router = page_router()

STATUSES = [("pending", N_("Waiting for verification")), ("verified", N_("Verified")),
            ("rejected", N_("Rejected")), ("expired", N_("Expired"))]
FIELDS = ("subject", "document_type", "document_number", "issued_on", "expires_on", "notes",
          "requirement")


def entity_labels(c: Console, documents: Collection[Document]) -> dict[uuid.UUID, str]:
    """What each document is about (a vehicle's plate, a driver's name): two queries."""
    labels = fleet_queries.vehicle_labels(
        c.session, c.tenant.id, {d.entity_id for d in documents if d.entity_type == "vehicle"})
    labels.update(drivers_queries.driver_names(
        c.session, c.tenant.id, {d.entity_id for d in documents if d.entity_type == "driver"}))
    return labels


def _status_filter(status: str | None) -> dict[str, Any]:
    if not status:
        return {}
    mapping: dict[str, dict[str, Any]] = {
        "pending": {"verified": False, "rejected": False}, "verified": {"verified": True},
        "rejected": {"rejected": True}, "expired": {"expired": True}}
    if status not in mapping:
        raise BadLink(f"{status!r} is not a document status the console knows.")
    return mapping[status]


def _list_filter(status: str | None, document_type: str | None, entity_type: str | None,
                 entity_id: str | None, expiring: int | None) -> DocumentFilter:
    return DocumentFilter(
        entity_type=enum_value(DocumentEntityType, entity_type, "subject"),
        entity_id=uuid_value(entity_id, "subject"),
        document_type=enum_value(DocumentType, document_type, "document type"),
        expiring_within_days=expiring if expiring and 0 < expiring <= 3650 else None,
        sort=DocumentSort.NEWEST, **_status_filter(status))


@router.get("/documents")
def document_list(
    c: Ctx, _: DocumentsRead, status: str | None = None, document_type: str | None = None,
    entity_type: str | None = None, entity_id: str | None = None,
    expiring: int | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """Documents, newest first: what waits for verification, what expires soon."""
    spec = _list_filter(status, document_type, entity_type, entity_id, expiring)
    documents, next_cursor = documents_service.list_documents(c.session, c.actor, page(cursor),
                                                              spec)
    params = {"status": status, "document_type": spec.document_type,
              "entity_type": spec.entity_type, "entity_id": spec.entity_id,
              "expiring": spec.expiring_within_days}
    return c.render("documents/list.html", documents=documents, next_cursor=next_cursor,
                    labels=entity_labels(c, documents), params=params, statuses=STATUSES,
                    types=options(DocumentType))


@router.get("/documents/export.csv")
def document_export(
    c: Ctx, _: DocumentsRead, status: str | None = None, document_type: str | None = None,
    entity_type: str | None = None, entity_id: str | None = None, expiring: int | None = None,
) -> Response:
    """The filtered documents as the API's CSV (``GET /v1/documents/export.csv``)."""
    spec = _list_filter(status, document_type, entity_type, entity_id, expiring)
    return documents_api.export_documents(c.actor, c.session, spec)


# --- upload --------------------------------------------------------------------------------


def _form(c: Console, state: FormState, status_code: int = 200) -> HTMLResponse:
    return c.render(
        "documents/form.html", status_code=status_code, state=state,
        vehicles=fleet_queries.vehicle_choices(c.session, c.tenant.id, status=None),
        drivers=drivers_queries.driver_choices(c.session, c.tenant.id, status=None),
        types=options(DocumentType), requirements=options(DocumentRequirement))


@router.get("/documents/new")
def new_document(c: Ctx, _: DocumentsWrite, entity_type: str | None = None,
                 entity_id: str | None = None) -> HTMLResponse:
    """The upload form (its subject preselected from a vehicle's or driver's page)."""
    subject = ""
    if entity_type in ("vehicle", "driver") and uuid_value(entity_id, "subject"):
        subject = f"{entity_type}:{entity_id}"
    return _form(c, FormState(values={"subject": subject, "requirement": "required"}))


def _settings(c: Console) -> Settings:
    settings: Settings = c.request.app.state.settings
    return settings


@router.post("/documents")
def upload_document(c: Ctx, _: DocumentsWrite, form: Form) -> Response:
    """Store the file and its metadata (a driver's document is attached to the driver)."""
    state = FormState(values=text_values(form, FIELDS))
    upload = form.get("file")
    entity_type, _sep, raw_id = state.value("subject").partition(":")
    values = optional(state.values, "document_number", "issued_on", "expires_on", "notes")
    data: dict[str, Any] = {k: v for k, v in values.items()
                            if k not in ("subject", "requirement") and v is not None}
    data.update(entity_type=entity_type or None, entity_id=raw_id or None)
    if not state.value("subject"):
        state.add("subject", gettext("choose the vehicle or driver the document is about"))
    if not isinstance(upload, UploadFile) or not upload.filename:
        state.add("file", gettext("choose a file (PDF, JPEG, PNG, WebP or HEIC)"))
    try:
        body = build(DocumentUpload, data, state)
        assert isinstance(upload, UploadFile)
        document = attempt(c.session, lambda: _store(c, body, upload, state))
    except FormInvalid:
        return _form(c, state, 422)
    except Problem as problem:
        if problem.errors and problem.errors[0].get("field") == "entity_id":
            problem.errors = [{"field": "subject", "message": problem.errors[0]["message"]}]
        return _form(c, apply_problem(state, problem), problem.status)
    where = f"/app/{document.entity_type}s/{document.entity_id}#documents"
    return redirect(c.request, where, flash=gettext("%(file_name)s uploaded: it now waits for "
                                                    "verification.", file_name=document.file_name))


def _store(c: Console, data: DocumentUpload, upload: UploadFile, state: FormState) -> Document:
    document = documents_service.upload_document(
        c.session, c.actor, document_storage(c.request), data=data, file=upload.file,
        file_name=upload.filename, declared_type=upload.content_type,
        max_bytes=_settings(c).document_max_bytes)
    if data.entity_type is DocumentEntityType.DRIVER:
        requirement = state.value("requirement") or DocumentRequirement.REQUIRED.value
        try:
            attach = DriverDocumentAttach(document_id=document.id,
                                          requirement=DocumentRequirement(requirement))
        except ValueError as exc:
            raise ValidationProblem(gettext("Choose whether the document is required."), errors=[
                {"field": "requirement", "message": gettext("not a requirement")}]) from exc
        drivers_service.attach_document(c.session, c.actor, data.entity_id, data=attach)
    return document


# --- decisions -----------------------------------------------------------------------------


def _decided(c: Console, document: Document, message: str, error: str | None) -> Response:
    if c.is_htmx:
        return c.render("documents/_row.html", d=document, labels=entity_labels(c, [document]),
                        row_error=error)
    back = c.request.headers.get("referer") or "/app/documents"
    base = str(c.request.base_url).rstrip("/")
    target = back[len(base):] if back.startswith(base) else "/app/documents"
    return redirect(c.request, target, flash=error or message)


@router.post("/documents/{document_id}/verify")
def verify_document(c: Ctx, _: DocumentsWrite, document_id: uuid.UUID, form: Form) -> Response:
    """Record that the document was checked (and its driver's copy, when attached)."""
    document = documents_service.get_document(c.session, c.actor, document_id)

    def verify() -> Document:
        return verification_service.verify_any_document(
            c.session, c.actor, document_id,
            if_match=form_if_match(form.get("version"), "document"))

    try:
        document = attempt(c.session, verify)
    except Problem as problem:
        return _decided(c, document, "", gettext("Not verified: %(detail)s", detail=problem.detail))
    return _decided(c, document, f"{document.file_name} verified.", None)


@router.post("/documents/{document_id}/reject")
def reject_document(c: Ctx, _: DocumentsWrite, document_id: uuid.UUID, form: Form) -> Response:
    """Refuse the document with a reason (and its driver's copy, when attached)."""
    document = documents_service.get_document(c.session, c.actor, document_id)
    reason = str(form.get("reason") or "").strip()

    def reject() -> Document:
        if not reason:
            raise ValidationProblem(gettext("Say why the document is rejected."),
                                    errors=[{"field": "reason", "message": "required"}])
        return verification_service.reject_any_document(
            c.session, c.actor, document_id, reason=reason,
            if_match=form_if_match(form.get("version"), "document"))

    try:
        document = attempt(c.session, reject)
    except Problem as problem:
        return _decided(c, document, "", gettext("Not rejected: %(detail)s", detail=problem.detail))
    return _decided(c, document, f"{document.file_name} rejected.", None)


@router.get("/documents/{document_id}/download")
def download_document(c: Ctx, _: DocumentsRead, document_id: uuid.UUID) -> Response:
    """Open the file through a short-lived signed link."""
    link = documents_service.create_download_link(
        c.session, c.actor, document_storage(c.request), link_signer(c.request), document_id,
        ttl_seconds=_settings(c).document_link_ttl_seconds)
    return RedirectResponse(link.url, status_code=303)

