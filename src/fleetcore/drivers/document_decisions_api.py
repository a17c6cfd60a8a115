"""``POST /v1/documents/{document_id}/verify`` and ``/reject``: deciding a document.

A driver's attached document is decided with its link, one decision recorded on both records
(:mod:`fleetcore.drivers.verification_service`). The documents domain sits below the drivers'
(driver compliance reads documents), so these two operations of the documents resource are
declared here, above both, instead of in ``documents.api`` (decision 0023).
"""

from __future__ import annotations

from fastapi import APIRouter

from fleetcore.core.resource import ResourceRoutes
from fleetcore.documents.permissions import DocumentsRead, DocumentsWrite
from fleetcore.documents.schemas import DocumentOut, DocumentRejection
from fleetcore.drivers import verification_service

router = APIRouter(prefix="/v1")

_documents = ResourceRoutes(router, "documents", "document_id", "document", ["documents"],
                            DocumentOut, DocumentOut.model_validate, DocumentsRead,
                            DocumentsWrite)
_documents.action("verify", "Mark a document as checked and authentic", None,
                  verification_service.verify_any_document)
_documents.action("reject", "Reject a document, with why", DocumentRejection,
                  lambda s, a, i, data, if_match: verification_service.reject_any_document(
                      s, a, i, reason=data.reason, if_match=if_match))

__all__ = ["router"]
