"""Request and response models of the documents API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetcore.documents.models import DocumentEntityType, DocumentType

DocumentNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class DocumentStatus(StrEnum):
    """Where a document stands in verification."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


def _dates_in_order(issued_on: date | None, expires_on: date | None) -> None:
    if issued_on is not None and expires_on is not None and expires_on < issued_on:
        raise ValueError("expires_on must not be before issued_on")


class DocumentUpload(BaseModel):
    """The form fields sent beside the file of ``POST /v1/documents``."""

    model_config = ConfigDict(extra="forbid")

    entity_type: DocumentEntityType
    entity_id: uuid.UUID
    document_type: DocumentType
    document_number: DocumentNumber | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    notes: Notes | None = None

    @model_validator(mode="after")
    def _check_dates(self) -> DocumentUpload:
        _dates_in_order(self.issued_on, self.expires_on)
        return self


class DocumentUpdate(BaseModel):
    """A change of a document's metadata (the file itself never changes: upload a new one)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"expires_on": "2027-06-30", "notes": "Renewed"}]},
    )

    document_type: DocumentType | None = None
    document_number: DocumentNumber | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    notes: Notes | None = None


class DocumentRejection(BaseModel):
    """Why a document is refused (shown to whoever uploads its replacement)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "The scan is unreadable."}]},
    )

    reason: Reason


class DocumentOut(BaseModel):
    """A document's metadata (the file is downloaded through a signed link)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000007", "entity_type": "driver",
        "entity_id": "0195f3c2-7a10-7000-8000-000000000002", "document_type": "driver_licence",
        "document_number": "120475200123", "file_name": "permis-karim-benali.pdf",
        "mime_type": "application/pdf", "size_bytes": 284133,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "issued_on": "2010-06-01", "expires_on": "2033-06-01", "notes": None, "status": "verified",
        "verified": True, "verified_by": "0195f3c2-7a10-7000-8000-000000000003",
        "verified_at": "2026-11-25T09:30:00Z", "rejection_reason": None, "rejected_by": None,
        "rejected_at": None, "created_at": "2026-11-25T09:30:00Z",
        "updated_at": "2026-11-25T10:15:00Z", "created_by": "0195f3c2-7a10-7000-8000-000000000003",
        "deleted_at": None, "deletion_reason": None, "version": 2,
    }]})

    id: uuid.UUID
    entity_type: DocumentEntityType
    entity_id: uuid.UUID
    document_type: DocumentType
    document_number: str | None
    file_name: str
    mime_type: str = Field(examples=["application/pdf"])
    size_bytes: int
    sha256: str = Field(description="Hex SHA-256 of the file's bytes.")
    issued_on: date | None
    expires_on: date | None
    notes: str | None
    status: DocumentStatus
    verified: bool
    verified_by: uuid.UUID | None
    verified_at: datetime | None
    rejection_reason: str | None
    rejected_by: uuid.UUID | None
    rejected_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None
    deleted_at: datetime | None
    deletion_reason: str | None
    version: int

    @model_validator(mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        status = (
            DocumentStatus.VERIFIED if value.verified
            else DocumentStatus.REJECTED if value.rejected_at is not None
            else DocumentStatus.PENDING
        )
        return {name: getattr(value, name) for name in cls.model_fields if name != "status"} | {
            "status": status
        }


class DownloadLinkOut(BaseModel):
    """A short-lived URL that serves the file to whoever holds it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "https://api.fleetcore.dev/files/eyJkIjoiMDE5NWYzYzIifQ.c2lnbmF0dXJl",
        "expires_at": "2026-11-25T09:35:00Z",
    }]})

    url: str = Field(examples=["/files/eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiI…"])
    expires_at: datetime


__all__ = [
    "DocumentOut",
    "DocumentRejection",
    "DocumentStatus",
    "DocumentUpdate",
    "DocumentUpload",
    "DownloadLinkOut",
]
