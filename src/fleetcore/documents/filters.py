"""The filter and sort spec of the document list, shared by the API and the console."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select

from fleetcore.core.pagination import equal_filters
from fleetcore.documents.models import Document


class DocumentSort(StrEnum):
    """List order: oldest upload first (``created``) or newest first (``-created``)."""

    CREATED = "created"
    NEWEST = "-created"


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    """What a document list is narrowed to; ``None`` means no restriction."""

    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    document_type: str | None = None
    verified: bool | None = None
    rejected: bool | None = None
    expired: bool | None = None
    expiring_before: date | None = None
    expiring_within_days: int | None = None
    include_deleted: bool = False
    sort: DocumentSort = DocumentSort.CREATED


def apply_document_filter(
    statement: Select[Any], spec: DocumentFilter, *, today: date
) -> Select[Any]:
    """``statement`` narrowed to ``spec``; ``today`` is the tenant's calendar day.

    ``expired`` is ``expires_on < today``; ``expiring_within_days=N`` keeps documents still valid
    today that expire within N days (``today <= expires_on <= today + N``), the reminder window.
    """
    statement = equal_filters(statement, {
        Document.entity_type: spec.entity_type,
        Document.entity_id: spec.entity_id,
        Document.document_type: spec.document_type,
        Document.verified: spec.verified,
    })
    if not spec.include_deleted:
        statement = statement.where(Document.deleted_at.is_(None))
    if spec.rejected is not None:
        statement = statement.where(
            Document.rejected_at.is_not(None) if spec.rejected else Document.rejected_at.is_(None)
        )
    if spec.expired is True:
        statement = statement.where(Document.expires_on < today)
    elif spec.expired is False:
        statement = statement.where(
            Document.expires_on.is_(None) | (Document.expires_on >= today)
        )
    if spec.expiring_before is not None:
        statement = statement.where(Document.expires_on < spec.expiring_before)
    if spec.expiring_within_days is not None:
        statement = statement.where(
            Document.expires_on >= today,
            Document.expires_on <= today + timedelta(days=spec.expiring_within_days),
        )
    return statement


__all__ = ["DocumentFilter", "DocumentSort", "apply_document_filter"]
