"""``/v1/documents`` endpoints and the public ``/files/<token>`` download route.

The storage backend is chosen at start-up (``app.state.document_storage``, set by the app
factory from ``STORAGE_BACKEND``) and reaches the service through :func:`document_storage`.
``/files/<token>`` is public on purpose: the signed token *is* the authorisation (tenant,
document, expiry, HMAC); it is refused with a 403 problem when expired or altered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi import status as http_status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError

from fleetcore.core.db import DbContext, context_session
from fleetcore.core.deps import DbSession
from fleetcore.core.errors import problem_response
from fleetcore.core.export import attribute_columns, csv_response, csv_responses
from fleetcore.core.keys import secret_key
from fleetcore.core.resource import ResourceRoutes
from fleetcore.documents import service
from fleetcore.documents.filters import DocumentFilter, DocumentSort
from fleetcore.documents.models import DocumentEntityType, DocumentType
from fleetcore.documents.permissions import DocumentsRead, DocumentsWrite
from fleetcore.documents.schemas import (
    DocumentOut,
    DocumentUpdate,
    DocumentUpload,
    DownloadLinkOut,
)
from fleetcore.documents.storage import DocumentStorage, LocalStorage
from fleetcore.settings import Settings

router = APIRouter(prefix="/v1")
files_router = APIRouter()

TAG = "documents"
# Multipart framing and form fields around the file: a Content-Length above the file limit
# plus this is refused before the body is read.
_MULTIPART_OVERHEAD = 64 * 1024


# --- dependencies --------------------------------------------------------------------------


def local_storage_for(settings: Settings) -> LocalStorage:
    """The local-disk backend under ``<FLEETCORE_DATA_DIR>/documents``."""
    return LocalStorage(settings.fleetcore_data_dir / "documents")


def document_storage(request: Request) -> DocumentStorage:
    """The document storage backend chosen at start-up."""
    state = request.app.state
    storage: DocumentStorage | None = getattr(state, "document_storage", None)
    if storage is None:
        storage = local_storage_for(state.settings)
        state.document_storage = storage
    return storage


def link_secret(settings: Settings) -> bytes:
    """``DOCUMENT_LINK_SECRET``, or a random key kept (0600) under the data dir."""
    return secret_key(settings.document_link_secret, settings.fleetcore_data_dir, "document-links")


def link_signer(request: Request) -> service.DownloadLinkSigner:
    """The signer of ``/files/<token>`` links (its key read once per process)."""
    state = request.app.state
    signer: service.DownloadLinkSigner | None = getattr(state, "document_link_signer", None)
    if signer is None:
        signer = service.DownloadLinkSigner(link_secret(state.settings))
        state.document_link_signer = signer
    return signer


Storage = Annotated[DocumentStorage, Depends(document_storage)]
Signer = Annotated[service.DownloadLinkSigner, Depends(link_signer)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(_settings)]


class UploadLimitRoute(APIRoute):
    """Refuses a request whose ``Content-Length`` is far above the file limit before its body
    is read and spooled (the service still counts the bytes of every upload)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            length = request.headers.get("content-length", "")
            limit = settings.document_max_bytes
            if length.isdigit() and int(length) > limit + _MULTIPART_OVERHEAD:
                problem = service.PayloadTooLarge(
                    f"The file is larger than the limit of {limit} bytes.",
                    errors=[{"field": "file", "message": f"larger than {limit} bytes"}],
                    max_bytes=limit,
                )
                return problem_response(problem, request)
            return await handler(request)

        return limited


# --- list, export, get ---------------------------------------------------------------------


def document_filter(
    entity_type: DocumentEntityType | None = None,
    entity_id: uuid.UUID | None = None,
    document_type: DocumentType | None = None,
    verified: bool | None = None,
    rejected: bool | None = None,
    expired: Annotated[bool | None, Query(description="Expired before today (tenant's day).")]
    = None,
    expiring_before: Annotated[date | None, Query(description="Expires before this day.")]
    = None,
    expiring_within_days: Annotated[
        int | None,
        Query(ge=0, le=3650, description="Still valid today and expiring within N days."),
    ] = None,
    include_deleted: bool = False,
    sort: DocumentSort = DocumentSort.CREATED,
) -> DocumentFilter:
    """The list filters of the query string."""
    return DocumentFilter(
        entity_type=entity_type.value if entity_type else None, entity_id=entity_id,
        document_type=document_type.value if document_type else None, verified=verified,
        rejected=rejected, expired=expired, expiring_before=expiring_before,
        expiring_within_days=expiring_within_days, include_deleted=include_deleted, sort=sort,
    )


Filters = Annotated[DocumentFilter, Depends(document_filter)]


_documents = ResourceRoutes(router, "documents", "document_id", "document", [TAG], DocumentOut,
                            DocumentOut.model_validate, DocumentsRead, DocumentsWrite)
_documents.listing("List documents (filters, expiry tracking)", Filters, service.list_documents,
                   page_first=True)


_CSV_COLUMNS = attribute_columns(
    "id", "entity_type", "entity_id", "document_type", "document_number", "file_name",
    "mime_type", "size_bytes", "sha256", "issued_on", "expires_on", "verified", "verified_at",
    "rejection_reason", "created_at", "deleted_at")


@router.get("/documents/export.csv", tags=[TAG], summary="Export the filtered documents as CSV",
            response_class=StreamingResponse,
            responses=csv_responses(_CSV_COLUMNS))
def export_documents(actor: DocumentsRead, session: DbSession, filters: Filters) -> Response:
    statement = service.documents_query(session, actor, filters)
    return csv_response(session, statement.order_by(service.document_order(filters)),
                        _CSV_COLUMNS, filename="documents.csv")


_documents.get("Get a document's metadata", service.get_document)


# --- upload --------------------------------------------------------------------------------


def upload_document(
    actor: DocumentsWrite,
    session: DbSession,
    storage: Storage,
    settings: AppSettings,
    file: Annotated[UploadFile, File(description="PDF, JPEG, PNG, WebP or HEIC; judged on its "
                                                 "content, at most DOCUMENT_MAX_BYTES.")],
    entity_type: Annotated[DocumentEntityType, Form()],
    entity_id: Annotated[uuid.UUID, Form()],
    document_type: Annotated[DocumentType, Form()],
    document_number: Annotated[str | None, Form(max_length=100)] = None,
    issued_on: Annotated[date | None, Form()] = None,
    expires_on: Annotated[date | None, Form()] = None,
    notes: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    try:
        data = DocumentUpload(
            entity_type=entity_type, entity_id=entity_id, document_type=document_type,
            document_number=document_number, issued_on=issued_on, expires_on=expires_on,
            notes=notes,
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "expires_on") if not e["loc"] else ("body", *e["loc"])}
             for e in exc.errors()]
        ) from exc
    document = service.upload_document(
        session, actor, storage, data=data, file=file.file, file_name=file.filename,
        declared_type=file.content_type, max_bytes=settings.document_max_bytes,
    )
    return _documents.answer(document, http_status.HTTP_201_CREATED,
                             Location=f"/v1/documents/{document.id}")


router.add_api_route(
    "/documents", upload_document, methods=["POST"], tags=[TAG], response_model=DocumentOut,
    status_code=http_status.HTTP_201_CREATED, summary="Upload a document for an entity",
    route_class_override=UploadLimitRoute,
    responses={413: {"description": "The file is larger than the limit."}},
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
        "file": "permis-karim-benali.pdf", "entity_type": "driver",
        "entity_id": "0195f3c2-7a10-7000-8000-000000000002", "document_type": "driver_licence",
        "document_number": "120475200123", "issued_on": "2010-06-01",
        "expires_on": "2033-06-01",
    }}}}},
)


# --- update, delete, restore ---------------------------------------------------------------


_documents.update("Update a document's metadata", DocumentUpdate, service.update_document)
_documents.delete("Delete a document (soft: restorable)", service.delete_document)
_documents.restore("Restore a deleted document", service.restore_document)
# verify and reject: fleetcore.drivers.document_decisions_api (a driver's attached document is
# decided with its link, one decision for both; the drivers' domain sits above this one).


# --- download ------------------------------------------------------------------------------


@router.get("/documents/{document_id}/download-link", tags=[TAG],
            summary="A short-lived link that downloads the file")
def download_link(
    actor: DocumentsRead, session: DbSession, document_id: uuid.UUID, storage: Storage,
    signer: Signer, settings: AppSettings,
) -> DownloadLinkOut:
    link = service.create_download_link(session, actor, storage, signer, document_id,
                                        ttl_seconds=settings.document_link_ttl_seconds)
    return DownloadLinkOut(url=link.url, expires_at=link.expires_at)


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266/5987)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


@files_router.get(
    "/files/{token}", tags=[TAG], summary="Download a file through a signed link (public)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {t: {} for t in sorted(service.ALLOWED_MIME_TYPES)},
              "description": "The file."},
        403: {"description": "The link is expired or not valid."},
        404: {"description": "The document no longer exists."},
    },
)
def download_file(
    request: Request, token: str, storage: Storage, signer: Signer,
) -> Response:
    target = service.verify_download_token(signer, token)
    context = DbContext.for_tenant(target.tenant_id,
                                   request_id=getattr(request.state, "request_id", None))
    with context_session(request.app.state.sessions, context) as session:
        document = service.linked_document(session, target)
        session.expunge(document)
    chunks = service.open_document_file(storage, document)
    return StreamingResponse(chunks, media_type=document.mime_type, headers={
        "Content-Disposition": content_disposition(document.file_name),
        "Content-Length": str(document.size_bytes),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{document.sha256}"',
    })


__all__ = ["document_storage", "files_router", "link_signer", "local_storage_for", "router"]
