"""Support tables (``sup_``): tickets and their messages, mirrored both ways with Chatwoot or
FreeScout, and customer feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetcore.core.orm import (
    Base,
    GlobalRow,
    JsonList,
    SoftDeletable,
    TenantOwned,
    Timestamped,
    Versioned,
    WithMetadata,
    enum_check,
    tenant_fk,
)


class SupportUserType(StrEnum):
    """Who, on the tenant's side, reports a ticket or leaves feedback."""

    MEMBER = "member"
    DRIVER = "driver"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class ExternalSupportSystem(StrEnum):
    CHATWOOT = "chatwoot"
    FREESCOUT = "freescout"


class MessageSenderType(StrEnum):
    MEMBER = "member"
    DRIVER = "driver"
    PROVIDER_EMPLOYEE = "provider_employee"
    SYSTEM = "system"


class Ticket(Base, TenantOwned, Timestamped, SoftDeletable, Versioned, WithMetadata):
    """A support request from a tenant's member or driver, optionally mirrored to a help desk."""

    __tablename__ = "sup_tickets"

    # NULL when a conversation opened in the help desk matches no member or driver (yet).
    reporter_type: Mapped[str | None]
    reporter_id: Mapped[uuid.UUID | None]
    subject: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=TicketStatus.OPEN.value)
    priority: Mapped[str] = mapped_column(server_default=TicketPriority.NORMAL.value)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("adm_provider_employees.id"))
    external_system: Mapped[str | None]
    # The help desk's conversation id (text: Chatwoot and FreeScout ids differ in shape).
    external_id: Mapped[str | None]
    # Resolution due (``sla_due_at``) and first-response due, set from the priority's SLA when
    # the ticket opens (``support.service``); ``first_response_at``: the first staff reply.
    sla_due_at: Mapped[datetime | None]
    first_response_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        enum_check("reporter_type", SupportUserType),
        enum_check("status", TicketStatus),
        enum_check("priority", TicketPriority),
        enum_check("external_system", ExternalSupportSystem),
        UniqueConstraint("tenant_id", "external_system", "external_id"),
        CheckConstraint(
            "(reporter_type IS NULL) = (reporter_id IS NULL)", name="reporter_type_with_id"
        ),
        CheckConstraint(
            "(external_system IS NULL) = (external_id IS NULL)", name="external_system_with_id"
        ),
        CheckConstraint(
            "status <> 'resolved' OR resolved_at IS NOT NULL",
            name="resolved_has_resolved_at",
        ),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed_has_closed_at"),
        Index("ix_sup_tickets_tenant_id_status_sla_due_at", "tenant_id", "status", "sla_due_at"),
        Index("ix_sup_tickets_tenant_id_reporter_id", "tenant_id", "reporter_id"),
        Index("ix_sup_tickets_tenant_id_assignee_id", "tenant_id", "assignee_id"),
        # Webhooks find a conversation's ticket before they know its tenant.
        Index("ix_sup_tickets_external_system_external_id", "external_system", "external_id"),
    )


class TicketMessage(Base, TenantOwned, Timestamped, WithMetadata):
    """One message or internal note on a ticket, stored once however often a webhook repeats it."""

    __tablename__ = "sup_ticket_messages"

    ticket_id: Mapped[uuid.UUID]
    sender_type: Mapped[str]
    # NULL for system messages and for help-desk agents not mapped to a provider employee.
    sender_id: Mapped[uuid.UUID | None]
    body: Mapped[str]
    # [{"file_name", "mime_type", "size_bytes", "url" or "document_id"}, ...]
    attachments: Mapped[JsonList]
    is_internal_note: Mapped[bool] = mapped_column(server_default=text("false"))
    external_system: Mapped[str | None]
    external_id: Mapped[str | None]
    sent_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        tenant_fk("ticket_id", "sup_tickets", ondelete="CASCADE"),
        enum_check("sender_type", MessageSenderType),
        enum_check("external_system", ExternalSupportSystem),
        UniqueConstraint("tenant_id", "external_system", "external_id"),
        CheckConstraint(
            "(external_system IS NULL) = (external_id IS NULL)", name="external_system_with_id"
        ),
        CheckConstraint("jsonb_typeof(attachments) = 'array'", name="attachments_is_list"),
        CheckConstraint(
            "sender_type NOT IN ('member', 'driver') OR sender_id IS NOT NULL",
            name="customer_sender_has_id",
        ),
        Index(
            "ix_sup_ticket_messages_tenant_id_ticket_id_sent_at",
            "tenant_id",
            "ticket_id",
            "sent_at",
        ),
    )


class FeedbackKind(StrEnum):
    """CSAT: satisfaction 1 to 5; NPS: likelihood to recommend, 0 to 10."""

    CSAT = "csat"
    NPS = "nps"


class CustomerFeedback(Base, TenantOwned, Timestamped):
    """A rating and comment from a member or driver, about a ticket or the service: CSAT
    (1 to 5) or NPS (0 to 10); at most one of each kind per ticket."""

    __tablename__ = "sup_customer_feedback"

    kind: Mapped[str] = mapped_column(server_default=FeedbackKind.CSAT.value)
    submitted_by_type: Mapped[str]
    submitted_by_id: Mapped[uuid.UUID]
    ticket_id: Mapped[uuid.UUID | None]
    rating: Mapped[int]
    comment: Mapped[str | None]
    category: Mapped[str | None]

    __table_args__ = (
        tenant_fk("ticket_id", "sup_tickets"),
        enum_check("submitted_by_type", SupportUserType),
        enum_check("kind", FeedbackKind),
        CheckConstraint(
            "(kind = 'csat' AND rating BETWEEN 1 AND 5)"
            " OR (kind = 'nps' AND rating BETWEEN 0 AND 10)",
            name="rating_range_by_kind",
        ),
        Index("ix_sup_customer_feedback_tenant_id_ticket_id", "tenant_id", "ticket_id"),
        Index("uq_sup_customer_feedback_tenant_id_ticket_id_kind", "tenant_id", "ticket_id",
              "kind", unique=True, postgresql_where=text("ticket_id IS NOT NULL")),
        Index("ix_sup_customer_feedback_tenant_id_created_at", "tenant_id", "created_at"),
    )


class UnroutedConversation(Base, GlobalRow, Timestamped):
    """A help-desk conversation whose contact is no member or driver of any one tenant: it stays
    with Fleetcore's staff (provider-only), its messages kept in order."""

    __tablename__ = "sup_unrouted_conversations"

    external_system: Mapped[str]
    external_id: Mapped[str]
    contact_email: Mapped[str | None]
    contact_name: Mapped[str | None]
    subject: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=TicketStatus.OPEN.value)
    # [{"external_id", "body", "sender", "sent_at", "is_internal_note"}, ...]
    messages: Mapped[JsonList]

    __table_args__ = (
        enum_check("external_system", ExternalSupportSystem),
        enum_check("status", TicketStatus),
        UniqueConstraint("external_system", "external_id"),
        CheckConstraint("jsonb_typeof(messages) = 'array'", name="messages_is_list"),
        Index("ix_sup_unrouted_conversations_updated_at", "updated_at"),
    )
