"""Documents: upload (limits, content sniffing, sha256), metadata, verification, expiry and
signed download links.

Every function runs in the caller's transaction with the tenant already bound (it may flush,
never commits). File bytes go through a :class:`~fleetcore.documents.storage.DocumentStorage`
handed in by the caller, so this module knows no backend.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, cast

import filetype
import jwt
from sqlalchemy import Select, column, exists, select, table, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import (
    CHECK_VIOLATION,
    ConstraintProblem,
    Forbidden,
    NotFound,
    Problem,
    ServiceUnavailable,
    ValidationProblem,
)
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.resource import Rows
from fleetcore.core.versioning import refresh_version
from fleetcore.documents.filters import DocumentFilter, DocumentSort, apply_document_filter
from fleetcore.documents.models import Document, DocumentEntityType
from fleetcore.documents.schemas import DocumentUpdate, DocumentUpload
from fleetcore.documents.storage import (
    CHUNK_SIZE,
    DocumentStorage,
    StorageError,
    StoredObjectMissing,
    document_key,
)
from fleetcore.tasks.system import close_system_task, ensure_task

ALLOWED_MIME_TYPES: frozenset[str] = frozenset(
    {"application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic"}
)
"""What a document file may be, judged on its content."""

# Declared types that say nothing about the content: the sniffed type alone decides.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_TYPE_ALIASES = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/heif": "image/heic",
    "image/heic-sequence": "image/heic", "application/x-pdf": "application/pdf",
}
# Enough of the file's start for every signature filetype knows (it reads 8 KiB at most).
_SNIFF_BYTES = 8192
_SPOOL_IN_MEMORY = 1024 * 1024

# Each entity type that is a table: where its rows live (all tenant-owned, soft-deletable).
# "contract" is a driver's contract (cooperation terms): crm_contracts is Fleetcore's own.
ENTITY_TABLES: dict[str, str] = {
    DocumentEntityType.VEHICLE: "flt_vehicles",
    DocumentEntityType.DRIVER: "rid_drivers",
    DocumentEntityType.MEMBER: "adm_members",
    DocumentEntityType.CONTRACT: "rid_driver_cooperation_terms",
    DocumentEntityType.INSURANCE: "flt_vehicle_insurances",
    DocumentEntityType.MAINTENANCE: "flt_vehicle_maintenance",
    DocumentEntityType.EXPENSE: "flt_vehicle_expenses",
    DocumentEntityType.FINE: "fin_traffic_fines",
    DocumentEntityType.INVOICE: "trp_client_invoices",
}

# Fields whose change alters what a verifier checked: changing them withdraws the verification.
_VERIFIED_FIELDS = ("document_type", "document_number", "issued_on", "expires_on")


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "The upload is too large"


class InvalidDownloadLink(Forbidden):
    slug, title = "invalid-download-link", "The download link is not valid"


# --- helpers -------------------------------------------------------------------------------


def tenant_today(session: Session, tenant_id: uuid.UUID) -> date:
    """Today's date in the tenant's time zone."""
    today: date | None = session.scalar(
        text("SELECT (now() AT TIME ZONE timezone)::date FROM adm_tenants WHERE id = :id"),
        {"id": tenant_id},
    )
    return today if today is not None else datetime.now(UTC).date()


_CONSTRAINTS: dict[str, ConstraintProblem] = {
    "expires": ConstraintProblem("expires_on", "The document breaks a rule of the data model.",
                                 ValidationProblem),
    CHECK_VIOLATION: ConstraintProblem("document", "The document breaks a rule of the data model.",
                                       ValidationProblem),
}
"""CHECK violations are 422s (the schema checks first, so this is a backstop)."""


_rows = Rows(_CONSTRAINTS)
_flush_checked = _rows.flush


def clean_file_name(name: str | None) -> str:
    """The display name of an uploaded file: its last path part, printable, ≤ 255 characters."""
    raw = unicodedata.normalize("NFC", name or "")
    base = PureWindowsPath(PurePosixPath(raw).name).name
    printable = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    printable = printable.lstrip(".") or "document"
    if len(printable) > 255:
        _stem, dot, suffix = printable.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        printable = printable[: 255 - len(keep) - (1 if keep else 0)] + (f".{keep}" if keep else "")
    return printable


def _normalised_type(declared: str | None) -> str:
    value = (declared or "").split(";", 1)[0].strip().lower()
    return _TYPE_ALIASES.get(value, value)


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """An upload read to its end: where its bytes are now, and what they are."""

    spool: BinaryIO
    size: int
    sha256: str
    mime_type: str


def receive_file(stream: BinaryIO, *, max_bytes: int, declared_type: str | None) -> ReceivedFile:
    """Copy ``stream`` to a temporary spool, hashing it and refusing it past ``max_bytes`` or
    when its content (magic bytes) is not an allowed type or contradicts ``declared_type``."""
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY))  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        while chunk := stream.read(CHUNK_SIZE):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"The file is larger than the limit of {max_bytes} bytes.",
                    errors=[{"field": "file", "message": f"larger than {max_bytes} bytes"}],
                    max_bytes=max_bytes,
                )
            if len(head) < _SNIFF_BYTES:
                head += chunk[: _SNIFF_BYTES - len(head)]
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise ValidationProblem("The file is empty.",
                                    errors=[{"field": "file", "message": "empty file"}])
        kind = filetype.guess(head)
        sniffed = _normalised_type(kind.mime if kind is not None else None)
        if sniffed not in ALLOWED_MIME_TYPES:
            allowed = ", ".join(sorted(ALLOWED_MIME_TYPES))
            raise ValidationProblem(
                f"The file's content is not one of the accepted types ({allowed}).",
                errors=[{"field": "file", "message": f"content is {sniffed or 'unknown'}, "
                                                     f"accepted: {allowed}"}],
            )
        declared = _normalised_type(declared_type)
        if declared not in _GENERIC_TYPES and declared != sniffed:
            raise ValidationProblem(
                f"The file was sent as {declared} but its content is {sniffed}.",
                errors=[{"field": "file",
                         "message": f"declared {declared}, content is {sniffed}"}],
            )
        spool.seek(0)
        return ReceivedFile(spool, size, digest.hexdigest(), sniffed)
    except BaseException:
        spool.close()
        raise


def _check_entity(
    session: Session, tenant_id: uuid.UUID, entity_type: str, entity_id: uuid.UUID
) -> None:
    """404 unless the entity exists, live, in the actor's tenant (RLS hides other tenants)."""
    if entity_type == DocumentEntityType.TENANT:
        found = entity_id == tenant_id
    else:
        target = table(ENTITY_TABLES[entity_type], column("tenant_id"), column("id"),
                       column("deleted_at"))
        found = bool(session.scalar(select(exists().where(
            target.c.tenant_id == tenant_id, target.c.id == entity_id,
            target.c.deleted_at.is_(None),
        ))))
    if not found:
        raise NotFound(
            f"No {entity_type} {entity_id} in this fleet.",
            errors=[{"field": "entity_id", "message": f"no such {entity_type}"}],
        )


def _check_backend(document: Document, storage: DocumentStorage) -> None:
    if document.storage_backend != storage.backend:
        raise ServiceUnavailable(
            f"This document is stored in the {document.storage_backend!r} backend; this server "
            f"uses {storage.backend!r} (STORAGE_BACKEND)."
        )


def _storage_problem(exc: StorageError) -> Problem:
    if isinstance(exc, StoredObjectMissing):
        return NotFound("The document's file is missing from storage.")
    return ServiceUnavailable(f"The document storage is unavailable: {exc}")


# --- commands and queries ------------------------------------------------------------------


def upload_document(
    session: Session,
    actor: Actor,
    storage: DocumentStorage,
    *,
    data: DocumentUpload,
    file: BinaryIO,
    file_name: str | None,
    declared_type: str | None,
    max_bytes: int,
) -> Document:
    """Store an uploaded file for an entity of the actor's tenant and record its metadata."""
    tenant_id = tenant_of(actor)
    _check_entity(session, tenant_id, data.entity_type, data.entity_id)
    received = receive_file(file, max_bytes=max_bytes, declared_type=declared_type)
    document = Document(
        id=new_id(), tenant_id=tenant_id, entity_type=data.entity_type.value,
        entity_id=data.entity_id,
        document_type=data.document_type.value, document_number=data.document_number,
        file_name=clean_file_name(file_name), storage_backend=storage.backend,
        storage_key="", mime_type=received.mime_type, size_bytes=received.size,
        sha256=received.sha256, issued_on=data.issued_on, expires_on=data.expires_on,
        notes=data.notes, verified=False, created_by=actor.id, updated_by=actor.id,
    )
    key = document_key(tenant_id, document.id)
    try:
        with received.spool:
            document.storage_key = storage.put(key, received.spool, received.mime_type)
    except StorageError as exc:
        raise _storage_problem(exc) from exc
    session.add(document)
    try:
        _flush_checked(session)
    except BaseException:
        storage.delete(key)  # the row is not there: the file would be an orphan
        raise
    ensure_task(
        session, tenant_id=tenant_id, dedup_key=_verification_task_key(document.id),
        title=f"Verify {document.document_type.replace('_', ' ')} {document.file_name}",
        task_type="document_verification", related_entity_type="document",
        related_entity_id=document.id,
    )
    session.refresh(document)
    return document


def _verification_task_key(document_id: uuid.UUID) -> str:
    """The dedup key of the staff task asking to verify a new document."""
    return f"document_verification:{document_id}"


get_document = _rows.getter(Document, "document")


def documents_query(session: Session, actor: Actor, spec: DocumentFilter) -> Select[Any]:
    """The tenant's documents matching ``spec`` (list and CSV export); the tenant's day is read
    only when a filter speaks of expiry."""
    tenant_id = tenant_of(actor)
    needs_today = spec.expired is not None or spec.expiring_within_days is not None
    today = tenant_today(session, tenant_id) if needs_today else datetime.now(UTC).date()
    return apply_document_filter(
        select(Document).where(Document.tenant_id == tenant_id), spec, today=today)


def document_order(spec: DocumentFilter) -> Any:
    """The order of the list and its export (``spec.sort``)."""
    return Document.id.desc() if spec.sort is DocumentSort.NEWEST else Document.id.asc()


def list_documents(
    session: Session, actor: Actor, params: PageParams, spec: DocumentFilter
) -> tuple[list[Document], str | None]:
    """The tenant's documents matching ``spec``, one page in ``spec.sort`` order."""
    return keyset_page(session, documents_query(session, actor, spec), [Document.id], params,
                       descending=spec.sort is DocumentSort.NEWEST)


def update_document(
    session: Session, actor: Actor, document_id: uuid.UUID, *, data: DocumentUpdate,
    if_match: str | None = None,
) -> Document:
    """Change a document's metadata; changing what was verified withdraws the verification."""
    document = get_document(session, actor, document_id, if_match=if_match)
    changes: dict[str, Any] = {
        name: getattr(data, name) for name in data.model_fields_set
    }
    for name in ("document_type",):
        if changes.get(name) is None and name in changes:
            raise ValidationProblem(f"{name} cannot be null.",
                                    errors=[{"field": name, "message": "cannot be null"}])
        if name in changes:
            changes[name] = changes[name].value
    issued = changes.get("issued_on", document.issued_on)
    expires = changes.get("expires_on", document.expires_on)
    if issued is not None and expires is not None and expires < issued:
        raise ValidationProblem("expires_on must not be before issued_on.", errors=[
            {"field": "expires_on", "message": "before issued_on"}])
    touched = [n for n in _VERIFIED_FIELDS if n in changes and changes[n] != getattr(document, n)]
    for name, value in changes.items():
        setattr(document, name, value)
    if touched and document.verified:
        document.verified, document.verified_at, document.verified_by = False, None, None
    return _rows.save(session, actor, document)


delete_document = _rows.deleter(Document, "document")
"""Soft-delete a document (its file is kept so that it can be restored)."""


def restore_document(session: Session, actor: Actor, document_id: uuid.UUID) -> Document:
    """Bring a soft-deleted document back (a live one is returned unchanged)."""
    document = get_document(session, actor, document_id, include_deleted=True)
    if document.mark_restored(actor.id):
        _rows.refresh(session, document)
    return document


def verify_document(
    session: Session, actor: Actor, document_id: uuid.UUID, *, if_match: str | None = None
) -> Document:
    """Record that the actor checked the document (clears an earlier rejection)."""
    document = get_document(session, actor, document_id, if_match=if_match)
    if document.verified:
        return document
    document.verified = True
    document.verified_at = datetime.now(UTC)
    document.verified_by = actor.id
    document.rejected_at = document.rejection_reason = document.rejected_by = None
    document.updated_by = actor.id
    refresh_version(session, document)
    close_system_task(session, tenant_id=document.tenant_id,
                      dedup_key=_verification_task_key(document.id))
    return document


def reject_document(
    session: Session, actor: Actor, document_id: uuid.UUID, *, reason: str,
    if_match: str | None = None,
) -> Document:
    """Refuse the document with a reason (withdraws an earlier verification)."""
    document = get_document(session, actor, document_id, if_match=if_match)
    if not reason.strip():
        raise ValidationProblem("A rejection needs a reason.",
                                errors=[{"field": "reason", "message": "required"}])
    if document.rejected_at is not None and document.rejection_reason == reason:
        return document
    document.verified, document.verified_at, document.verified_by = False, None, None
    document.rejected_at = datetime.now(UTC)
    document.rejection_reason = reason
    document.rejected_by = actor.id
    document.updated_by = actor.id
    refresh_version(session, document)
    close_system_task(session, tenant_id=document.tenant_id,
                      dedup_key=_verification_task_key(document.id))
    return document


# --- signed download links -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadLink:
    """A URL that serves one document's file until ``expires_at``."""

    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a valid download token names."""

    tenant_id: uuid.UUID
    document_id: uuid.UUID


class DownloadLinkSigner:
    """Signs and checks ``/files/<token>`` tokens: HS256 JWTs naming tenant, document and expiry.

    The token is the whole authorisation of the download, so it is short-lived and bound to one
    document; a changed byte or a passed expiry makes it worthless.
    """

    AUDIENCE = "fleetcore:document-file"

    def __init__(self, secret: bytes) -> None:
        # A fixed-length key whatever the configured secret's length.
        self._key = hashlib.sha256(b"fleetcore document links\0" + secret).digest()

    def sign(self, tenant_id: uuid.UUID, document_id: uuid.UUID, *, ttl_seconds: int,
             now: datetime | None = None) -> tuple[str, datetime]:
        """A token for the document and its expiry instant."""
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + timedelta(seconds=ttl_seconds)
        token = jwt.encode(
            {"tid": str(tenant_id), "did": str(document_id), "aud": self.AUDIENCE,
             "iat": issued, "exp": expires},
            self._key, algorithm="HS256",
        )
        return token, expires

    def verify(self, token: str) -> LinkTarget:
        """The document a token names; 403 when it is expired, altered or not ours."""
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=self.AUDIENCE,
                                options={"require": ["exp", "aud", "tid", "did"]})
            return LinkTarget(uuid.UUID(str(claims["tid"])), uuid.UUID(str(claims["did"])))
        except jwt.ExpiredSignatureError as exc:
            raise InvalidDownloadLink("The download link has expired: ask for a new one.") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise InvalidDownloadLink("The download link is not valid.") from exc


_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def create_download_link(
    session: Session, actor: Actor, storage: DocumentStorage, signer: DownloadLinkSigner,
    document_id: uuid.UUID, *, ttl_seconds: int,
) -> DownloadLink:
    """A short-lived link to the document's file: the backend's own, or a Fleetcore-signed one."""
    document = get_document(session, actor, document_id)
    _check_backend(document, storage)
    try:
        url = storage.signed_url(document.storage_key, ttl_seconds,
                                 file_name=document.file_name, content_type=document.mime_type)
    except StorageError as exc:
        raise _storage_problem(exc) from exc
    if url is not None:
        return DownloadLink(url, datetime.now(UTC) + timedelta(seconds=ttl_seconds))
    token, expires = signer.sign(document.tenant_id, document.id, ttl_seconds=ttl_seconds)
    return DownloadLink(f"/files/{token}", expires)


def verify_download_token(signer: DownloadLinkSigner, token: str) -> LinkTarget:
    """The tenant and document a download token names; 403 when it is not a valid token."""
    if not _TOKEN_SHAPE.fullmatch(token):
        raise InvalidDownloadLink("The download link is not valid.")
    return signer.verify(token)


def linked_document(session: Session, target: LinkTarget) -> Document:
    """The live document a valid token names (the session is bound to its tenant), or 404."""
    document = session.scalar(select(Document).where(
        Document.tenant_id == target.tenant_id, Document.id == target.document_id,
        Document.deleted_at.is_(None),
    ))
    if document is None:
        raise NotFound("The document of this link no longer exists.")
    return document


def open_document_file(storage: DocumentStorage, document: Document) -> Iterator[bytes]:
    """The chunks of the document's file (503/404 problems for storage failures)."""
    _check_backend(document, storage)
    try:
        return storage.open(document.storage_key)
    except StorageError as exc:
        raise _storage_problem(exc) from exc


__all__ = [
    "ALLOWED_MIME_TYPES",
    "ENTITY_TABLES",
    "DownloadLink",
    "DownloadLinkSigner",
    "InvalidDownloadLink",
    "LinkTarget",
    "PayloadTooLarge",
    "ReceivedFile",
    "clean_file_name",
    "create_download_link",
    "delete_document",
    "get_document",
    "linked_document",
    "list_documents",
    "open_document_file",
    "receive_file",
    "reject_document",
    "restore_document",
    "tenant_today",
    "update_document",
    "upload_document",
    "verify_document",
    "verify_download_token",
]
