"""Verifying and rejecting drivers' documents: one decision, recorded on both records.

A document about a driver lives in the documents domain (``doc_documents``: the documents
list, vehicle compliance and the "verify this document" task read it) and, once attached, in
the driver's requirements (``rid_driver_documents``: driver compliance reads it). Whichever
endpoint takes the decision — ``/v1/documents/{id}/verify``, ``/v1/drivers/{id}/documents/
{id}/verify`` or the console — it goes through here and is recorded on both, under the driver
rules (an expired or deleted document cannot be verified).

A module of its own because it sits above both services; the documents API's verify and
reject operations are declared with it (``drivers.document_decisions_api``), since the
documents domain sits below the drivers' (decision 0023).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.errors import Conflict
from fleetcore.core.versioning import refresh_version
from fleetcore.documents import service as documents_service
from fleetcore.documents.models import Document, DocumentEntityType
from fleetcore.drivers.models import DriverDocument, VerificationStatus
from fleetcore.drivers.service import driver_document

__all__ = [
    "reject_any_document",
    "reject_driver_document",
    "verify_any_document",
    "verify_driver_document",
]


def verify_driver_document(
    session: Session, actor: Actor, driver_id: uuid.UUID, document_id: uuid.UUID, *,
    if_match: str | None = None,
) -> tuple[DriverDocument, Document]:
    """Mark the driver's document verified (refused when it is expired or deleted).

    One decision, recorded on both records whichever endpoint takes it: the link (driver
    compliance reads it) and the document (the documents list, vehicle compliance and the
    "verify this document" task read it). ``if_match`` is the document's ETag.
    """
    link, doc = driver_document(session, actor, driver_id, document_id)
    if doc.deleted_at is not None:
        raise Conflict("The document was deleted: attach its replacement instead.")
    if doc.expires_on is not None and doc.expires_on < datetime.now(UTC).date():
        raise Conflict(f"The document expired on {doc.expires_on.isoformat()}: "
                       "it cannot be verified.")
    doc = documents_service.verify_document(session, actor, document_id, if_match=if_match)
    link.verification_status = VerificationStatus.VERIFIED.value
    link.verified_by = actor.id
    link.verified_at = datetime.now(UTC)
    link.rejection_reason = None
    link.updated_by = actor.id
    refresh_version(session, link)
    return link, doc


def reject_driver_document(
    session: Session, actor: Actor, driver_id: uuid.UUID, document_id: uuid.UUID, *,
    reason: str, if_match: str | None = None,
) -> tuple[DriverDocument, Document]:
    """Reject the driver's document with a reason (the driver must provide another), on the
    link and the document alike (see :func:`verify_driver_document`)."""
    link, _ = driver_document(session, actor, driver_id, document_id)
    doc = documents_service.reject_document(session, actor, document_id, reason=reason,
                                            if_match=if_match)
    link.verification_status = VerificationStatus.REJECTED.value
    link.verified_by = actor.id
    link.verified_at = datetime.now(UTC)
    link.rejection_reason = reason
    link.updated_by = actor.id
    refresh_version(session, link)
    return link, doc


def _attached_driver(session: Session, document: Document) -> uuid.UUID | None:
    """The driver a document is attached to as one of their documents, if it is."""
    if document.entity_type != DocumentEntityType.DRIVER.value:
        return None
    return session.scalar(select(DriverDocument.driver_id).where(
        DriverDocument.driver_id == document.entity_id,
        DriverDocument.document_id == document.id))


def verify_any_document(session: Session, actor: Actor, document_id: uuid.UUID, *,
                        if_match: str | None = None) -> Document:
    """Verify a document; one attached to its driver goes through
    :func:`verify_driver_document` (its rules, and its link gets the decision too)."""
    document = documents_service.get_document(session, actor, document_id)
    driver = _attached_driver(session, document)
    if driver is not None:
        return verify_driver_document(session, actor, driver, document_id, if_match=if_match)[1]
    return documents_service.verify_document(session, actor, document_id, if_match=if_match)


def reject_any_document(session: Session, actor: Actor, document_id: uuid.UUID, *, reason: str,
                        if_match: str | None = None) -> Document:
    """Reject a document, and its driver's link when it is attached (as
    :func:`verify_any_document`)."""
    document = documents_service.get_document(session, actor, document_id)
    driver = _attached_driver(session, document)
    if driver is not None:
        return reject_driver_document(session, actor, driver, document_id, reason=reason,
                                      if_match=if_match)[1]
    return documents_service.reject_document(session, actor, document_id, reason=reason,
                                             if_match=if_match)
