"""Document tables (``doc_``): uploaded files attached to any tenant entity, with expiry and
verification."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CHAR, BigInteger, CheckConstraint, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    enum_check,
    sha256_check,
)


class DocumentEntityType(StrEnum):
    VEHICLE = "vehicle"
    DRIVER = "driver"
    MEMBER = "member"
    CONTRACT = "contract"
    INSURANCE = "insurance"
    MAINTENANCE = "maintenance"
    EXPENSE = "expense"
    FINE = "fine"
    INVOICE = "invoice"
    TENANT = "tenant"


class DocumentType(StrEnum):
    DRIVER_LICENCE = "driver_licence"
    PROFESSIONAL_CARD = "professional_card"
    ID_CARD = "id_card"
    REGISTRATION = "registration"
    INSURANCE_CERTIFICATE = "insurance_certificate"
    INSPECTION_REPORT = "inspection_report"
    CONTRACT = "contract"
    RECEIPT = "receipt"
    INVOICE = "invoice"
    OTHER = "other"


class StorageBackend(StrEnum):
    LOCAL = "local"
    SUPABASE = "supabase"


class Document(Base, TenantOwned, Timestamped, SoftDeletable, Versioned):
    """One stored file about one entity, the source of truth for its expiry and its file."""

    __tablename__ = "doc_documents"

    # Polymorphic owner: the target table follows from entity_type, so there is no FK.
    entity_type: Mapped[str]
    entity_id: Mapped[uuid.UUID]
    document_type: Mapped[str]
    # The number printed on the document (licence, card, policy, registration number).
    document_number: Mapped[str | None]
    file_name: Mapped[str]
    storage_backend: Mapped[str]
    # Where the backend keeps the bytes; URLs are signed on demand, never stored.
    storage_key: Mapped[str]
    mime_type: Mapped[str]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(CHAR(64))
    issued_on: Mapped[date | None]
    expires_on: Mapped[date | None]
    notes: Mapped[str | None]
    verified: Mapped[bool] = mapped_column(server_default=text("false"))
    verified_by: Mapped[uuid.UUID | None]
    verified_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None]
    rejected_by: Mapped[uuid.UUID | None]
    rejected_at: Mapped[datetime | None]

    __table_args__ = (
        enum_check("entity_type", DocumentEntityType),
        enum_check("document_type", DocumentType),
        enum_check("storage_backend", StorageBackend),
        sha256_check("sha256"),
        CheckConstraint("size_bytes >= 0", name="size_bytes_non_negative"),
        CheckConstraint("length(file_name) BETWEEN 1 AND 255", name="file_name_length"),
        CheckConstraint("mime_type ~ '^[a-z0-9.+-]+/[a-z0-9.+-]+$'", name="mime_type_shape"),
        CheckConstraint("expires_on >= issued_on", name="expires_after_issued"),
        CheckConstraint("verified = (verified_at IS NOT NULL)", name="verified_has_verified_at"),
        # A rejection always says why; a document is never verified and rejected at once.
        CheckConstraint(
            "(rejected_at IS NULL) = (rejection_reason IS NULL)", name="rejected_has_reason"
        ),
        CheckConstraint("NOT (verified AND rejected_at IS NOT NULL)", name="verified_or_rejected"),
        Index("ix_doc_documents_tenant_id_entity", "tenant_id", "entity_type", "entity_id"),
        Index("ix_doc_documents_tenant_id_expires_on", "tenant_id", "expires_on"),
    )
