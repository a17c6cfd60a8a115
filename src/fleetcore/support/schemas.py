"""Request and response models of support tickets, their messages and customer feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetcore.support.models import (
    FeedbackKind,
    MessageSenderType,
    SupportUserType,
    TicketPriority,
    TicketStatus,
)

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TicketCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "subject": "My payout of last week is missing",
        "description": "The statement shows 412.50 EUR but nothing arrived.",
        "category": "payouts", "priority": "high",
    }]})

    subject: Subject
    description: Body | None = None
    category: Category | None = None
    priority: TicketPriority = TicketPriority.NORMAL
    attachment_document_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=10,
        description="Documents of this fleet (uploaded with POST /v1/documents) to attach.")


class TicketUpdate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "resolved"}, {"priority": "urgent", "assignee_id": None}]})

    subject: Subject | None = None
    category: Category | None = None
    priority: TicketPriority | None = Field(
        default=None, description="Changing it moves the SLA due times (from the creation).")
    status: TicketStatus | None = Field(
        default=None, description="Any state to any other; resolved and closed set "
        "resolved_at / closed_at, reopening clears them.")
    assignee_id: uuid.UUID | None = Field(
        default=None, description="A Fleetcore staff member (staff only).")


class TicketOut(Model):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000301", "subject": "Payout missing",
        "description": None, "category": "payouts", "status": "open", "priority": "high",
        "reporter_type": "driver", "reporter_id": "0195f3c2-7a10-7000-8000-000000000021",
        "assignee_id": None, "external_system": "chatwoot", "external_id": "10",
        "first_response_due_at": "2026-12-07T14:00:00Z", "first_response_at": None,
        "sla_due_at": "2026-12-08T10:00:00Z", "resolved_at": None, "closed_at": None,
        "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z",
        "version": 1,
    }]})

    id: uuid.UUID
    subject: str
    description: str | None
    category: str | None
    status: TicketStatus
    priority: TicketPriority
    reporter_type: SupportUserType | None
    reporter_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    external_system: str | None
    external_id: str | None
    first_response_due_at: datetime | None
    first_response_at: datetime | None
    sla_due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class MessageCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"body": "We have re-sent it; it should arrive tomorrow."},
        {"body": "Checked with finance: batch 2026-48 failed.", "is_internal_note": True}]})

    body: Body
    is_internal_note: bool = Field(
        default=False, description="A note between Fleetcore staff (staff only): never shown "
        "to the fleet or its drivers.")
    attachment_document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10)


class MessageOut(Model):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000311",
        "ticket_id": "0195f3c2-7a10-7000-8000-000000000301",
        "sender_type": "provider_employee",
        "sender_id": "0195f3c2-7a10-7000-8000-000000000002",
        "body": "We have re-sent it; it should arrive tomorrow.", "attachments": [],
        "is_internal_note": False, "external_system": "chatwoot", "external_id": "118",
        "sent_at": "2026-12-07T10:30:00Z",
    }]})

    id: uuid.UUID
    ticket_id: uuid.UUID
    sender_type: MessageSenderType
    sender_id: uuid.UUID | None
    body: str
    attachments: list[dict[str, Any]]
    is_internal_note: bool
    external_system: str | None
    external_id: str | None
    sent_at: datetime


class FeedbackCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "csat", "rating": 5, "comment": "Quick and clear."},
        {"kind": "nps", "rating": 9}]})

    kind: FeedbackKind = FeedbackKind.CSAT
    rating: int = Field(ge=0, le=10, description="CSAT 1 to 5, NPS 0 to 10.")
    comment: Comment | None = None

    @model_validator(mode="after")
    def _rating_of_kind(self) -> FeedbackCreate:
        if self.kind is FeedbackKind.CSAT and not 1 <= self.rating <= 5:
            raise ValueError("a CSAT rating is 1 to 5")
        return self


class FeedbackOut(Model):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000321",
        "ticket_id": "0195f3c2-7a10-7000-8000-000000000301", "kind": "csat", "rating": 5,
        "comment": "Quick and clear.", "submitted_by_type": "driver",
        "submitted_by_id": "0195f3c2-7a10-7000-8000-000000000021",
        "created_at": "2026-12-08T09:00:00Z",
    }]})

    id: uuid.UUID
    ticket_id: uuid.UUID | None
    kind: FeedbackKind
    rating: int
    comment: str | None
    submitted_by_type: SupportUserType
    submitted_by_id: uuid.UUID
    created_at: datetime
